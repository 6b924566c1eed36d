package rabbitmq

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// testPKI is a CA with a server and a client certificate, written as PEM
// files into a temp dir.
type testPKI struct {
	caFile, certFile, keyFile string // client cert and key
	serverCert                tls.Certificate
	caPool                    *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bb test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(crand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(crand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	pki := &testPKI{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "client.pem"),
		keyFile:  filepath.Join(dir, "client-key.pem"),
		caPool:   x509.NewCertPool(),
	}
	pki.caPool.AddCert(ca)
	writePEM(t, pki.caFile, "CERTIFICATE", caDER)
	clientDER, clientKey := issue("bb-client", x509.ExtKeyUsageClientAuth, nil)
	writePEM(t, pki.certFile, "CERTIFICATE", clientDER)
	keyDER, _ := x509.MarshalECPrivateKey(clientKey)
	writePEM(t, pki.keyFile, "EC PRIVATE KEY", keyDER)
	serverDER, serverKey := issue("localhost", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	pki.serverCert = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	return pki
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLSMutual dials an amqps URL at a TLS listener that requires a client
// certificate from the test CA: the handshake must verify the server with
// TLS.CAFile and present TLS.CertFile. The listener speaks no AMQP, so New
// then fails, but not before the server has seen the client certificate.
func TestTLSMutual(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pki.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.caPool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	peer := make(chan string, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			peer <- "accept: " + err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- "handshake: " + err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()

	cfg := Config{}.Default()
	cfg.URL = "amqps://bob:hunter2@" + l.Addr().String() + "/"
	cfg.TLS = adapters.TLS{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}
	cfg.DialTimeout = 5 * time.Second
	_, err = New(t.Context(), cfg)
	if err == nil {
		t.Fatal("New against a non-AMQP TLS server succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
	if got := <-peer; got != "bb-client" {
		t.Fatalf("server saw %q, want the client certificate bb-client", got)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"missing CA file", func(c *Config) { c.TLS.CAFile = filepath.Join(dir, "none.pem") }},
		{"CA file without PEM", func(c *Config) { c.TLS.CAFile = notPEM }},
		{"bad key pair", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = notPEM, notPEM }},
		{"TLS settings with amqp://", func(c *Config) { c.URL, c.TLS.InsecureSkipVerify = "amqp://127.0.0.1:1/", true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.Default()
			c.URL = "amqps://127.0.0.1:1/"
			tc.mutate(&c)
			if _, err := New(t.Context(), c); !errors.Is(err, adapters.ErrInvalidConfig) {
				t.Errorf("New: %v, want adapters.ErrInvalidConfig", err)
			}
		})
	}
}

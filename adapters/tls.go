package adapters

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// TLS is the TLS setting of every adapter, read from the same
// BROKERBENCH_<SYSTEM>_TLS_* variables for every system ([TLS.Settings]).
// TLS is on when Enabled is set or any other field is (a CA file, a client
// certificate, a server name or InsecureSkipVerify implies it).
type TLS struct {
	// Enabled turns TLS on with the system's root CAs.
	Enabled bool
	// CAFile is a PEM file of CAs to trust instead of the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for
	// mutual TLS; set both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name verified in the server's
	// certificate; default is the host of the address being dialed.
	ServerName string
	// InsecureSkipVerify disables certificate verification (test rigs
	// only: it makes the connection open to interception).
	InsecureSkipVerify bool
}

// On reports whether TLS is on.
func (t TLS) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// Validate reads the files and reports the first unusable setting.
func (t TLS) Validate() error {
	_, err := t.Build()
	return err
}

// Build returns the client *tls.Config (TLS 1.2 or newer), or nil when TLS
// is off. Errors wrap [ErrInvalidConfig] and name the field at fault.
func (t TLS) Build() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as test rigs only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS.CAFile: %v", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS.CAFile %s holds no PEM certificate", ErrInvalidConfig, t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("%w: TLS.CertFile and TLS.KeyFile must be set together for mutual TLS", ErrInvalidConfig)
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS client certificate %s / key %s: %v", ErrInvalidConfig, t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Settings binds t to the variables TLS, TLS_CA_FILE, TLS_CERT_FILE,
// TLS_KEY_FILE, TLS_SERVER_NAME and TLS_INSECURE_SKIP_VERIFY after a
// system's prefix. TLS_SKIP_VERIFY, the former name of the last one on some
// systems, is refused with a message naming the new one.
func (t *TLS) Settings() []Setting {
	return []Setting{
		BoolSetting("TLS", "TLS.Enabled", &t.Enabled, "TLS with the system roots; implied by any TLS_* below"),
		StringSetting("TLS_CA_FILE", "TLS.CAFile", &t.CAFile, "PEM CAs to trust instead of the system roots"),
		StringSetting("TLS_CERT_FILE", "TLS.CertFile", &t.CertFile, "PEM client certificate (mutual TLS), with TLS_KEY_FILE"),
		StringSetting("TLS_KEY_FILE", "TLS.KeyFile", &t.KeyFile, "PEM client key"),
		StringSetting("TLS_SERVER_NAME", "TLS.ServerName", &t.ServerName, "name verified in the server certificate; default the dialed host"),
		BoolSetting("TLS_INSECURE_SKIP_VERIFY", "TLS.InsecureSkipVerify", &t.InsecureSkipVerify, "no certificate verification: test rigs only"),
		RenamedSetting("TLS_SKIP_VERIFY", "TLS_INSECURE_SKIP_VERIFY"),
	}
}

// Dial opens a network connection, as net.Dialer.DialContext does.
type Dial = func(ctx context.Context, network, addr string) (net.Conn, error)

// DialTLS layers TLS with cfg over dial's connections; dial itself when cfg
// is nil. Without cfg.ServerName, each connection verifies the host of
// the address it dials. The handshake is bounded by ctx.
func DialTLS(dial Dial, cfg *tls.Config) Dial {
	if cfg == nil {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				c.ServerName = host
			} else {
				c.ServerName = addr
			}
		}
		conn := tls.Client(raw, c)
		if err := conn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		return conn, nil
	}
}

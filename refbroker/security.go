package refbroker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Listener security protocols, named as Kafka's listener.security.protocol.map
// names them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// Security configures the listener's encryption, authentication and
// authorization. The zero value is a PLAINTEXT listener without ACLs:
// every client is User:ANONYMOUS and may do everything, as before.
// docs/refbroker.md ("Security") describes the file formats.
type Security struct {
	// Protocol is PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.
	Protocol string
	// TLSCertFile and TLSKeyFile are the server's PEM certificate (chain)
	// and private key; required for SSL and SASL_SSL, refused otherwise.
	TLSCertFile, TLSKeyFile string
	// TLSClientCAFile, when set, makes the listener require a client
	// certificate signed by one of these PEM CAs (Kafka
	// ssl.client.auth=required). On SSL the principal is then
	// User:<subject DN>.
	TLSClientCAFile string
	// UsersFile lists the SASL users and their credentials; required for
	// SASL_PLAINTEXT and SASL_SSL, refused otherwise.
	UsersFile string
	// ACLFile, when set, turns authorization on: a principal may do only
	// what a line of the file allows. Unset, everything is allowed.
	ACLFile string
}

// saslOn reports whether the listener requires SASL authentication.
func (s Security) saslOn() bool {
	return s.Protocol == ProtocolSASLPlaintext || s.Protocol == ProtocolSASLSSL
}

// tlsOn reports whether the listener speaks TLS.
func (s Security) tlsOn() bool { return s.Protocol == ProtocolSSL || s.Protocol == ProtocolSASLSSL }

// validate checks the combination of settings (not the files' contents,
// which Start reads). Every message names the setting and its
// refbroker flag, since both the library and the command line use it.
func (s Security) validate() error {
	switch s.Protocol {
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
	default:
		return fmt.Errorf("Security.Protocol (--security-protocol) %q: want %s, %s, %s or %s", s.Protocol,
			ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL)
	}
	switch {
	case s.tlsOn() && (s.TLSCertFile == "" || s.TLSKeyFile == ""):
		return fmt.Errorf("security protocol %s needs Security.TLSCertFile and TLSKeyFile (--tls-cert and --tls-key)", s.Protocol)
	case !s.tlsOn() && (s.TLSCertFile != "" || s.TLSKeyFile != "" || s.TLSClientCAFile != ""):
		return fmt.Errorf("TLS files (--tls-cert, --tls-key, --tls-client-ca) are set but the security protocol (--security-protocol) is %s; use %s or %s", s.Protocol, ProtocolSSL, ProtocolSASLSSL)
	case s.saslOn() && s.UsersFile == "":
		return fmt.Errorf("security protocol %s needs Security.UsersFile (--sasl-users)", s.Protocol)
	case !s.saslOn() && s.UsersFile != "":
		return fmt.Errorf("a SASL users file (--sasl-users) is set but the security protocol (--security-protocol) is %s; use %s or %s", s.Protocol, ProtocolSASLPlaintext, ProtocolSASLSSL)
	}
	return nil
}

// security is the loaded form of Security, shared read-only by every
// connection.
type security struct {
	cfg   Security
	tls   *tls.Config // nil without TLS
	users *users      // nil without SASL
	acls  *acls       // nil: everything is allowed
}

// loadSecurity reads the files cfg names. Errors name the file (and line)
// at fault and never quote a credential.
func loadSecurity(cfg Security, log *slog.Logger) (*security, error) {
	s := &security{cfg: cfg}
	if cfg.tlsOn() {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if cfg.TLSClientCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("read TLS client CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("TLS client CA file %s holds no PEM certificate", cfg.TLSClientCAFile)
			}
			s.tls.ClientCAs, s.tls.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	}
	if cfg.saslOn() {
		u, err := loadUsers(cfg.UsersFile)
		if err != nil {
			return nil, err
		}
		s.users = u
	}
	if cfg.ACLFile != "" {
		a, err := loadACLs(cfg.ACLFile)
		if err != nil {
			return nil, err
		}
		s.acls = a
	}
	mechs := "none"
	if s.users != nil {
		mechs = strings.Join(s.users.mechanisms(), ",")
	}
	log.Info("refbroker: listener security", "protocol", cfg.Protocol, "client_cert_required", cfg.TLSClientCAFile != "",
		"sasl_mechanisms", mechs, "acls", s.acls != nil)
	return s, nil
}

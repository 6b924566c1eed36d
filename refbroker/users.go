package refbroker

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/xdg-go/scram"
)

// SASL mechanisms refbroker serves, as Kafka names them.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations and
// maxIterations), used for credentials derived at load and checked on
// stored ones.
const (
	minScramIterations = 4096
	maxScramIterations = 16384
)

// scramHash is the hash behind each SCRAM mechanism.
var scramHash = map[string]scram.HashGeneratorFcn{
	MechanismScramSHA256: scram.SHA256,
	MechanismScramSHA512: scram.SHA512,
}

// users holds the SASL credentials of the users file. Read-only after
// loading.
type users struct {
	plain map[string]string                             // user => password
	scram map[string]map[string]scram.StoredCredentials // mechanism => user => credentials
}

// mechanisms lists the mechanisms at least one user can authenticate
// with, in a fixed order: what SaslHandshake advertises.
func (u *users) mechanisms() []string {
	var out []string
	if len(u.plain) > 0 {
		out = append(out, MechanismPlain)
	}
	for _, m := range []string{MechanismScramSHA256, MechanismScramSHA512} {
		if len(u.scram[m]) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// checkPlain reports whether user's PLAIN password is pass, in time that
// does not depend on where the two differ.
func (u *users) checkPlain(user, pass string) bool {
	want, ok := u.plain[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

// loadUsers reads a users file: one credential a line,
//
//	<user> <mechanism> <credential>
//
// where mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 and credential
// is either password=<password> (the rest of the line, verbatim; for
// SCRAM optionally preceded by iterations=<n>,) or, for SCRAM, Kafka's
// stored form salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>.
// Blank lines and lines starting with # are skipped. Errors name the file
// and line, never the credential.
func loadUsers(path string) (*users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read SASL users file: %w", err)
	}
	defer f.Close()
	u := &users{plain: map[string]string{}, scram: map[string]map[string]scram.StoredCredentials{}}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if t := strings.TrimSpace(text); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if err := u.addLine(text); err != nil {
			return nil, fmt.Errorf("SASL users file %s line %d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read SASL users file %s: %w", path, err)
	}
	if len(u.mechanisms()) == 0 {
		return nil, fmt.Errorf("SASL users file %s defines no user", path)
	}
	return u, nil
}

// addLine parses one non-comment line of the users file.
func (u *users) addLine(text string) error {
	user, rest, _ := strings.Cut(strings.TrimLeft(text, " \t"), " ")
	mech, cred, _ := strings.Cut(strings.TrimLeft(rest, " \t"), " ")
	cred = strings.TrimLeft(cred, " \t")
	if user == "" || mech == "" || cred == "" {
		return errors.New("want <user> <mechanism> <credential>")
	}
	switch mech {
	case MechanismPlain:
		pass, ok := strings.CutPrefix(cred, "password=")
		if !ok || pass == "" {
			return errors.New("a PLAIN credential is password=<password>")
		}
		if _, dup := u.plain[user]; dup {
			return fmt.Errorf("user %q has a second PLAIN credential", user)
		}
		u.plain[user] = pass
		return nil
	case MechanismScramSHA256, MechanismScramSHA512:
		c, err := parseScramCredential(mech, user, cred)
		if err != nil {
			return fmt.Errorf("%s credential of user %q: %w", mech, user, err)
		}
		if u.scram[mech] == nil {
			u.scram[mech] = map[string]scram.StoredCredentials{}
		}
		if _, dup := u.scram[mech][user]; dup {
			return fmt.Errorf("user %q has a second %s credential", user, mech)
		}
		u.scram[mech][user] = c
		return nil
	}
	return fmt.Errorf("mechanism %q: want %s, %s or %s", mech, MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)
}

// parseScramCredential reads [iterations=<n>,]password=<p> (derived now
// with a random salt, as Kafka's kafka-configs does) or the stored form.
func parseScramCredential(mech, user, cred string) (scram.StoredCredentials, error) {
	iters := minScramIterations
	fields := map[string]string{}
	for cred != "" {
		if pass, ok := strings.CutPrefix(cred, "password="); ok {
			if pass == "" {
				return scram.StoredCredentials{}, errors.New("empty password")
			}
			fields["password"] = pass
			break
		}
		var kv string
		kv, cred, _ = strings.Cut(cred, ",")
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return scram.StoredCredentials{}, fmt.Errorf("field %q is not key=value", k)
		}
		if _, dup := fields[k]; dup {
			return scram.StoredCredentials{}, fmt.Errorf("field %s given twice", k)
		}
		fields[k] = v
	}
	if v, ok := fields["iterations"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < minScramIterations || n > maxScramIterations {
			return scram.StoredCredentials{}, fmt.Errorf("iterations=%s: want %d..%d", v, minScramIterations, maxScramIterations)
		}
		iters = n
	}
	if pass, ok := fields["password"]; ok {
		if len(fields) > 2 || (len(fields) == 2 && fields["iterations"] == "") {
			return scram.StoredCredentials{}, errors.New("with password=, only iterations= may come first")
		}
		return deriveScram(mech, user, pass, iters)
	}
	for k := range fields {
		if !slices.Contains([]string{"salt", "stored_key", "server_key", "iterations"}, k) {
			return scram.StoredCredentials{}, fmt.Errorf("unknown field %q (want password= or salt=,stored_key=,server_key=,iterations=)", k)
		}
	}
	var dec [3][]byte
	for i, k := range []string{"salt", "stored_key", "server_key"} {
		b, err := base64.StdEncoding.DecodeString(fields[k])
		if err != nil || len(b) == 0 {
			return scram.StoredCredentials{}, fmt.Errorf("%s: want non-empty base64", k)
		}
		dec[i] = b
	}
	if fields["iterations"] == "" {
		return scram.StoredCredentials{}, errors.New("the stored form needs iterations=")
	}
	size := sha256.Size
	if mech == MechanismScramSHA512 {
		size = sha512.Size
	}
	if len(dec[1]) != size || len(dec[2]) != size {
		return scram.StoredCredentials{}, fmt.Errorf("stored_key and server_key must be %d bytes for %s", size, mech)
	}
	return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(dec[0]), Iters: iters}, StoredKey: dec[1], ServerKey: dec[2]}, nil
}

// deriveScram derives SCRAM credentials from a password with a fresh
// random salt.
func deriveScram(mech, user, pass string, iters int) (scram.StoredCredentials, error) {
	c, err := scramHash[mech].NewClient(user, pass, "")
	if err != nil { // SASLprep refused the user name or password
		return scram.StoredCredentials{}, fmt.Errorf("unusable user name or password: %w", err)
	}
	salt := make([]byte, 32)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	return c.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: iters}), nil
}

// ScramCredential returns the stored form of a SCRAM credential for the
// users file (salt=…,stored_key=…,server_key=…,iterations=…, Kafka's
// format), derived from password with a random salt, so that the file
// need not hold the password. mech is SCRAM-SHA-256 or SCRAM-SHA-512.
func ScramCredential(mech, user, password string, iterations int) (string, error) {
	if _, ok := scramHash[mech]; !ok {
		return "", fmt.Errorf("mechanism %q: want %s or %s", mech, MechanismScramSHA256, MechanismScramSHA512)
	}
	if iterations < minScramIterations || iterations > maxScramIterations {
		return "", fmt.Errorf("iterations %d: want %d..%d", iterations, minScramIterations, maxScramIterations)
	}
	c, err := deriveScram(mech, user, password, iterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("salt=%s,stored_key=%s,server_key=%s,iterations=%d", b64([]byte(c.Salt)), b64(c.StoredKey), b64(c.ServerKey), c.Iters), nil
}

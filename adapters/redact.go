package adapters

import (
	"net/url"
	"strings"
)

// Redacted replaces every secret in logs, errors, results and String
// output.
const Redacted = "xxxxx"

// RedactSecret returns [Redacted] for a non-empty secret and "" otherwise,
// so that a printed configuration shows whether a password is set but not
// what it is.
func RedactSecret(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

// RedactURL returns raw with its credentials replaced by [Redacted]: the
// password of user:password@, or a lone user (which several systems read
// as a token, e.g. nats://token@host). A URL that does not parse keeps
// only what follows its last '@', so credentials cannot leak through an
// error about a malformed URL either.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	// "user:pw@host" parses as scheme "user" with opaque "pw@host": an '@'
	// outside the userinfo is treated like a URL that does not parse.
	if err != nil || (u.User == nil && strings.Contains(raw, "@")) {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			scheme := ""
			if j := strings.Index(raw[:i], "://"); j >= 0 {
				scheme = raw[:j+3]
			}
			return scheme + Redacted + raw[i:]
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	if _, hasPw := u.User.Password(); hasPw {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	} else {
		u.User = url.User(Redacted)
	}
	return u.String()
}

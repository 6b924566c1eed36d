package adapters

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Setting is one BROKERBENCH_<SYSTEM>_<Key> environment variable bound to
// a field of an adapter's Config. An adapter lists its settings once, and
// that list both reads the environment ([ApplyEnv]) and documents it
// ([WriteEnvTable], generated into docs/adapters/), so the two cannot
// disagree. Build settings with [StringSetting], [SecretSetting],
// [BoolSetting], [DurationSetting], [IntSetting], [ListSetting] or
// [FuncSetting].
type Setting struct {
	// Key follows the system's prefix, e.g. "ADDR".
	Key string
	// Field names the Config field, e.g. "Addrs" or "TLS.CAFile".
	Field string
	// Doc is one line for the docs table.
	Doc string
	// set parses and applies a non-empty value; get shows the current
	// value (the default when bound to a default Config).
	set func(string) error
	get func() string
	// secret values are taken verbatim (spaces may belong to them) and
	// never shown.
	secret bool
	// renamed, when set, is the Key that replaced this one: setting it is
	// an error that says so, and the docs do not list it.
	renamed string
}

// StringSetting binds a string field; the value is trimmed of spaces.
func StringSetting(key, field string, dst *string, doc string) Setting {
	return Setting{Key: key, Field: field, Doc: doc,
		set: func(v string) error { *dst = v; return nil },
		get: func() string { return *dst }}
}

// SecretSetting binds a password or token: taken verbatim, never shown.
func SecretSetting(key, field string, dst *string, doc string) Setting {
	s := StringSetting(key, field, dst, doc)
	s.secret = true
	return s
}

// BoolSetting binds a bool field (true, false, 1, 0, ...).
func BoolSetting(key, field string, dst *bool, doc string) Setting {
	return Setting{Key: key, Field: field, Doc: doc,
		set: func(v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("is not true or false")
			}
			*dst = b
			return nil
		},
		get: func() string { return strconv.FormatBool(*dst) }}
}

// DurationSetting binds a time.Duration field (a Go duration such as 5s).
func DurationSetting(key, field string, dst *time.Duration, doc string) Setting {
	return Setting{Key: key, Field: field, Doc: doc,
		set: func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("is not a duration such as 5s")
			}
			*dst = d
			return nil
		},
		get: func() string { return dst.String() }}
}

// IntSetting binds an integer field of any width.
func IntSetting[T ~int | ~int16 | ~int32 | ~int64](key, field string, dst *T, doc string) Setting {
	return Setting{Key: key, Field: field, Doc: doc,
		set: func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || int64(T(n)) != n {
				return fmt.Errorf("is not an integer in range")
			}
			*dst = T(n)
			return nil
		},
		get: func() string { return strconv.FormatInt(int64(*dst), 10) }}
}

// ListSetting binds a []string field from a comma-separated value; empty
// items are dropped.
func ListSetting(key, field string, dst *[]string, doc string) Setting {
	return Setting{Key: key, Field: field, Doc: doc,
		set: func(v string) error {
			*dst = nil
			for item := range strings.SplitSeq(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					*dst = append(*dst, item)
				}
			}
			return nil
		},
		get: func() string { return strings.Join(*dst, ",") }}
}

// FuncSetting binds a field through set and get, for values with their own
// syntax. set's error says what is wrong with the value ("is not ...").
func FuncSetting(key, field, doc string, set func(string) error, get func() string) Setting {
	return Setting{Key: key, Field: field, Doc: doc, set: set, get: get}
}

// RenamedSetting is a former Key: setting it is an error naming newKey.
func RenamedSetting(oldKey, newKey string) Setting {
	return Setting{Key: oldKey, renamed: newKey}
}

// ApplyEnv applies every setting whose variable prefix+Key is set and
// non-empty, read through getenv (usually os.Getenv). An invalid value is
// an error wrapping [ErrInvalidConfig] that names the variable; a secret's
// value never appears in it.
func ApplyEnv(prefix string, getenv func(string) string, settings []Setting) error {
	for _, s := range settings {
		raw := getenv(prefix + s.Key)
		v := raw
		if !s.secret {
			v = strings.TrimSpace(raw)
		}
		if v == "" {
			continue
		}
		if s.renamed != "" {
			return fmt.Errorf("%w: %s%s was renamed %s%s; set that instead", ErrInvalidConfig, prefix, s.Key, prefix, s.renamed)
		}
		if err := s.set(v); err != nil {
			if s.secret {
				return fmt.Errorf("%w: %s%s: %v", ErrInvalidConfig, prefix, s.Key, err)
			}
			return fmt.Errorf("%w: %s%s=%q %v", ErrInvalidConfig, prefix, s.Key, v, err)
		}
	}
	return nil
}

// WriteEnvTable writes the settings as a Markdown table: variable, Config
// field, default (the value each setting is bound to) and notes.
func WriteEnvTable(w io.Writer, prefix string, settings []Setting) error {
	if _, err := fmt.Fprintf(w, "| Variable | Config field | Default | Notes |\n|---|---|---|---|\n"); err != nil {
		return err
	}
	for _, s := range settings {
		if s.renamed != "" {
			continue
		}
		def := "(none)"
		if v := s.get(); v != "" && !s.secret {
			def = "`" + v + "`"
		}
		notes := " "
		if s.Doc != "" {
			notes = " " + s.Doc + " "
		}
		if _, err := fmt.Fprintf(w, "| `%s%s` | `%s` | %s |%s|\n", prefix, s.Key, s.Field, def, notes); err != nil {
			return err
		}
	}
	return nil
}

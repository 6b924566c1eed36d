package adapters

// Every adapter's Config follows one convention (pebble's
// EnsureDefaults/Validate):
//
//   - func (c Config) Default() Config returns c with every zero setting
//     replaced by its default, so Config{}.Default() is the default
//     configuration and a caller sets only what differs;
//   - func (c Config) Validate() error reports the first unusable setting,
//     wrapping [ErrInvalidConfig], naming the setting and its fix, and never
//     quoting a secret;
//   - func ConfigFromEnv(getenv func(string) string) (Config, error) is
//     Config{}.Default() overridden by the BROKERBENCH_<SYSTEM>_* variables
//     of its [Setting] list ([ApplyEnv]), validated;
//   - TLS is an [TLS] field named TLS, secrets print as [Redacted], and
//     endpoints go through [RedactURL] before they reach a log or result.
//
// New validates its Config and does not fill defaults: a field left at
// zero by mistake is reported rather than silently defaulted.

// SetDefault sets *dst to def when it is the zero value.
func SetDefault[T comparable](dst *T, def T) {
	var zero T
	if *dst == zero {
		*dst = def
	}
}

// Configurable is the convention above, as a constraint.
type Configurable[C any] interface {
	Default() C
	Validate() error
}

// ConfigFromEnv is an adapter's ConfigFromEnv: C{}.Default() overridden by
// the variables prefix+Key of settings that are set, read through getenv,
// then validated.
func ConfigFromEnv[C Configurable[C]](prefix string, getenv func(string) string, settings func(*C) []Setting) (C, error) {
	var zero C
	c := zero.Default()
	if err := ApplyEnv(prefix, getenv, settings(&c)); err != nil {
		return zero, err
	}
	if err := c.Validate(); err != nil {
		return zero, err
	}
	return c, nil
}

// DefaultSettings returns settings bound to C{}.Default(): what an
// adapter's EnvSettings lists for the docs, with the defaults as values.
func DefaultSettings[C Configurable[C]](settings func(*C) []Setting) []Setting {
	var zero C
	c := zero.Default()
	return settings(&c)
}

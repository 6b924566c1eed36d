package adapters

import "errors"

// ErrNotApplicable is wrapped by errors returned when a workload needs a
// capability the system lacks. The wrapping error says which and why.
var ErrNotApplicable = errors.New("not applicable")

// ErrUnavailable is wrapped by errors returned when a system cannot be
// reached at all, such as a refused connection at start-up.
var ErrUnavailable = errors.New("system unavailable")

// ErrInvalidConfig is wrapped by every error of an adapter's
// Config.Validate and ConfigFromEnv; the wrapping error names the setting
// and how to fix it.
var ErrInvalidConfig = errors.New("invalid configuration")

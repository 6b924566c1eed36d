package checkers

import "errors"

// Sentinel errors.
var (
	// ErrNoModel is returned when a history has no header model, no
	// Config.Model and no client operation to infer the model from.
	ErrNoModel = errors.New("cannot infer the history's model: no client operations; add a header or pass --model")
	// ErrInconsistent marks a well-formed history whose operations contradict
	// each other (a value sent twice, a completion without an invoke). The
	// error is a *history.LineError wrapping it, so it also matches
	// history.ErrMalformed.
	ErrInconsistent = errors.New("inconsistent history")
)

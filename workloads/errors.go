package workloads

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by [Load], [Parse] and
// [Workload.Validate] is either one of these or a [*FieldError] (possibly
// several joined with errors.Join) that unwraps to one of them, so callers
// can classify with errors.Is without matching text.
var (
	// ErrSyntax: the file is not well-formed YAML, or its top level has the
	// wrong shape (not a mapping, several documents, empty).
	ErrSyntax = errors.New("invalid workloads file")
	// ErrUnknownKey: a key that this package does not know. The message
	// suggests the nearest known key.
	ErrUnknownKey = errors.New("unknown key")
	// ErrInvalidValue: a value of the wrong type or out of range, or a
	// combination of values that cannot run together.
	ErrInvalidValue = errors.New("invalid value")
	// ErrDuplicate: a key given twice in one mapping, a workload name used
	// twice, or a sweep list that repeats a value.
	ErrDuplicate = errors.New("duplicate")
)

// FieldError is one problem found in a workloads file or a [Workload]. It
// renders as
//
//	workloads.yaml:14: workload "hot-keys": partitionsPerTopic: must be at least 1, got 0
//
// File, Line and Workload are empty or zero when unknown, for example when
// [Workload.Validate] is called on a workload built in code.
type FieldError struct {
	File     string // path as given to Load or Parse
	Line     int    // 1-based line of the offending key or value
	Workload string // workload name, with its sweep suffix when only one run is affected
	Key      string // dotted key path such as "delivery.acks"; empty for file-level problems
	Msg      string // what is wrong and how to fix it; starts with the key when there is one
	Err      error  // one of the sentinel errors above
}

// Error formats the error as file:line: workload "name": message.
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Workload != "" {
		fmt.Fprintf(&b, "workload %q: ", e.Workload)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel error so errors.Is works.
func (e *FieldError) Unwrap() error { return e.Err }

// invalidf builds an ErrInvalidValue FieldError whose message starts with key.
func invalidf(key, format string, args ...any) *FieldError {
	return &FieldError{Key: key, Msg: key + ": " + fmt.Sprintf(format, args...), Err: ErrInvalidValue}
}

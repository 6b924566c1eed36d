package history

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by the Reader wrap ErrMalformed inside a
// *LineError that carries the file name, line number and field.
var (
	// ErrMalformed marks a history line that is not valid in the format
	// described in docs/history.md.
	ErrMalformed = errors.New("malformed history")
	// ErrLineTooLong is returned for a line longer than MaxLineBytes.
	ErrLineTooLong = errors.New("line too long")
	// ErrClosed is reported by a Writer used after Close.
	ErrClosed = errors.New("history writer closed")
)

// LineError locates a problem in a history file: "name:line: field \"f\": msg".
// Field is empty when the problem concerns the whole line.
type LineError struct {
	Name  string // file name as given to NewReader; "history" when empty
	Line  int    // 1-based line number
	Field string // JSON field name, or "" for the whole line
	Err   error  // what is wrong
}

// Error implements error.
func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: field %q: %v", e.Name, e.Line, e.Field, e.Err)
}

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

// Is reports ErrMalformed for every LineError so callers can classify
// unreadable input without knowing the specific problem.
func (e *LineError) Is(target error) bool { return target == ErrMalformed }

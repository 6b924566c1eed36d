// Package docgen keeps the generated sections of Markdown documents in step
// with the code they describe. A section sits between two markers,
//
//	<!-- BEGIN GENERATED NAME: how to regenerate -->
//	...
//	<!-- END GENERATED NAME -->
//
// and a test per document calls [Check] with the section's text as the
// code produces it: the test fails when the document differs, and rewrites
// it when run with -update. The prose around the markers is the
// maintainers'.
package docgen

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrStale is wrapped by Check's error when a section differs from the
// code.
var ErrStale = errors.New("generated section is out of date")

// Splice returns doc with the section name replaced by body (which should
// end with a newline).
func Splice(doc, name, body string) (string, error) {
	begin := "<!-- BEGIN GENERATED " + name
	end := "<!-- END GENERATED " + name + " -->\n"
	before, rest, ok := strings.Cut(doc, begin)
	if !ok {
		return "", fmt.Errorf("no %q marker", begin+" ... -->")
	}
	header, rest, ok := strings.Cut(rest, "-->\n")
	if !ok {
		return "", fmt.Errorf("marker %q is not closed by -->", begin)
	}
	_, after, ok := strings.Cut(rest, end)
	if !ok {
		return "", fmt.Errorf("no %q marker", strings.TrimSpace(end))
	}
	return before + begin + header + "-->\n" + body + end + after, nil
}

// Check compares the section name of the Markdown file at path with body.
// With update it rewrites the file instead; otherwise a difference is an
// error wrapping [ErrStale] that says how to regenerate (regen, e.g.
// "go test ./suite/systems -run TestDocs -update").
func Check(path, name, body, regen string, update bool) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	want, err := Splice(string(doc), name, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if want == string(doc) {
		return nil
	}
	if update {
		return os.WriteFile(path, []byte(want), 0o644)
	}
	return fmt.Errorf("%s: section %s: %w; run %s", path, name, ErrStale, regen)
}

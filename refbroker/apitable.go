package refbroker

import (
	"fmt"
	"strings"
)

// Markers around the generated table in docs/refbroker.md.
const (
	apiTableBegin = "<!-- BEGIN GENERATED API TABLE: go test ./refbroker -run TestDocsAPITable -update -->"
	apiTableEnd   = "<!-- END GENERATED API TABLE -->"
)

// renderAPITable renders the served keys, their versions and their
// unsupported features (apiKey.unsupported, declared by each key's
// registration) as a Markdown table, for docs/refbroker.md. A test keeps
// the docs identical to it, so neither ApiVersions nor the docs can claim
// more than the code does.
func renderAPITable() string {
	var sb strings.Builder
	sb.WriteString("| key | API | versions | before SASL authentication | not supported |\n|---:|---|---|---|---|\n")
	for _, k := range sortedAPIKeys() {
		notes := k.unsupported
		cell := "none"
		if len(notes) > 0 {
			cell = strings.Join(notes, "; ")
		}
		before := "closes the connection"
		if k.preAuth {
			before = "served"
		}
		fmt.Fprintf(&sb, "| %d | %s | v%d-v%d | %s | %s |\n", k.key, k.key.Name(), k.min, k.max, before, cell)
	}
	return sb.String()
}

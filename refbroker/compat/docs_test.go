package compat

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated matrix in docs/refbroker.md")

const (
	docsPath    = "../../docs/refbroker.md"
	matrixBegin = "<!-- BEGIN GENERATED COMPAT MATRIX: go test ./refbroker/compat -run TestMatrixDocumented -update -->"
	matrixEnd   = "<!-- END GENERATED COMPAT MATRIX -->"
)

// clientSources says where each client comes from; Go modules also get
// their version from the build.
var clientSources = map[string]string{
	"franz-go":               "github.com/twmb/franz-go",
	"sarama":                 "github.com/IBM/sarama",
	"kafka-go":               "github.com/segmentio/kafka-go",
	"kcat":                   "Debian `kcat` (bookworm: 1.7.1, librdkafka 2.0.2)",
	"confluent-kafka-python": "Debian `python3-confluent-kafka` (bookworm: 1.7.0, librdkafka 2.0.2)",
}

// source names a client's module with the version go.mod requires, or
// its package. (A test binary carries no module versions to ask.)
func source(goMod, name string) string {
	src := clientSources[name]
	for line := range strings.Lines(goMod) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == src {
			return fmt.Sprintf("`%s` %s", src, f[1])
		}
	}
	return src
}

// renderMatrix draws the matrix from the registered clients.
func renderMatrix(goMod string) string {
	var b strings.Builder
	b.WriteString("| client | from |")
	for _, s := range scenarios {
		b.WriteString(" " + s.name + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(scenarios)) + "\n")
	var notes []string
	for _, c := range clients {
		fmt.Fprintf(&b, "| %s | %s |", c.name, source(goMod, c.name))
		for _, s := range scenarios {
			cell := "tested"
			if !c.has(s.name) {
				cell = "not run"
			} else if s.name == "produce" && c.idempotent {
				cell = "tested, idempotent"
			}
			if _, ok := c.notes[s.name]; ok {
				cell += " (" + fmt.Sprint(len(notes)+1) + ")"
				notes = append(notes, c.notes[s.name])
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for i, n := range notes {
		fmt.Fprintf(&b, "%d. %s\n", i+1, n)
	}
	return b.String()
}

// TestMatrixDocumented keeps docs/refbroker.md's matrix identical to the
// clients and scenarios TestMatrix runs. Run with -update to rewrite it.
func TestMatrixDocumented(t *testing.T) {
	for _, c := range clients {
		if clientSources[c.name] == "" {
			t.Errorf("client %s has no clientSources entry", c.name)
		}
		for _, s := range scenarios {
			if !c.has(s.name) && c.notes[s.name] == "" {
				t.Errorf("client %s does not run %s and notes no reason", c.name, s.name)
			}
		}
	}
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	text := string(doc)
	begin, end := strings.Index(text, matrixBegin), strings.Index(text, matrixEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the generated-matrix markers", docsPath)
	}
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	want := matrixBegin + "\n" + renderMatrix(string(goMod)) + matrixEnd
	if text[begin:end+len(matrixEnd)] == want {
		return
	}
	if !*update {
		t.Fatalf("%s compatibility matrix is stale; run go test ./refbroker/compat -run TestMatrixDocumented -update", docsPath)
	}
	if err := os.WriteFile(docsPath, []byte(text[:begin]+want+text[end+len(matrixEnd):]), 0o644); err != nil {
		t.Fatalf("update docs: %v", err)
	}
}

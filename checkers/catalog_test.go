package checkers

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/checkers/history"
)

var update = flag.Bool("update", false, "rewrite the generated catalog section of docs/checkers.md")

const (
	catalogBegin = "<!-- BEGIN GENERATED CATALOG: go test ./checkers -run TestDocsCatalog -update -->\n"
	catalogEnd   = "<!-- END GENERATED CATALOG -->\n"
)

// TestDocsCatalog keeps docs/checkers.md's anomaly section identical to the
// Go catalog, so documentation and code never disagree.
func TestDocsCatalog(t *testing.T) {
	path := filepath.Join("..", "docs", "checkers.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), catalogBegin)
	_, after, ok2 := strings.Cut(rest, catalogEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: catalog markers missing", path)
	}
	var gen bytes.Buffer
	if err := WriteCatalogMarkdown(&gen); err != nil {
		t.Fatal(err)
	}
	want := before + catalogBegin + gen.String() + catalogEnd + after
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(doc) != want {
		t.Errorf("%s is out of date with the catalog; run go test ./checkers -run TestDocsCatalog -update", path)
	}
}

// TestCatalog checks the table itself: unique names, a model and a class,
// examples that are real histories whose checker reports the anomaly.
func TestCatalog(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, a := range Catalog() {
		if seen[a.Name] || a.Name == "" || len(a.Models) == 0 || a.Class == 0 || a.Definition == "" {
			t.Errorf("bad or duplicate entry %+v", a)
		}
		seen[a.Name] = true
		if !strings.HasPrefix(a.Example, "{") {
			continue
		}
		v, err := Check(t.Context(), history.NewReader(strings.NewReader(a.Example), a.Name), Config{})
		if err != nil {
			t.Errorf("%s: example: %v", a.Name, err)
			continue
		}
		if v.Anomalies[a.Name] == nil {
			t.Errorf("%s: example does not show it; got %v", a.Name, names(v))
		}
	}
	if _, ok := Lookup("no-such-anomaly"); ok {
		t.Error("Lookup found a missing name")
	}
}

func TestClassFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		class Class
		g     history.Guarantee
		fails bool
	}{
		{Loss, history.AtLeastOnce, true},
		{Loss, history.ExactlyOnce, true},
		{Loss, history.AtMostOnce, false}, // losses counted, pass
		{Duplicate, history.AtLeastOnce, false},
		{Duplicate, history.ExactlyOnce, true},
		{Duplicate, history.AtMostOnce, true},
		{Violation, history.AtMostOnce, true},
		{Informational, history.ExactlyOnce, false},
	}
	for _, tt := range tests {
		if got := tt.class.Fails(tt.g); got != tt.fails {
			t.Errorf("%s under %s: fails %v, want %v", tt.class, tt.g, got, tt.fails)
		}
	}
}

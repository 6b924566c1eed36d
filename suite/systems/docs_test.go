package systems

import (
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/internal/docgen"
)

var update = flag.Bool("update", false, "rewrite the generated sections of docs/adapters/")

const regen = "go test ./suite/systems -run TestDocs -update"

// TestDocsEnvTables keeps each system's table of BROKERBENCH_* variables
// in docs/adapters/<system>.md identical to the settings its adapter
// reads.
func TestDocsEnvTables(t *testing.T) {
	for _, s := range All() {
		if s.Settings == nil {
			continue
		}
		var b strings.Builder
		if err := adapters.WriteEnvTable(&b, s.EnvPrefix, s.Settings()); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "..", "docs", "adapters", s.Name+".md")
		if err := docgen.Check(path, "ENV", b.String(), regen, *update); err != nil {
			t.Error(err)
		}
	}
}

// TestDocsCapabilityMatrix keeps the capability matrix of
// docs/adapters/README.md identical to what the adapters declare.
func TestDocsCapabilityMatrix(t *testing.T) {
	var variants []adapters.CapabilityVariant
	for _, s := range All() {
		if s.Capabilities != nil {
			variants = append(variants, s.Capabilities()...)
		}
	}
	path := filepath.Join("..", "..", "docs", "adapters", "README.md")
	if err := docgen.Check(path, "CAPABILITIES", capabilityMatrix(variants), regen, *update); err != nil {
		t.Error(err)
	}
}

// TestDocsMappingTable keeps the mapping table of docs/adapters/README.md
// (topic, partition, subscription, member, ack, commit per system)
// identical to what the adapters declare.
func TestDocsMappingTable(t *testing.T) {
	var b strings.Builder
	b.WriteString("| system | topic | partition | subscription | group member | ack | commit |\n|---|---|---|---|---|---|---|\n")
	for _, s := range All() {
		if s.Capabilities == nil {
			continue
		}
		for _, v := range s.Capabilities() {
			m := v.Mapping
			if m == (adapters.Mapping{}) {
				t.Errorf("%s: CapabilityVariant %q has no Mapping", s.Name, v.Label)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", v.Label, m.Topic, m.Partition, m.Subscription, m.Member, m.Ack, m.Commit)
		}
	}
	path := filepath.Join("..", "..", "docs", "adapters", "README.md")
	if err := docgen.Check(path, "MAPPING", b.String(), regen, *update); err != nil {
		t.Error(err)
	}
}

// capabilityMatrix is a Markdown table with a row per Capabilities field,
// in declaration order, and a column per variant.
func capabilityMatrix(variants []adapters.CapabilityVariant) string {
	var b strings.Builder
	b.WriteString("| capability |")
	for _, v := range variants {
		b.WriteString(" " + v.Label + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(variants)) + "\n")
	typ := reflect.TypeFor[adapters.Capabilities]()
	for i := range typ.NumField() {
		fmt.Fprintf(&b, "| %s |", typ.Field(i).Name)
		for _, v := range variants {
			cell := "no"
			if reflect.ValueOf(v.Capabilities).Field(i).Bool() {
				cell = "yes"
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

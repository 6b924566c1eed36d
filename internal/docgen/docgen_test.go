package docgen

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSplice(t *testing.T) {
	t.Parallel()
	doc := "intro\n<!-- BEGIN GENERATED T: regen -->\nold\n<!-- END GENERATED T -->\noutro\n"
	tests := []struct {
		name, doc, body, want, wantErr string
	}{
		{"replaces the body", doc, "new\n", "intro\n<!-- BEGIN GENERATED T: regen -->\nnew\n<!-- END GENERATED T -->\noutro\n", ""},
		{"no begin marker", "intro\n", "x\n", "", "no"},
		{"no end marker", "<!-- BEGIN GENERATED T: r -->\nold\n", "x\n", "", "END GENERATED T"},
		{"unclosed begin marker", "<!-- BEGIN GENERATED T\n", "x\n", "", "not closed"},
	}
	for _, tt := range tests {
		got, err := Splice(tt.doc, "T", tt.body)
		if (err != nil) != (tt.wantErr != "") || got != tt.want {
			t.Errorf("%s: Splice = %q, %v; want %q (error %q)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCheckAndUpdate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(path, []byte("<!-- BEGIN GENERATED T: r -->\nold\n<!-- END GENERATED T -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(path, "T", "new\n", "go test -update", false); !errors.Is(err, ErrStale) {
		t.Fatalf("Check on a stale doc = %v, want ErrStale", err)
	}
	if err := Check(path, "T", "new\n", "go test -update", true); err != nil {
		t.Fatal(err)
	}
	if err := Check(path, "T", "new\n", "go test -update", false); err != nil {
		t.Errorf("Check after update = %v", err)
	}
}

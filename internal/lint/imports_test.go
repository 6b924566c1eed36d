package lint

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/brokerbench/brokerbench"

func TestImportGroupsRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		imports string
		want    string // substring of the only problem; "" means none
	}{
		{"std, third-party, module", "\"fmt\"\n\n\"github.com/spf13/cobra\"\n\n\"" + module + "/suite\"", ""},
		{"std only", "\"fmt\"\n\"os\"", ""},
		{"std and module", "\"fmt\"\n\n\"" + module + "/suite\"", ""},
		{"module inside the std group", "\"fmt\"\n\"" + module + "/adapters\"\n\"os\"", "put a blank line"},
		{"module before third-party", "\"fmt\"\n\n\"" + module + "/suite\"\n\n\"github.com/spf13/cobra\"", "order the groups"},
		{"std group twice", "\"fmt\"\n\n\"os\"", "merge it"},
		{"named import", "\"fmt\"\n\nnatsgo \"github.com/nats-io/nats.go\"", ""},
	}
	for _, tt := range tests {
		src := "package p\n\nimport (\n" + tt.imports + "\n)\n"
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "p.go", src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := ImportGroups(fset, f, module)
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s: %q, want no problem", tt.name, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("%s: %q, want one problem containing %q", tt.name, got, tt.want)
		}
	}
}

// TestImportGroups checks every Go file of the module.
func TestImportGroups(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		for _, p := range ImportGroups(fset, f, module) {
			t.Error(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

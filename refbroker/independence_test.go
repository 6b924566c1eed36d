package refbroker

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingElseFromTheRepo: refbroker (and every package and test
// under it, refbrokertest included) depends on nothing else in brokerbench,
// so that it can be used, and tested, on its own. Tests that need the
// runner or the checkers (the planted-bug self-validation) live outside
// refbroker/.
func TestImportsNothingElseFromTheRepo(t *testing.T) {
	t.Parallel()
	module := modulePath(t, "../go.mod")
	own := module + "/refbroker"
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module+"/") && p != own && !strings.HasPrefix(p, own+"/") {
				t.Errorf("refbroker/%s imports %s: refbroker must not depend on the rest of brokerbench", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read only %d Go files under refbroker/", files)
	}
}

// modulePath reads the module path from a go.mod file.
func modulePath(t *testing.T, gomod string) string {
	t.Helper()
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if rest, ok := strings.CutPrefix(sc.Text(), "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("%s has no module line", gomod)
	return ""
}

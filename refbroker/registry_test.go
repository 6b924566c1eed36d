package refbroker

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRegistrationDeclaresEverything: regKey refuses a registration that
// leaves a property of its key undeclared, so a new key cannot silently
// take a default (as ShareFetch once did by missing from a "may block"
// list kept apart from its registration).
func TestRegistrationDeclaresEverything(t *testing.T) {
	t.Parallel()
	h := func(context.Context, *conn, kmsg.Request) (kmsg.Response, error) { return nil, nil }
	full := apiKey{key: kmsg.Metadata, min: 0, max: 1, handle: h, wait: answersPromptly, frame: keepsFrame, unsupported: allSupported, authorize: noACL}
	tests := []struct {
		name string
		edit func(*apiKey)
		want string // in the error; "" for a valid registration
	}{
		{"complete", func(*apiKey) {}, ""},
		{"unknown key", func(k *apiKey) { k.key = -1 }, "no kmsg request type"},
		{"inverted versions", func(k *apiKey) { k.min, k.max = 2, 1 }, "version range"},
		{"no handler", func(k *apiKey) { k.handle = nil }, "no handler"},
		{"wait unset", func(k *apiKey) { k.wait = 0 }, "wait unset"},
		{"frame use unset", func(k *apiKey) { k.frame = 0 }, "frame unset"},
		{"unsupported features unset", func(k *apiKey) { k.unsupported = nil }, "unsupported features unset"},
		{"authorize unset", func(k *apiKey) { k.authorize = nil }, "authorize unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := full
			tt.edit(&k)
			err := k.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, k := range sortedAPIKeys() {
		if err := k.validate(); err != nil {
			t.Errorf("registered %v", err)
		}
	}
}

// TestNoKeyNumbersOutsideRegistrations: outside the NN_name.go files, the
// package decides nothing by API key: no key compared with, switched on
// or looked up by a constant (a number or a kmsg key constant), and no
// kmsg key constant at all. Inside them, each registration names its key
// with a kmsg constant, not a number. Every such decision belongs in the
// registration (apiKey), where the connection loop and dispatch read it.
func TestNoKeyNumbersOutsideRegistrations(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	handlerFile := regexp.MustCompile(`^\d\d_\w+\.go$`)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		if handlerFile.MatchString(f) {
			problems = registrationKeyProblems(fset, file)
		} else {
			problems = keyNumberProblems(fset, file)
			checked++
		}
		for _, p := range problems {
			t.Error(p)
		}
	}
	if checked < 3 { // conn.go, registry.go, broker.go at least
		t.Fatalf("checked only %d files; is the test running in refbroker/?", checked)
	}
}

// TestKeyNumberCheckCatches proves the check above fires on the shapes it
// exists for (the two first from conn.go before keys were registered in
// one place) and stays quiet on key-independent code.
func TestKeyNumberCheckCatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		bad       bool
	}{
		{"switch on a key with numbers", `func f(key int16) bool { switch key { case 1, 11, 14, 78: return true }; return false }`, true},
		{"response key compared", `func f(r kmsg.Response) bool { return r.Key() != 18 }`, true},
		{"field compared with kmsg constant", `func f(h requestHeader) bool { return h.key == int16(kmsg.ApiVersions) }`, true},
		{"kmsg constant method", `func f(h requestHeader) bool { return kmsg.Produce.Int16() == h.key }`, true},
		{"registry indexed by number", `func f() int16 { return apiKeys[18].max }`, true},
		{"lookup by number", `func f() *apiKey { return lookupKey(3) }`, true},
		{"kmsg key constant anywhere", `var x = kmsg.Fetch`, true},
		{"registration property", `func f(k *apiKey) bool { return k.wait == mayBlock }`, false},
		{"key of a variable", `func f(h requestHeader) *apiKey { return lookupKey(h.key) }`, false},
		{"other numbers", `func f(n int) bool { return n == 18 }`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, "x.go", "package refbroker\n"+tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := keyNumberProblems(fset, file); (len(got) > 0) != tt.bad {
				t.Fatalf("problems %q, want some: %v", got, tt.bad)
			}
		})
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "00_x.go", "package refbroker\nfunc init() { regKey(apiKey{key: 0}) }", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(registrationKeyProblems(fset, file)) == 0 {
		t.Fatal("a registration naming its key by number was not reported")
	}
}

// kmsgKeyNames are the names of kmsg's Key constants (kmsg.Produce, ...).
var kmsgKeyNames = func() map[string]bool {
	m := map[string]bool{}
	for k := range int16(200) {
		if n := kmsg.NameForKey(k); n != "Unknown" {
			m[n] = true
		}
	}
	return m
}()

// isKmsgKey reports whether e is a kmsg key constant: kmsg.Produce, or
// that constant converted (int16(kmsg.Produce)) or turned into a number
// (kmsg.Produce.Int16()).
func isKmsgKey(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == "kmsg" {
			return kmsgKeyNames[e.Sel.Name]
		}
		return isKmsgKey(e.X)
	case *ast.CallExpr:
		if len(e.Args) == 1 {
			return isKmsgKey(e.Args[0])
		}
		return isKmsgKey(e.Fun)
	case *ast.ParenExpr:
		return isKmsgKey(e.X)
	}
	return false
}

// isKeyConstant reports an integer literal or a kmsg key constant.
func isKeyConstant(e ast.Expr) bool {
	if lit, ok := ast.Unparen(e).(*ast.BasicLit); ok {
		return lit.Kind == token.INT
	}
	return isKmsgKey(e)
}

// isKeyExpr reports an expression that names an API key: an identifier or
// field called key/Key/ApiKey..., or a Key() call.
func isKeyExpr(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return strings.HasSuffix(strings.ToLower(e.Name), "key")
	case *ast.SelectorExpr:
		return strings.HasSuffix(strings.ToLower(e.Sel.Name), "key")
	case *ast.CallExpr:
		return len(e.Args) == 0 && isKeyExpr(e.Fun)
	}
	return false
}

// keyNumberProblems lists the places in file that decide by a constant key.
func keyNumberProblems(fset *token.FileSet, file *ast.File) []string {
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what+"; declare it in the key's registration (apiKey) instead")
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if (isKeyExpr(n.X) && isKeyConstant(n.Y)) || (isKeyExpr(n.Y) && isKeyConstant(n.X)) {
				report(n, "API key compared with a constant")
				return false
			}
		case *ast.SwitchStmt:
			if n.Tag != nil && isKeyExpr(n.Tag) {
				for _, s := range n.Body.List {
					for _, e := range s.(*ast.CaseClause).List {
						if isKeyConstant(e) {
							report(e, "switch on an API key with a constant case")
						}
					}
				}
			}
		case *ast.IndexExpr:
			if id, ok := n.X.(*ast.Ident); ok && id.Name == "apiKeys" && isKeyConstant(n.Index) {
				report(n, "registry looked up by a constant key")
				return false
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "lookupKey" && len(n.Args) == 1 && isKeyConstant(n.Args[0]) {
				report(n, "registry looked up by a constant key")
				return false
			}
		case *ast.SelectorExpr:
			if isKmsgKey(n) {
				report(n, "kmsg key constant outside an NN_name.go file")
				return false
			}
		}
		return true
	})
	return out
}

// registrationKeyProblems lists apiKey literals in an NN_name.go file whose
// key is not a kmsg key constant.
func registrationKeyProblems(fset *token.FileSet, file *ast.File) []string {
	var out []string
	ast.Inspect(file, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "apiKey" {
			return true
		}
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				out = append(out, fset.Position(e.Pos()).String()+": apiKey literal without field names")
				continue
			}
			if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "key" && !isKmsgKey(kv.Value) {
				out = append(out, fset.Position(kv.Value.Pos()).String()+": registration names its key by number; use a kmsg key constant (kmsg.Produce)")
			}
		}
		return true
	})
	return out
}

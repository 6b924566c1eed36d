// Package lint holds the project's own source checks that neither go vet
// nor staticcheck make; its tests run them over the whole module, so
// `go test ./...` (and so `make test`) enforces them.
package lint

import (
	"fmt"
	"go/ast"
	"go/token"
	"strconv"
	"strings"
)

// importClass orders import groups: the standard library first, then
// other modules, then this module's own packages.
type importClass int

const (
	classStd importClass = iota
	classThirdParty
	classModule
)

func (c importClass) String() string {
	return [...]string{"standard library", "third-party", "this module"}[c]
}

func classify(path, module string) importClass {
	switch {
	case path == module || strings.HasPrefix(path, module+"/"):
		return classModule
	case !strings.Contains(strings.SplitN(path, "/", 2)[0], "."):
		return classStd
	default:
		return classThirdParty
	}
}

// ImportGroups checks the grouping of f's imports (goimports with
// -local module): blank lines split them into groups, each group holds one
// class, and the groups run standard library, third-party, this module,
// each at most once. It returns one message per problem, with its
// position.
func ImportGroups(fset *token.FileSet, f *ast.File, module string) []string {
	var problems []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.IMPORT {
			continue
		}
		prevClass, prevLine := importClass(-1), 0
		groupClass := importClass(-1)
		for i, spec := range gd.Specs {
			is := spec.(*ast.ImportSpec)
			path, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				continue // the compiler reports it
			}
			pos := fset.Position(is.Pos())
			if is.Doc != nil {
				pos = fset.Position(is.Doc.Pos())
			}
			class := classify(path, module)
			newGroup := i == 0 || pos.Line > prevLine+1
			switch {
			case newGroup && class == prevClass:
				problems = append(problems, fmt.Sprintf("%s: %q starts a second %s group: merge it into the one above", pos, path, class))
			case newGroup && class < prevClass:
				problems = append(problems, fmt.Sprintf("%s: %q starts a %s group after a %s group: order the groups standard library, third-party, %s", pos, path, class, prevClass, module))
			case !newGroup && class != groupClass:
				problems = append(problems, fmt.Sprintf("%s: %q (%s) is in a %s group: put a blank line between the groups", pos, path, class, groupClass))
			}
			if newGroup {
				groupClass = class
			}
			prevClass = max(prevClass, class)
			prevLine = fset.Position(is.End()).Line
		}
	}
	return problems
}

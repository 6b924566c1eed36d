package workloads

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads and validates a workloads file. See [Parse].
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load workloads: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a workloads file read from path (used in error
// messages and to resolve relative payloadFile paths against the file's
// directory). It accepts both shapes described in the package doc. Every
// problem in the file is reported, not just the first: the error is an
// errors.Join of [*FieldError] values in line order, each naming
// file:line, the workload and the key. Parse never panics on any input.
//
// Workloads in the result are validated, carry their defaults, and are
// unexpanded; call [Workload.Expand] for the concrete runs.
func Parse(path string, data []byte) (*File, error) {
	p := &parser{file: path, dir: filepath.Dir(path)}
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	var ws []Workload
	if isMultiShape(root) {
		ws = p.multi(root)
	} else {
		ws = p.single(root)
	}
	for i := range ws {
		p.finish(&ws[i])
	}
	if err := joinFieldErrors(p.errs); err != nil {
		return nil, err
	}
	return &File{Path: path, Workloads: ws}, nil
}

// parser collects errors while walking one file.
type parser struct {
	file string
	dir  string
	errs []*FieldError
	// merges counts YAML merge keys applied, against maxMerges.
	merges      int
	mergeFailed bool // the merge limit was reported
}

// scope says whose keys are being read, for error context.
type scope struct {
	workload string // workload name; "" while reading defaults
	defaults bool
}

func (p *parser) add(line int, sc scope, key, msg string, err error) {
	if sc.defaults {
		msg = "defaults: " + msg
	}
	p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Workload: sc.workload, Key: key, Msg: msg, Err: err})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document decodes data into its root mapping node.
func (p *parser) document(data []byte) (root *yaml.Node, err error) {
	fail := func(line int, msg string) (*yaml.Node, error) {
		return nil, &FieldError{File: p.file, Line: line, Msg: msg, Err: ErrSyntax}
	}
	// The YAML library is third-party code fed arbitrary bytes; a panic in it
	// must surface as a syntax error, not take down `brokerbench validate`.
	defer func() {
		if r := recover(); r != nil {
			root, err = fail(0, fmt.Sprintf("YAML parser failed: %v", r))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, "file is empty; expected workloads: [...] or an OMB workload")
		}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return fail(line, "YAML syntax: "+m[2])
		}
		return fail(0, "YAML syntax: "+strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fail(extra.Line, "several YAML documents (---); put all workloads in one workloads: list")
	}
	root = &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = resolve(root)
	if root == nil || root.Kind != yaml.MappingNode {
		line := 0
		if root != nil {
			line = root.Line
		}
		return fail(line, "top level must be a mapping: either workloads: [...] or an OMB workload (name:, topics:, ...)")
	}
	return root, nil
}

// isMultiShape reports whether root is our multi-workload shape (it has a
// workloads: or defaults: key) rather than a single OMB workload.
func isMultiShape(root *yaml.Node) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k == "workloads" || k == "defaults" {
			return true
		}
	}
	return false
}

// newWorkload returns a workload holding every default, ready for keys to be
// applied over it; applying over defaults (rather than defaulting after)
// keeps explicit zeros such as warmup: 0s.
func (p *parser) newWorkload() Workload {
	var w Workload
	w.Default()
	w.Delivery.unfillIdempotent() // filled in finish, once acks is known
	w.spec = &specInfo{file: p.file, lines: map[string]int{}}
	return w
}

// single reads an OMB-shaped file: the top level is one workload.
func (p *parser) single(root *yaml.Node) []Workload {
	w := p.newWorkload()
	w.Line = root.Line
	name := nameOf(root)
	if name == "" {
		base := filepath.Base(p.file)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	w.Name = name
	p.apply(&w, root, workloadKeys(), "", scope{workload: name})
	if strings.ContainsAny(w.Name, "[]") {
		p.add(w.spec.lineOf("name"), scope{workload: w.Name}, "name", "name: must not contain [ or ], which mark sweep runs", ErrInvalidValue)
	}
	return []Workload{w}
}

// multi reads our shape: workloads: [...] with optional defaults:.
func (p *parser) multi(root *yaml.Node) []Workload {
	var list, defaults *yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if first, dup := seen[k.Value]; dup {
			p.add(k.Line, scope{}, k.Value, fmt.Sprintf("top-level key %q given twice (first at line %d)", k.Value, first), ErrDuplicate)
			continue
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "workloads":
			list = v
		case "defaults":
			defaults = v
		default:
			msg := unknownKeyMsg(k.Value, []string{"workloads", "defaults"}, "")
			if _, ok := workloadKeys()[k.Value]; ok {
				msg = fmt.Sprintf("top-level key %q belongs to a workload; move it under defaults: (for all workloads) or into a workload", k.Value)
			}
			p.add(k.Line, scope{}, k.Value, msg, ErrUnknownKey)
		}
	}
	base := p.newWorkload()
	if defaults != nil && !isNull(defaults) {
		if defaults.Kind != yaml.MappingNode {
			p.add(defaults.Line, scope{}, "defaults", "defaults: want a mapping of workload keys, got "+kindName(defaults), ErrInvalidValue)
		} else {
			p.apply(&base, defaults, workloadKeys(), "", scope{defaults: true})
		}
	}
	if list == nil || isNull(list) || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		line := root.Line
		if list != nil {
			line = list.Line
		}
		p.add(line, scope{}, "workloads", "workloads: want a non-empty list of workloads, each a mapping with a name:", ErrInvalidValue)
		return nil
	}
	return p.workloadList(list, base)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (p *parser) workloadList(list *yaml.Node, base Workload) []Workload {
	var out []Workload
	names := map[string]int{}
	for i, item := range list.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			p.add(item.Line, scope{}, "workloads", fmt.Sprintf("workloads: item %d: want a mapping with name: and workload keys, got %s", i+1, kindName(item)), ErrInvalidValue)
			continue
		}
		name := nameOf(item)
		sc := scope{workload: name}
		if name == "" {
			sc.workload = fmt.Sprintf("#%d", i+1)
			p.add(item.Line, sc, "name", "name: missing; every workload needs a unique name such as name: smoke", ErrInvalidValue)
		} else if !nameRE.MatchString(name) {
			p.add(item.Line, sc, "name", "name: use letters, digits, '.', '_' and '-' only (names become file names and sweep runs append [key=value])", ErrInvalidValue)
		}
		if first, dup := names[name]; dup && name != "" {
			p.add(item.Line, sc, "name", fmt.Sprintf("name: %q already used by the workload at line %d; names must be unique", name, first), ErrDuplicate)
		}
		names[name] = item.Line
		w := base.clone()
		w.Name = sc.workload
		w.Line = item.Line
		p.apply(&w, item, workloadKeys(), "", sc)
		out = append(out, w)
	}
	return out
}

// nameOf returns the scalar value of a mapping's name: key, or "".
func nameOf(m *yaml.Node) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "name" {
			if s, err := scalar(m.Content[i+1]); err == nil {
				return strings.TrimSpace(s)
			}
		}
	}
	return ""
}

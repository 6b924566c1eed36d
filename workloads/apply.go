package workloads

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"
)

// apply reads the keys of mapping m into w. prefix is the key path of m
// ("" for a workload, "delivery." for its delivery mapping). Keys override
// what w already holds (its defaults, or the file's defaults: mapping);
// nested mappings merge key by key.
func (p *parser) apply(w *Workload, m *yaml.Node, table map[string]keySpec, prefix string, sc scope) {
	p.applyDepth(w, m, table, prefix, sc, 0)
}

// maxMergeDepth bounds nested YAML merge keys (<<: *anchor whose anchor has
// its own <<:), which no sane file needs more than a few of; maxMerges
// bounds the merges applied in one file.
const (
	maxMergeDepth = 16
	maxMerges     = 10000
)

func (p *parser) applyDepth(w *Workload, m *yaml.Node, table map[string]keySpec, prefix string, sc scope, depth int) {
	// YAML merge keys (<<: *base or <<: [*a, *b]) are applied first, so that
	// the mapping's own keys override them, as YAML specifies.
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].ShortTag() != "!!merge" {
			continue
		}
		// Aliases let a small file name the same mapping exponentially many
		// times (a "billion laughs" file), so both depth and total merges are
		// bounded.
		p.merges++
		if depth >= maxMergeDepth || p.merges > maxMerges {
			if !p.mergeFailed {
				p.mergeFailed = true
				p.add(m.Content[i].Line, sc, prefix, "merge keys (<<) nested too deeply or used too often", ErrInvalidValue)
			}
			return
		}
		src := resolve(m.Content[i+1])
		srcs := []*yaml.Node{src}
		if src != nil && src.Kind == yaml.SequenceNode {
			srcs = src.Content
		}
		for _, s := range srcs {
			s = resolve(s)
			if s == nil || s.Kind != yaml.MappingNode {
				p.add(m.Content[i].Line, sc, prefix, "merge key (<<) needs a mapping or a list of mappings", ErrInvalidValue)
				continue
			}
			p.applyDepth(w, s, table, prefix, sc, depth+1)
		}
	}
	seen := map[string]string{} // canonical path → "key (line N)" of its first setter
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := resolve(m.Content[i]), resolve(m.Content[i+1])
		if kn != nil && kn.ShortTag() == "!!merge" {
			continue
		}
		if kn == nil || kn.Kind != yaml.ScalarNode {
			p.add(m.Content[i].Line, sc, prefix, "keys must be plain names, not lists or mappings", ErrInvalidValue)
			continue
		}
		key := kn.Value
		spec, ok := table[key]
		if !ok {
			p.unknown(kn, table, prefix, sc)
			continue
		}
		path := prefix + key
		canon := path
		if spec.canon != "" {
			canon = prefix + spec.canon
		}
		if first, dup := seen[canon]; dup {
			p.add(kn.Line, sc, path, fmt.Sprintf("%s: already set by %s; keep only one", path, first), ErrDuplicate)
			continue
		}
		seen[canon] = fmt.Sprintf("%s at line %d", path, kn.Line)
		p.applyKey(w, spec, path, canon, kn, vn, sc)
	}
}

func (p *parser) applyKey(w *Workload, spec keySpec, path, canon string, kn, vn *yaml.Node, sc scope) {
	if isNull(vn) {
		// An empty value keeps the inherited one, except churn: null, which
		// turns off churn inherited from defaults:.
		if path == "churn" {
			w.Churn = nil
			w.spec.dropAxes(canon)
		}
		return
	}
	if spec.nested != nil {
		if vn.Kind != yaml.MappingNode {
			p.add(vn.Line, sc, path, fmt.Sprintf("%s: want a mapping of %v, got %s", path, keysOf(spec.nested), kindName(vn)), ErrInvalidValue)
			return
		}
		if spec.prepare != nil {
			spec.prepare(w)
		}
		w.spec.lines[canon] = kn.Line
		p.applyDepth(w, vn, spec.nested, path+".", sc, 0)
		return
	}
	if vn.Kind == yaml.SequenceNode && spec.sweep {
		p.sweep(w, spec, path, canon, vn, sc)
		return
	}
	w.spec.dropAxes(canon)
	if err := spec.set(w, vn); err != nil {
		p.valueErr(vn, path, err, sc)
		return
	}
	recordLines(w.spec.lines, canon, kn.Line, vn)
}

// sweep turns a list value into a sweep axis. Each item is decoded once here,
// so Expand can apply them without errors.
func (p *parser) sweep(w *Workload, spec keySpec, path, canon string, list *yaml.Node, sc scope) {
	if len(list.Content) == 0 {
		p.add(list.Line, sc, path, path+": empty list; give one value, or a list of values to sweep", ErrInvalidValue)
		return
	}
	if len(list.Content) > MaxRuns {
		p.add(list.Line, sc, path, fmt.Sprintf("%s: sweep of %d values exceeds %d runs", path, len(list.Content), MaxRuns), ErrInvalidValue)
		return
	}
	a := axis{key: path, canon: canon, set: spec.set}
	firstAt := map[string]int{}
	ok := true
	for _, item := range list.Content {
		item = resolve(item)
		if item.Kind == yaml.SequenceNode {
			p.add(item.Line, sc, path, path+": nested lists are not allowed in a sweep", ErrInvalidValue)
			ok = false
			continue
		}
		scratch := w.clone()
		if err := spec.set(&scratch, item); err != nil {
			p.valueErr(item, path, err, sc)
			ok = false
			continue
		}
		label := item.Value
		if spec.label != nil {
			label = spec.label(item)
		}
		if first, dup := firstAt[label]; dup {
			p.add(item.Line, sc, path, fmt.Sprintf("%s: value %s listed twice (first at line %d); each sweep value gives one run", path, label, first), ErrDuplicate)
			ok = false
			continue
		}
		firstAt[label] = item.Line
		a.values = append(a.values, item)
		a.labels = append(a.labels, label)
	}
	if !ok {
		return
	}
	w.spec.dropAxes(canon)
	w.spec.axes = append(w.spec.axes, a)
	_ = spec.set(w, a.values[0]) // the spec itself holds the first run's values
	recordLines(w.spec.lines, canon, a.values[0].Line, a.values[0])
}

func (p *parser) valueErr(vn *yaml.Node, path string, err error, sc scope) {
	line, key := vn.Line, path
	var ne *nodeError
	if errors.As(err, &ne) {
		if ne.node != nil {
			line = ne.node.Line
		}
		if ne.sub != "" {
			key = path + "." + ne.sub
		}
	}
	p.add(line, sc, key, key+": "+err.Error(), ErrInvalidValue)
}

// unknown reports an unknown key with the most useful hint: OMB-fork keys
// are named as such, keys of another level say where they belong, and typos
// get the nearest known key.
func (p *parser) unknown(kn *yaml.Node, table map[string]keySpec, prefix string, sc scope) {
	key := kn.Value
	msg := unknownKeyMsg(key, keysOf(table), prefix)
	if feature, ok := ombForkKeys()[key]; ok && prefix == "" {
		msg = fmt.Sprintf("key %q comes from an OMB fork (%s), which brokerbench does not implement; remove it", key, feature)
	} else if prefix == "" {
		if _, ok := deliveryKeys()[key]; ok {
			msg = fmt.Sprintf("unknown key %q; it belongs under delivery: (delivery.%s)", key, key)
		} else if _, ok := churnKeys()[key]; ok {
			msg = fmt.Sprintf("unknown key %q; it belongs under churn: (churn.%s)", key, key)
		} else if slices.Contains([]string{"exponent", "hotShare", "keys"}, key) {
			msg = fmt.Sprintf("unknown key %q; it belongs in keyDistributor: {type: ..., %s: ...}", key, key)
		}
	}
	p.add(kn.Line, sc, prefix+key, msg, ErrUnknownKey)
}

// finish completes a parsed workload: sweep bookkeeping, acks-dependent
// defaults, the payload file, warnings, and validation of every run.
func (p *parser) finish(w *Workload) {
	for _, a := range w.spec.axes {
		w.SweepKeys = append(w.SweepKeys, a.key)
	}
	if n := w.spec.runCount(); n > MaxRuns {
		p.add(w.Line, scope{workload: w.Name}, "", fmt.Sprintf("the sweep expands into more than %d runs; shorten its lists or split the workload", MaxRuns), ErrInvalidValue)
		return
	}
	if !w.spec.sweptKey("delivery.acks") {
		w.Delivery.fillIdempotent()
	}
	if w.MaxRate != nil {
		w.MaxRate.Default()
	}
	p.resolvePayload(w)
	if w.UseRandomizedPayloads && w.PayloadFile != "" {
		w.Warnings = append(w.Warnings, "payloadFile is ignored because useRandomizedPayloads is true (as in OMB)")
	}
	if w.Churn != nil && w.Churn.Interval >= w.TestDuration && w.TestDuration > 0 {
		w.Warnings = append(w.Warnings, fmt.Sprintf("churn.interval %v is not shorter than the test duration %v, so at most one membership change happens", w.Churn.Interval, w.TestDuration))
	}
	p.errs = append(p.errs, w.validateAll()...)
}

// resolvePayload finds payloadFile as OMB does (relative to the working
// directory) or relative to the workloads file. When it exists nowhere,
// PayloadFile is cleared and a warning says generated bytes are used, so an
// OMB file copied without its payload directory still runs.
func (p *parser) resolvePayload(w *Workload) {
	if w.PayloadFile == "" {
		return
	}
	candidates := []string{w.PayloadFile}
	if !filepath.IsAbs(w.PayloadFile) {
		candidates = append(candidates, filepath.Join(p.dir, w.PayloadFile))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			w.PayloadFile = c
			return
		}
	}
	w.Warnings = append(w.Warnings, fmt.Sprintf("payloadFile %q not found (looked in the working directory and next to %s); generated payloads of messageSize %d bytes are used instead",
		w.PayloadFile, p.file, w.MessageSize))
	w.PayloadFile = ""
}

package workloads

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/brokerbench/brokerbench/chaos"
	"github.com/brokerbench/brokerbench/gate"
)

// setter decodes one YAML value into a workload field. It checks only the
// value's type and shape; ranges and cross-field rules are Validate's job,
// so that they hold for workloads built in code too.
type setter func(w *Workload, n *yaml.Node) error

// nodeError is a decoding error that points at a node inside the value (a
// key of a keyDistributor mapping, an item of a list), so the parser can
// report that node's line and key path rather than the value's.
type nodeError struct {
	node *yaml.Node // position to report; nil = the value itself
	sub  string     // key path below the value's key, e.g. "exponent"
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

// resolve follows YAML aliases (*anchor) to the node they name. Aliases
// cannot form cycles in a parsed document, but the depth bound keeps a
// malformed tree from looping.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 64; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an alias"
	}
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// scalar returns the value of a single-valued node.
func scalar(n *yaml.Node) (string, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("want a single value, got %s", kindName(n))
	}
	return n.Value, nil
}

// parseInt accepts decimal integers (with optional _ separators, as YAML
// allows), quoted or not, and floats with no fraction such as 1e3.
func parseInt(n *yaml.Node) (int, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	clean := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	if v, err := strconv.ParseInt(clean, 10, 64); err == nil {
		if v > math.MaxInt32 || v < math.MinInt32 {
			return 0, fmt.Errorf("%s is out of range", s)
		}
		return int(v), nil
	}
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, fmt.Errorf("want a whole number, got %q", s)
	}
	return int(f), nil
}

func parseFloat(n *yaml.Node) (float64, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number, got %q", s)
	}
	return f, nil
}

func parseBool(n *yaml.Node) (bool, error) {
	s, err := scalar(n)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", s)
}

// parseDuration reads a Go duration with a unit ("30s", "2m", "1m30s").
// A bare number is refused rather than guessed at: seconds and minutes both
// seem natural and the wrong guess silently changes a run 60-fold.
func parseDuration(n *yaml.Node) (time.Duration, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if _, ferr := strconv.ParseFloat(s, 64); ferr == nil && s != "0" {
		return 0, fmt.Errorf("%q has no unit; write e.g. \"%ss\" or \"%sm\"", s, s, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s, 2m or 1m30s, got %q", s)
	}
	return d, nil
}

// parseMinutes reads OMB's *DurationMinutes keys: a number of minutes, which
// may be fractional (0.5 = 30s).
func parseMinutes(n *yaml.Node, alt string) (time.Duration, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number of minutes (OMB), got %q; for a value with a unit use %s: %q instead", s, alt, s)
	}
	if math.Abs(f) > float64(math.MaxInt64)/float64(time.Minute) {
		return 0, fmt.Errorf("%s minutes is out of range", s)
	}
	return time.Duration(f * float64(time.Minute)), nil
}

// stringList accepts one string or a list of strings.
func stringList(n *yaml.Node) ([]string, error) {
	n = resolve(n)
	if n != nil && n.Kind == yaml.SequenceNode {
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			s, err := scalar(item)
			if err != nil {
				return nil, &nodeError{node: item, msg: err.Error()}
			}
			out = append(out, strings.TrimSpace(s))
		}
		return out, nil
	}
	s, err := scalar(n)
	if err != nil {
		return nil, errors.New("want a name or a list of names")
	}
	return []string{strings.TrimSpace(s)}, nil
}

func intField(f func(*Workload) *int) setter {
	return func(w *Workload, n *yaml.Node) error {
		v, err := parseInt(n)
		if err == nil {
			*f(w) = v
		}
		return err
	}
}

func floatField(f func(*Workload) *float64) setter {
	return func(w *Workload, n *yaml.Node) error {
		v, err := parseFloat(n)
		if err == nil {
			*f(w) = v
		}
		return err
	}
}

func boolField(f func(*Workload) *bool) setter {
	return func(w *Workload, n *yaml.Node) error {
		v, err := parseBool(n)
		if err == nil {
			*f(w) = v
		}
		return err
	}
}

// stringField stores a trimmed string; lower lower-cases it, for enumerated
// values whose spelling case does not matter.
func stringField(f func(*Workload) *string, lower bool) setter {
	return func(w *Workload, n *yaml.Node) error {
		v, err := scalar(n)
		if err != nil {
			return err
		}
		v = strings.TrimSpace(v)
		if lower {
			v = strings.ToLower(v)
		}
		*f(w) = v
		return nil
	}
}

func durationField(f func(*Workload) *time.Duration) setter {
	return func(w *Workload, n *yaml.Node) error {
		v, err := parseDuration(n)
		if err == nil {
			*f(w) = v
		}
		return err
	}
}

func minutesField(f func(*Workload) *time.Duration, alt string) setter {
	return func(w *Workload, n *yaml.Node) error {
		v, err := parseMinutes(n, alt)
		if err == nil {
			*f(w) = v
		}
		return err
	}
}

func listField(f func(*Workload) *[]string) setter {
	return func(w *Workload, n *yaml.Node) error {
		v, err := stringList(n)
		if err == nil {
			*f(w) = v
		}
		return err
	}
}

// normalizeKind maps the spellings people write ("zipf", "hot-key") to the
// Key* constants; unknown kinds pass through upper-cased for Validate to
// report.
func normalizeKind(s string) string {
	return strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", "_")
}

// decodeKeyDistribution reads OMB's plain string or our mapping
// {type: ZIPF, keys: N, exponent: s} / {type: HOT_KEY, keys: N, hotShare: p}.
func decodeKeyDistribution(n *yaml.Node) (KeyDistribution, error) {
	n = resolve(n)
	if n != nil && n.Kind == yaml.ScalarNode {
		d := KeyDistribution{Kind: normalizeKind(n.Value)}
		d.Default()
		return d, nil
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return KeyDistribution{}, errors.New("want a name such as ZIPF or a mapping such as {type: ZIPF, exponent: 1.2, keys: 10000}")
	}
	var d KeyDistribution
	seen := map[string]bool{}
	var typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if seen[k.Value] {
			return d, &nodeError{node: k, sub: k.Value, msg: fmt.Sprintf("key %q given twice", k.Value)}
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "type":
			typeNode = v
			var s string
			s, err = scalar(v)
			d.Kind = normalizeKind(s)
		case "keys":
			d.Keys, err = parseInt(v)
		case "exponent":
			d.Exponent, err = parseFloat(v)
		case "hotShare":
			d.HotShare, err = parseFloat(v)
		default:
			return d, &nodeError{node: k, sub: k.Value, msg: unknownKeyMsg(k.Value, []string{"type", "keys", "exponent", "hotShare"}, "")}
		}
		if err != nil {
			return d, &nodeError{node: v, sub: k.Value, msg: err.Error()}
		}
	}
	if typeNode == nil {
		return d, &nodeError{msg: "mapping needs a type: key, e.g. {type: ZIPF, exponent: 1.2}"}
	}
	if d.Exponent != 0 && d.Kind != KeyZipf {
		return d, &nodeError{sub: "exponent", msg: fmt.Sprintf("exponent applies only to ZIPF, not %s; remove it", d.Kind)}
	}
	if d.HotShare != 0 && d.Kind != KeyHot {
		return d, &nodeError{sub: "hotShare", msg: fmt.Sprintf("hotShare applies only to HOT_KEY, not %s; remove it", d.Kind)}
	}
	d.Default()
	return d, nil
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
func formatInt(i int) string       { return strconv.Itoa(i) }

// setThresholds reads the thresholds mapping {metric: "op number"}. Each
// entry is parsed here, so a bad metric or expression is reported at its
// own line when the file loads, not when the run ends.
func setThresholds(w *Workload, n *yaml.Node) error {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return errors.New("want a mapping of metric: \"op number\", e.g. {lost: \"== 0\", aggregatedPublishLatency99pct: \"< 50\"}")
	}
	out := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		expr, err := scalar(v)
		if err != nil || k.Kind != yaml.ScalarNode {
			return &nodeError{node: k, sub: k.Value, msg: "want metric: \"op number\""}
		}
		if _, err := gate.Parse(k.Value, expr); err != nil {
			return &nodeError{node: k, sub: k.Value, msg: err.Error()}
		}
		out[k.Value] = expr
	}
	w.Thresholds = out
	return nil
}

// setChaos reads the fault schedule (package chaos, docs/chaos.md). The
// chaos package decodes and validates it, with the line of any bad key or
// value in its error.
func setChaos(w *Workload, n *yaml.Node) error {
	var spec chaos.Spec
	if err := resolve(n).Decode(&spec); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	w.Chaos = &spec
	return nil
}

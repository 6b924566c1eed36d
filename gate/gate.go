// Package gate turns result files into pass/fail checks for CI: the run
// status, k6-style thresholds on result figures ("lost: == 0",
// "aggregatedPublishLatency99pct: < 50"), and checker verdicts. Checks are
// written as JUnit XML, one test case per (workload, system, check).
//
// A check is passed, failed, skipped (not applicable) or unknown; the gate
// never counts unknown as a pass.
package gate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Threshold is one pass condition on a result figure.
type Threshold struct {
	// Metric names the figure; see Metrics.
	Metric string
	// Op is one of <, <=, >, >=, ==, !=.
	Op string
	// Value is the bound, in the metric's unit.
	Value float64
}

// String renders the threshold as written: "lost == 0".
func (t Threshold) String() string {
	return t.Metric + " " + t.Op + " " + strconv.FormatFloat(t.Value, 'g', -1, 64)
}

// Parse reads one threshold: metric is a name from Metrics, expr an
// operator and a number, e.g. "< 50" or ">=10000".
func Parse(metric, expr string) (Threshold, error) {
	if _, ok := metricTable()[metric]; !ok {
		return Threshold{}, fmt.Errorf("unknown metric %q%s; known metrics: %s", metric, suggest(metric), strings.Join(Metrics(), ", "))
	}
	e := strings.TrimSpace(expr)
	for _, op := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		rest, ok := strings.CutPrefix(e, op)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return Threshold{}, fmt.Errorf("%s: %q: want a number after %q, e.g. \"%s 50\"", metric, expr, op, op)
		}
		return Threshold{Metric: metric, Op: op, Value: v}, nil
	}
	return Threshold{}, fmt.Errorf("%s: %q: want an operator (<, <=, >, >=, ==, !=) and a number, e.g. \"< 50\"", metric, expr)
}

// ParseAll parses a workload's thresholds mapping, in metric order so that
// errors and checks come out stably.
func ParseAll(m map[string]string) ([]Threshold, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Threshold
	for _, k := range keys {
		t, err := Parse(k, m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// holds reports whether v satisfies t.
func (t Threshold) holds(v float64) bool {
	switch t.Op {
	case "<":
		return v < t.Value
	case "<=":
		return v <= t.Value
	case ">":
		return v > t.Value
	case ">=":
		return v >= t.Value
	case "==":
		return v == t.Value
	default:
		return v != t.Value
	}
}

func suggest(metric string) string {
	lower := strings.ToLower(metric)
	for _, m := range Metrics() {
		if strings.ToLower(m) == lower || strings.Contains(strings.ToLower(m), lower) && len(lower) > 3 {
			return fmt.Sprintf(" (did you mean %q?)", m)
		}
	}
	return ""
}

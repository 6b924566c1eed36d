package checkers

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Validity is a verdict's outcome. Like porcupine's Ok/Illegal/Unknown it has
// three values, and Unknown is never a pass: a gate must test
// v == Valid, not v != Invalid.
type Validity int8

// Validity values. The zero value is Unknown so that a verdict nobody filled
// in cannot pass.
const (
	Unknown Validity = iota // a check was inconclusive (timeout, canceled)
	Valid                   // every check ran and no failing anomaly was found
	Invalid                 // at least one anomaly fails under the guarantee
)

// String returns "valid", "invalid" or "unknown".
func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// MarshalJSON encodes true, false or "unknown".
func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON decodes true, false or "unknown".
func (v *Validity) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("valid: want true, false or \"unknown\", got %s", b)
	}
	return nil
}

// Verdict is the result of checking one history. It is plain data, written
// as JSON by brokerbench check --json and read by the gate.
type Verdict struct {
	Valid     Validity `json:"valid"`     // true, false or "unknown"
	Model     string   `json:"model"`     // "log" or "queue"
	Guarantee string   `json:"guarantee"` // the guarantee checked against
	Events    int      `json:"events"`    // events read, header excluded
	// Anomalies maps catalog names (see Catalog) to what was found; only
	// names with a non-zero count appear.
	Anomalies map[string]*Anomaly `json:"anomalies"`
	// Failures lists, sorted, the anomaly names that make the verdict
	// invalid under Guarantee.
	Failures []string `json:"failures"`
	// Inconclusive lists checks that could not finish; any entry makes the
	// verdict unknown unless a failure already made it invalid.
	Inconclusive []Inconclusive `json:"inconclusive,omitempty"`
	// Visualizations are the porcupine HTML files written for partitions
	// found nonlinearizable.
	Visualizations []string `json:"visualizations,omitempty"`
	Stats          Stats    `json:"stats"`
	// CheckNanos is how long checking took, reading included, in ns.
	CheckNanos int64 `json:"checkNanos"`
}

// Anomaly is one catalog anomaly found in a history.
type Anomaly struct {
	Count    int       `json:"count"`    // occurrences; see the catalog for what one occurrence is
	Fails    bool      `json:"fails"`    // whether it fails under the verdict's guarantee
	Examples []Example `json:"examples"` // the first Config.MaxExamples occurrences
}

// Example is one occurrence of an anomaly, with the evidence a person needs
// to find it in the history.
type Example struct {
	Key       string  `json:"key,omitempty"`       // partition or queue
	Values    []int64 `json:"values,omitempty"`    // message values involved
	Offsets   []int64 `json:"offsets,omitempty"`   // offsets involved
	Processes []int   `json:"processes,omitempty"` // processes involved
	Times     []int64 `json:"times,omitempty"`     // event times, ns
	Lines     []int   `json:"lines,omitempty"`     // history lines, 1-based
	Detail    string  `json:"detail"`              // one sentence
}

// Inconclusive is a check that did not finish.
type Inconclusive struct {
	Check  string `json:"check"`         // e.g. "linearizability"
	Key    string `json:"key,omitempty"` // partition concerned
	Reason string `json:"reason"`
}

// Stats counts what a history contained.
type Stats struct {
	Keys        int `json:"keys"`                  // partitions or queues
	Sends       int `json:"sends,omitempty"`       // send or enqueue invocations
	Acked       int `json:"acked"`                 // send or enqueue ok
	Failed      int `json:"failed"`                // send or enqueue fail
	Indefinite  int `json:"indefinite"`            // send or enqueue info, or never completed
	Delivered   int `json:"delivered"`             // records polled or values dequeued
	Nemesis     int `json:"nemesis,omitempty"`     // nemesis events
	Linearized  int `json:"linearized,omitempty"`  // sends checked with porcupine
	Porcupine   int `json:"porcupine,omitempty"`   // porcupine sub-histories checked
	Assignments int `json:"assignments,omitempty"` // assign events
}

// report accumulates anomalies while a checker runs.
type report struct {
	v           *Verdict
	maxExamples int
}

func (r *report) add(name string, ex Example) {
	a := r.v.Anomalies[name]
	if a == nil {
		a = &Anomaly{Examples: []Example{}}
		r.v.Anomalies[name] = a
	}
	a.Count++
	if len(a.Examples) < r.maxExamples {
		a.Examples = append(a.Examples, ex)
	}
}

// finish judges the anomalies under the guarantee and sets Valid.
func (r *report) finish() {
	v := r.v
	v.Failures = []string{}
	for name, a := range v.Anomalies {
		if classOf(name).Fails(guaranteeOf(v.Guarantee)) {
			a.Fails = true
			v.Failures = append(v.Failures, name)
		}
	}
	slices.Sort(v.Failures)
	switch {
	case len(v.Failures) > 0:
		v.Valid = Invalid
	case len(v.Inconclusive) > 0:
		v.Valid = Unknown
	default:
		v.Valid = Valid
	}
}

// WriteJSON writes the verdict as indented JSON.
func (v *Verdict) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode verdict: %w", err)
	}
	return nil
}

// WriteSummary writes a human summary: the outcome, then one line per
// anomaly in catalog order with its first example.
func (v *Verdict) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s history, %d events, checked against %s\n", strings.ToUpper(v.Valid.String()), v.Model, v.Events, v.Guarantee)
	s := v.Stats
	fmt.Fprintf(&b, "  %d keys; %d acknowledged, %d failed, %d indefinite; %d delivered\n", s.Keys, s.Acked, s.Failed, s.Indefinite, s.Delivered)
	for _, info := range catalog {
		a := v.Anomalies[info.Name]
		if a == nil {
			continue
		}
		verdict := "allowed under " + v.Guarantee
		if a.Fails {
			verdict = "FAILS"
		} else if info.Class == Informational {
			verdict = "informational"
		}
		fmt.Fprintf(&b, "  %-21s %8d  %s\n", info.Name, a.Count, verdict)
		for i, ex := range a.Examples {
			if i == 3 {
				fmt.Fprintf(&b, "      ... (%d more in the JSON verdict)\n", len(a.Examples)-3)
				break
			}
			fmt.Fprintf(&b, "      %s\n", ex.Detail)
		}
	}
	for _, in := range v.Inconclusive {
		fmt.Fprintf(&b, "  inconclusive: %s %s: %s\n", in.Check, in.Key, in.Reason)
	}
	for _, p := range v.Visualizations {
		fmt.Fprintf(&b, "  visualization: %s\n", p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

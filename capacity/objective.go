package capacity

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Latency figures an [Objective] may bound.
const (
	// OfEndToEnd bounds the end-to-end latency: from the intended send time
	// to receipt by a consumer (corrected for coordinated omission).
	OfEndToEnd = "endToEnd"
	// OfPublish bounds the publish latency: from the intended send time to
	// the broker's acknowledgement (corrected for coordinated omission).
	OfPublish = "publish"
)

// DefaultMinAchieved is the share of the offered rate a probe must achieve
// to pass: below it the system (or the generator) did not keep up.
const DefaultMinAchieved = 0.99

// Objective is what a rate must meet to count as sustained: a latency
// percentile below a bound, and the achieved rate close to the offered one.
// Latencies are always corrected for coordinated omission (measured from
// the intended send time), so a backlog in the generator counts against
// the system rather than hiding.
type Objective struct {
	// Percentile in (0, 100), e.g. 99 or 99.9.
	Percentile float64 `json:"percentile"`
	// BelowMs is the latency bound in milliseconds; the objective holds
	// when the percentile is strictly below it.
	BelowMs float64 `json:"belowMs"`
	// Of is OfEndToEnd (default) or OfPublish.
	Of string `json:"of"`
	// MinAchieved is the share of the offered rate that must be achieved
	// (acknowledged, and consumed by every subscription), in (0, 1];
	// default DefaultMinAchieved.
	MinAchieved float64 `json:"minAchieved"`
}

// Default fills unset fields: Of end-to-end, MinAchieved 0.99.
func (o *Objective) Default() {
	if o.Of == "" {
		o.Of = OfEndToEnd
	}
	if o.MinAchieved == 0 {
		o.MinAchieved = DefaultMinAchieved
	}
}

// Validate reports the first out-of-range field, naming it as a workload
// key under prefix (e.g. "maxRate.latency.").
func (o Objective) Validate() error {
	switch {
	case !(o.Percentile > 0 && o.Percentile < 100):
		return fmt.Errorf("percentile: must be above 0 and below 100 (e.g. 99), got %v", o.Percentile)
	case !(o.BelowMs > 0) || math.IsInf(o.BelowMs, 0):
		return fmt.Errorf("below: must be a positive latency such as 50ms, got %vms", o.BelowMs)
	case o.Of != OfEndToEnd && o.Of != OfPublish:
		return fmt.Errorf("of: must be %s or %s, got %q", OfEndToEnd, OfPublish, o.Of)
	case !(o.MinAchieved > 0 && o.MinAchieved <= 1):
		return fmt.Errorf("minAchieved: must be a share in (0, 1], e.g. 0.99, got %v", o.MinAchieved)
	}
	return nil
}

// String reads as "p99 end-to-end < 50ms, >= 99% of offered achieved".
func (o Objective) String() string {
	of := "end-to-end"
	if o.Of == OfPublish {
		of = "publish"
	}
	return fmt.Sprintf("p%s %s < %sms, >= %s%% of offered achieved", fmtNum(o.Percentile), of, fmtNum(o.BelowMs), fmtNum(100*o.MinAchieved))
}

// AtLeastAsStrict reports whether meeting o implies meeting other: the
// same latency figure, a percentile at least as high, a bound no looser
// and an achieved share no lower. A rate found under o is then a sound
// (conservative) answer for other.
func (o Objective) AtLeastAsStrict(other Objective) bool {
	return o.Of == other.Of && o.Percentile >= other.Percentile && o.BelowMs <= other.BelowMs && o.MinAchieved >= other.MinAchieved
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// ParseObjective reads an objective written as on the command line:
// "p99<50ms", "p99.9 < 20ms", optionally prefixed with the figure,
// "publish:p99<10ms" or "endToEnd:p99<50ms" (the default). MinAchieved
// gets its default.
func ParseObjective(s string) (Objective, error) {
	o := Objective{Of: OfEndToEnd}
	text := strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if of, rest, ok := strings.Cut(text, ":"); ok {
		switch strings.ToLower(of) {
		case "endtoend", "e2e":
		case "publish":
			o.Of = OfPublish
		default:
			return o, fmt.Errorf("latency objective %q: figure %q must be endToEnd or publish", s, of)
		}
		text = rest
	}
	pct, bound, ok := strings.Cut(text, "<")
	if !ok || !strings.HasPrefix(strings.ToLower(pct), "p") {
		return o, fmt.Errorf("latency objective %q: write it as p99<50ms (percentile, <, duration)", s)
	}
	p, err := strconv.ParseFloat(pct[1:], 64)
	if err != nil {
		return o, fmt.Errorf("latency objective %q: percentile %q is not a number", s, pct[1:])
	}
	d, err := time.ParseDuration(bound)
	if err != nil {
		return o, fmt.Errorf("latency objective %q: bound %q is not a duration such as 50ms", s, bound)
	}
	o.Percentile, o.BelowMs = p, float64(d)/float64(time.Millisecond)
	o.Default()
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("latency objective %q: %w", s, err)
	}
	return o, nil
}

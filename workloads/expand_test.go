package workloads

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string   // workload keys, indented 4 spaces
		names []string // run names in order
	}{
		{
			// No sweep: the workload itself.
			name:  "no sweep",
			body:  lines("    topics: 2"),
			names: []string{"w"},
		},
		{
			// One axis keeps list order.
			name:  "one axis",
			body:  lines("    partitionsPerTopic: [4, 1, 2]"),
			names: []string{"w[partitionsPerTopic=4]", "w[partitionsPerTopic=1]", "w[partitionsPerTopic=2]"},
		},
		{
			// Cartesian product: the first key in the file varies slowest.
			name: "two axes",
			body: lines("    producerRate: [100, 200]", "    partitionsPerTopic: [1, 2]"),
			names: []string{
				"w[producerRate=100,partitionsPerTopic=1]", "w[producerRate=100,partitionsPerTopic=2]",
				"w[producerRate=200,partitionsPerTopic=1]", "w[producerRate=200,partitionsPerTopic=2]",
			},
		},
		{
			// Nested keys and key distributions sweep too, with readable labels.
			name: "nested and distribution axes",
			body: lines("    delivery: {prefetch: [10, 100]}",
				"    keyDistributor: [NO_KEY, {type: ZIPF, exponent: 1.5, keys: 50}]"),
			names: []string{
				"w[delivery.prefetch=10,keyDistributor=NO_KEY]", "w[delivery.prefetch=10,keyDistributor=ZIPF-1.5-k50]",
				"w[delivery.prefetch=100,keyDistributor=NO_KEY]", "w[delivery.prefetch=100,keyDistributor=ZIPF-1.5-k50]",
			},
		},
		{
			// Duration axes are named as written.
			name:  "duration axis",
			body:  lines("    duration: [10s, 1m]"),
			names: []string{"w[duration=10s]", "w[duration=1m]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := mustOne(t, multi(tt.body))
			runs := w.Expand()
			var names []string
			for _, r := range runs {
				names = append(names, r.Name)
				if r.Sweep == nil {
					t.Errorf("%s: Sweep is nil", r.Name)
				}
				if len(r.Sweep) != len(w.SweepKeys) {
					t.Errorf("%s: Sweep %v does not cover SweepKeys %v", r.Name, r.Sweep, w.SweepKeys)
				}
				if err := r.Validate(); err != nil {
					t.Errorf("%s: %v", r.Name, err)
				}
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("run names:\n got %q\nwant %q", names, tt.names)
			}
			if w.Sweep != nil {
				t.Errorf("unexpanded spec has Sweep %v, want nil", w.Sweep)
			}
		})
	}
}

// TestExpandValues checks that each run carries its own values, not just
// its name.
func TestExpandValues(t *testing.T) {
	t.Parallel()
	w := mustOne(t, multi(lines("    producerRate: [100, 200]", "    partitionsPerTopic: [1, 2]",
		"    consumerPerSubscription: 2", "    churn: {interval: 1s, membership: [dynamic, static]}")))
	var got []string
	for _, r := range w.Expand() {
		got = append(got, fmt.Sprintf("%v/%d/%s", r.ProducerRate, r.PartitionsPerTopic, r.Churn.Membership))
		if r.Sweep["partitionsPerTopic"] != fmt.Sprint(r.PartitionsPerTopic) {
			t.Errorf("%s: Sweep %v disagrees with partitions %d", r.Name, r.Sweep, r.PartitionsPerTopic)
		}
	}
	want := []string{"100/1/dynamic", "100/1/static", "100/2/dynamic", "100/2/static",
		"200/1/dynamic", "200/1/static", "200/2/dynamic", "200/2/static"}
	if !slices.Equal(got, want) {
		t.Errorf("runs:\n got %v\nwant %v", got, want)
	}
	if want := []string{"producerRate", "partitionsPerTopic", "churn.membership"}; !slices.Equal(w.SweepKeys, want) {
		t.Errorf("SweepKeys = %v, want %v", w.SweepKeys, want)
	}
}

// TestExpandSharesNoMemory: changing a run must not change the spec or the
// other runs (Churn is a pointer, Idempotent too).
func TestExpandSharesNoMemory(t *testing.T) {
	t.Parallel()
	w := mustOne(t, multi(lines("    consumerPerSubscription: 3", "    churn: {interval: [1s, 2s]}")))
	runs := w.Expand()
	runs[0].Churn.Consumers = 2
	*runs[0].Delivery.Idempotent = false
	runs[0].Systems = append(runs[0].Systems, "kafka")
	if w.Churn.Consumers != 1 || runs[1].Churn.Consumers != 1 {
		t.Errorf("churn shared between runs: spec %d, run 1 %d", w.Churn.Consumers, runs[1].Churn.Consumers)
	}
	if !*runs[1].Delivery.Idempotent || !*w.Delivery.Idempotent {
		t.Error("Delivery.Idempotent shared between runs")
	}
}

// TestExpandAcksIdempotence: sweeping acks gives each run the idempotence
// default of its own acks, unless idempotent is set explicitly.
func TestExpandAcksIdempotence(t *testing.T) {
	t.Parallel()
	w := mustOne(t, multi(lines("    delivery: {acks: [all, \"1\", \"0\"]}")))
	var got []string
	for _, r := range w.Expand() {
		got = append(got, fmt.Sprintf("%s:%v", r.Delivery.Acks, *r.Delivery.Idempotent))
	}
	if want := []string{"all:true", "1:false", "0:false"}; !slices.Equal(got, want) {
		t.Errorf("acks:idempotent = %v, want %v", got, want)
	}
	_, err := parseSrc(t, multi(lines("    delivery: {idempotent: true, acks: [all, \"1\"]}")))
	if err == nil || !strings.Contains(err.Error(), `workload "w[delivery.acks=1]": delivery.idempotent`) {
		t.Errorf("idempotent: true with acks swept over [all, 1]: got %v, want an error naming the acks=1 run", err)
	}
}

// TestExpandDefaultsOverride: a workload's scalar replaces a sweep inherited
// from defaults:, and a workload list replaces a defaults scalar.
func TestExpandDefaultsOverride(t *testing.T) {
	t.Parallel()
	f := mustParse(t, lines("defaults:", "  partitionsPerTopic: [1, 2]",
		"workloads:", "  - name: inherits", "  - name: overrides", "    partitionsPerTopic: 8"))
	counts := map[string]int{}
	for _, w := range f.Workloads {
		counts[w.Name] = len(w.Expand())
	}
	if counts["inherits"] != 2 || counts["overrides"] != 1 {
		t.Errorf("run counts = %v, want inherits 2, overrides 1", counts)
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	f := mustParse(t, lines("workloads:", "  - name: a", "  - name: b", "    topics: [1, 2]"))
	tests := []struct {
		name   string
		found  bool
		topics int
	}{
		{"a", true, 1},           // plain workload
		{"b", true, 1},           // unexpanded spec holds the first run's values
		{"b[topics=2]", true, 2}, // one run of a sweep
		{"b[topics=3]", false, 0},
		{"c", false, 0},
	}
	for _, tt := range tests {
		w, ok := f.Find(tt.name)
		if ok != tt.found || (ok && w.Topics != tt.topics) {
			t.Errorf("Find(%q) = %v, %v; want found %v with topics %d", tt.name, w, ok, tt.found, tt.topics)
		}
	}
}

// TestIdempotenceRequested: only an explicit delivery.idempotent: true
// requests idempotence; the default of acks=all (filled in by the parser
// and by Expand) does not, so adapters where it costs extra (NATS
// de-duplication) leave it off.
func TestIdempotenceRequested(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, delivery string
		want           bool
	}{
		{"acks all default", "    delivery: {acks: all}", false},
		{"no delivery", "    partitionsPerTopic: 2", false},
		{"explicit true", "    delivery: {acks: all, idempotent: true}", true},
		{"explicit false", "    delivery: {acks: all, idempotent: false}", false},
		{"swept acks", "    delivery: {acks: [all, \"1\"]}", false},
		{"explicit with sweep", "    delivery: {idempotent: true, linger: [1ms, 5ms]}", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := mustOne(t, multi(lines(tt.delivery)))
			for _, r := range append([]Workload{w}, w.Expand()...) {
				if got := r.IdempotenceRequested(); got != tt.want {
					t.Errorf("%s: IdempotenceRequested() = %v, want %v", r.Name, got, tt.want)
				}
			}
		})
	}
	code := Workload{Delivery: Delivery{Acks: "all", Idempotent: new(true)}}
	code.Default()
	if !code.IdempotenceRequested() {
		t.Error("a workload made in code with Idempotent set: IdempotenceRequested() = false")
	}
	var def Workload
	def.Default()
	if def.IdempotenceRequested() || !def.Delivery.IdempotentOrDefault() {
		t.Errorf("Default(): IdempotenceRequested() = %v, IdempotentOrDefault() = %v; want the acks=all default, not a request",
			def.IdempotenceRequested(), def.Delivery.IdempotentOrDefault())
	}
}

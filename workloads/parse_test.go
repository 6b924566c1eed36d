package workloads

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, w Workload)
	}{
		{
			// OMB shape with OMB's defaults for what it leaves out.
			name: "omb minimal",
			src: lines("name: omb", "topics: 2", "partitionsPerTopic: 3", "messageSize: 100",
				"producerRate: 50", "testDurationMinutes: 15"),
			check: func(t *testing.T, w Workload) {
				checkFields(t, w, map[string]any{"name": "omb", "topics": 2, "partitionsPerTopic": 3,
					"messageSize": 100, "producerRate": 50.0, "duration": 15 * time.Minute, "warmup": time.Minute,
					"backlogDrainRatio": 1.0, "subscriptionsPerTopic": 1, "consumerPerSubscription": 1,
					"producersPerTopic": 1})
				if w.KeyDistributor.Kind != KeyNone {
					t.Errorf("keyDistributor = %q, want NO_KEY", w.KeyDistributor.Kind)
				}
			},
		},
		{
			// OMB minutes may be fractional; warmup 0 stays 0 instead of the default.
			name: "fractional minutes and explicit zeros",
			src: lines("name: x", "testDurationMinutes: 0.5", "warmupDurationMinutes: 0",
				"backlogDrainRatio: 0", "subscriptionsPerTopic: 0"),
			check: func(t *testing.T, w Workload) {
				checkFields(t, w, map[string]any{"duration": 30 * time.Second, "warmup": time.Duration(0),
					"backlogDrainRatio": 0.0, "subscriptionsPerTopic": 0})
			},
		},
		{
			// Our duration keys with units.
			name: "duration and warmup with units",
			src:  multi(lines("    duration: 1m30s", "    warmup: 500ms")),
			check: func(t *testing.T, w Workload) {
				checkFields(t, w, map[string]any{"duration": 90 * time.Second, "warmup": 500 * time.Millisecond})
			},
		},
		{
			// defaults: merge, the workload's own keys win, nested mappings merge per key.
			name: "defaults merge",
			src: lines("defaults:", "  topics: 3", "  messageSize: 2048", "  delivery: {acks: \"1\", linger: 5ms}",
				"workloads:", "  - name: w", "    messageSize: 512", "    delivery: {compression: zstd}"),
			check: func(t *testing.T, w Workload) {
				checkFields(t, w, map[string]any{"topics": 3, "messageSize": 512})
				d := w.Delivery
				if d.Acks != "1" || d.Linger != 5*time.Millisecond || d.Compression != "zstd" {
					t.Errorf("delivery = %+v, want acks 1, linger 5ms, zstd", d)
				}
				if d.Idempotent == nil || *d.Idempotent {
					t.Errorf("idempotent = %v, want false (acks 1)", d.Idempotent)
				}
			},
		},
		{
			// Delivery defaults, and acks -1 read as all.
			name: "delivery defaults",
			src:  multi(lines("    delivery: {acks: -1}")),
			check: func(t *testing.T, w Workload) {
				want := Delivery{Acks: "all", Compression: "none", MaxInFlight: 1000, CommitMode: "interval",
					CommitInterval: time.Second, Assignor: "cooperative-sticky", StartFrom: "earliest"}
				got := w.Delivery
				if got.Idempotent == nil || !*got.Idempotent || w.IdempotenceRequested() {
					t.Errorf("idempotent = %v (requested %v), want true as the default of acks all, not requested", got.Idempotent, w.IdempotenceRequested())
				}
				got.Idempotent, got.idempotentDefaulted = nil, false
				if got != want {
					t.Errorf("delivery = %+v, want %+v", got, want)
				}
			},
		},
		{
			// OMB's plain string, lower case accepted.
			name: "keyDistributor string",
			src:  multi(lines("    keyDistributor: zipf")),
			check: func(t *testing.T, w Workload) {
				want := KeyDistribution{Kind: KeyZipf, Keys: 1000, Exponent: 1.1}
				if w.KeyDistributor != want {
					t.Errorf("keyDistributor = %+v, want %+v", w.KeyDistributor, want)
				}
			},
		},
		{
			// Our mapping form.
			name: "keyDistributor mapping",
			src:  multi(lines("    keyDistributor: {type: HOT_KEY, hotShare: 0.9, keys: 50}")),
			check: func(t *testing.T, w Workload) {
				want := KeyDistribution{Kind: KeyHot, Keys: 50, HotShare: 0.9}
				if w.KeyDistributor != want {
					t.Errorf("keyDistributor = %+v, want %+v", w.KeyDistributor, want)
				}
			},
		},
		{
			// Churn gets its defaults; interval is given.
			name: "churn",
			src:  multi(lines("    consumerPerSubscription: 3", "    churn: {interval: 5s, membership: static}")),
			check: func(t *testing.T, w Workload) {
				want := Churn{Interval: 5 * time.Second, Leave: "close", Membership: "static", Consumers: 1}
				if w.Churn == nil || *w.Churn != want {
					t.Errorf("churn = %+v, want %+v", w.Churn, want)
				}
			},
		},
		{
			// churn: null turns off churn inherited from defaults.
			name: "churn null overrides defaults",
			src: lines("defaults:", "  consumerPerSubscription: 2", "  churn: {interval: 1s}",
				"workloads:", "  - name: w", "    churn:"),
			check: func(t *testing.T, w Workload) {
				if w.Churn != nil {
					t.Errorf("churn = %+v, want nil", w.Churn)
				}
			},
		},
		{
			// systems and report accept one name or a list.
			name: "systems and report",
			src:  multi(lines("    systems: kafka", "    report: [skew, pauses]")),
			check: func(t *testing.T, w Workload) {
				if fmt.Sprint(w.Systems, w.Report) != "[kafka] [skew pauses]" {
					t.Errorf("systems %v report %v", w.Systems, w.Report)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := mustParse(t, tt.src)
			w := f.Workloads[len(f.Workloads)-1]
			if err := w.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, w)
			}
		})
	}
}

func TestParseMergeKeys(t *testing.T) {
	t.Parallel()
	f := mustParse(t, lines("workloads:", "  - &base", "    name: a", "    topics: 4", "    partitionsPerTopic: 2",
		"  - <<: *base", "    name: w", "    topics: 5"))
	w, ok := f.Find("w")
	if !ok {
		t.Fatalf("workload w not found in %v", f.Names())
	}
	if w.Topics != 5 || w.PartitionsPerTopic != 2 {
		t.Errorf("topics %d partitions %d, want 5 and 2 (merged)", w.Topics, w.PartitionsPerTopic)
	}
}

// checkFields compares the named fields of got with want.
func checkFields(t *testing.T, got Workload, want map[string]any) {
	t.Helper()
	have := map[string]any{
		"name":                    got.Name,
		"topics":                  got.Topics,
		"partitionsPerTopic":      got.PartitionsPerTopic,
		"messageSize":             got.MessageSize,
		"producerRate":            got.ProducerRate,
		"subscriptionsPerTopic":   got.SubscriptionsPerTopic,
		"consumerPerSubscription": got.ConsumerPerSubscription,
		"producersPerTopic":       got.ProducersPerTopic,
		"duration":                got.TestDuration,
		"warmup":                  got.WarmupDuration,
		"backlogDrainRatio":       got.BacklogDrainRatio,
	}
	for k, v := range want {
		h, ok := have[k]
		if !ok {
			t.Fatalf("checkFields: unknown field %q", k)
		}
		if h != v {
			t.Errorf("%s = %v, want %v", k, h, v)
		}
	}
}

func TestParseBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		line int    // line the error must name
		key  string // text the message must contain (normally the key)
		want error  // sentinel
	}{
		{"typo suggests key", multi(lines("    partitonsPerTopic: 4")), 3, `unknown key "partitonsPerTopic" (did you mean "partitionsPerTopic"?)`, ErrUnknownKey},
		{"partitions zero", multi(lines("    topics: 1", "    partitionsPerTopic: 0")), 4, "partitionsPerTopic: must be at least 1, got 0", ErrInvalidValue},
		{"message too small", multi(lines("    messageSize: 16")), 3, "messageSize: must be between 32", ErrInvalidValue},
		{"negative rate", multi(lines("    producerRate: -5")), 3, "producerRate:", ErrInvalidValue},
		{"ratio above 1", multi(lines("    randomBytesRatio: 1.5")), 3, "randomBytesRatio: must be between 0 and 1", ErrInvalidValue},
		{"drain ratio", multi(lines("    backlogDrainRatio: 2")), 3, "backlogDrainRatio:", ErrInvalidValue},
		{"not an int", multi(lines("    topics: many")), 3, `topics: want a whole number, got "many"`, ErrInvalidValue},
		{"list for a single value", multi(lines("    payloadFile: [a, b]")), 3, "payloadFile: want a single value", ErrInvalidValue},
		{"duration and minutes", multi(lines("    duration: 30s", "    testDurationMinutes: 1")), 4, "testDurationMinutes: already set by duration at line 3", ErrDuplicate},
		{"duration without unit", multi(lines("    duration: 30")), 3, `duration: "30" has no unit`, ErrInvalidValue},
		{"minutes with unit", multi(lines("    testDurationMinutes: 30s")), 3, "use duration:", ErrInvalidValue},
		{"zero duration", multi(lines("    duration: 0s")), 3, "duration: the test duration must be positive", ErrInvalidValue},
		{"unknown distribution", multi(lines("    keyDistributor: FOO")), 3, `keyDistributor: unknown distribution "FOO"`, ErrInvalidValue},
		{"zipf exponent", multi(lines("    keyDistributor:", "      type: ZIPF", "      exponent: 0.9")), 5, "keyDistributor.exponent: ZIPF needs an exponent greater than 1", ErrInvalidValue},
		{"hot share", multi(lines("    keyDistributor: {type: HOT_KEY, hotShare: 1.0}")), 3, "keyDistributor.hotShare: must be strictly between 0 and 1", ErrInvalidValue},
		{"hot key needs two keys", multi(lines("    keyDistributor: {type: HOT_KEY, keys: 1}")), 3, "keyDistributor.keys: HOT_KEY needs at least 2 keys", ErrInvalidValue},
		{"exponent on uniform", multi(lines("    keyDistributor: {type: UNIFORM, exponent: 2}")), 3, "keyDistributor.exponent: exponent applies only to ZIPF", ErrInvalidValue},
		{"distribution subkey typo", multi(lines("    keyDistributor:", "      type: ZIPF", "      expnent: 2")), 5, `did you mean "exponent"?`, ErrInvalidValue},
		{"distribution without type", multi(lines("    keyDistributor: {keys: 5}")), 3, "needs a type: key", ErrInvalidValue},
		{"churn needs a group", multi(lines("    churn: {interval: 5s}")), 3, "churn: needs a group to rebalance", ErrInvalidValue},
		{"churn needs interval", multi(lines("    consumerPerSubscription: 2", "    churn: {leave: crash}")), 4, "churn.interval: must be a positive time", ErrInvalidValue},
		{"churn membership", multi(lines("    consumerPerSubscription: 2", "    churn:", "      interval: 1s", "      membership: semi")), 6, `churn.membership: must be one of dynamic, static, got "semi"`, ErrInvalidValue},
		{"churn all consumers", multi(lines("    consumerPerSubscription: 2", "    churn: {interval: 1s, consumers: 2}")), 4, "churn.consumers: must be less than consumerPerSubscription (2)", ErrInvalidValue},
		{"bad acks", multi(lines("    delivery:", "      acks: 2")), 4, `delivery.acks: must be one of all, 1, 0, got "2"`, ErrInvalidValue},
		{"idempotent without acks all", multi(lines("    delivery: {acks: 1, idempotent: true}")), 3, "delivery.idempotent: idempotent producers need acks: all", ErrInvalidValue},
		{"delivery typo", multi(lines("    delivery:", "      compresion: zstd")), 4, `unknown key "delivery.compresion" (did you mean "delivery.compression"?)`, ErrUnknownKey},
		{"delivery key at top", multi(lines("    acks: all")), 3, "it belongs under delivery:", ErrUnknownKey},
		{"delivery not a mapping", multi(lines("    delivery: fast")), 3, "delivery: want a mapping", ErrInvalidValue},
		{"omb fork key", lines("name: x", "producerStartRate: 10"), 2, `key "producerStartRate" comes from an OMB fork`, ErrUnknownKey},
		{"duplicate names", lines("workloads:", "  - name: a", "  - name: a"), 3, `name: "a" already used by the workload at line 2`, ErrDuplicate},
		{"missing name", lines("workloads:", "  - topics: 1"), 2, "name: missing", ErrInvalidValue},
		{"threshold unknown metric", lines("name: x", "thresholds:", "  lost: \"== 0\"", "  lsot: \"== 0\""), 4, `thresholds.lsot: unknown metric "lsot"`, ErrInvalidValue},
		{"threshold bad expression", lines("name: x", "thresholds:", "  publishRate: \"fast\""), 3, "want an operator", ErrInvalidValue},
		{"bad name", lines("workloads:", "  - name: two words"), 2, "name: use letters, digits", ErrInvalidValue},
		{"key twice", multi(lines("    topics: 1", "    topics: 2")), 4, "topics: already set by topics at line 3", ErrDuplicate},
		{"sweep repeats value", multi(lines("    partitionsPerTopic: [1, 2, 1]")), 3, "partitionsPerTopic: value 1 listed twice", ErrDuplicate},
		{"empty sweep", multi(lines("    partitionsPerTopic: []")), 3, "partitionsPerTopic: empty list", ErrInvalidValue},
		{"bad sweep item type", multi(lines("    partitionsPerTopic:", "      - 1", "      - x")), 5, `partitionsPerTopic: want a whole number, got "x"`, ErrInvalidValue},
		{"bad sweep value names run", multi(lines("    messageSize:", "      - 1024", "      - 8")), 5, `workload "w[messageSize=8]": messageSize: must be between`, ErrInvalidValue},
		{"sweep too large", multi(lines("    partitionsPerTopic: ["+seq(40)+"]", "    topics: ["+seq(40)+"]")), 2, "more than 1024 runs", ErrInvalidValue},
		{"unknown system", multi(lines("    systems: [kafak]")), 3, `systems: unknown value "kafak" (did you mean "kafka"?)`, ErrInvalidValue},
		{"unknown report hint", multi(lines("    report: [colour]")), 3, `report: unknown value "colour"`, ErrInvalidValue},
		{"workload key at top level", lines("topics: 1", "workloads:", "  - name: a"), 1, `top-level key "topics" belongs to a workload`, ErrUnknownKey},
		{"unknown top-level key", lines("workload:", "  - name: a", "defaults: {}"), 1, `unknown key "workload" (did you mean "workloads"?)`, ErrUnknownKey},
		{"workloads not a list", lines("workloads: {name: a}"), 1, "workloads: want a non-empty list", ErrInvalidValue},
		{"defaults error", lines("defaults:", "  topics: x", "workloads:", "  - name: a"), 2, "defaults: topics: want a whole number", ErrInvalidValue},
		{"yaml syntax", lines("name: a", "topics: 1", "  bad: 2"), 3, "YAML syntax: mapping values are not allowed", ErrSyntax},
		{"several documents", lines("name: a", "---", "name: b"), 2, "several YAML documents", ErrSyntax},
		{"empty file", "", 0, "file is empty", ErrSyntax},
		{"top level a list", lines("- a", "- b"), 1, "top level must be a mapping", ErrSyntax},
		{"backlog without consumers", lines("name: x", "subscriptionsPerTopic: 0", "consumerBacklogSizeGB: 1"), 3, "a backlog needs consumers", ErrInvalidValue},
		{"pause without backlog", lines("name: x", "pauseProducersDuringDrain: true"), 2, "set consumerBacklogSizeGB too", ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseSrc(t, tt.src)
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q\nsource:\n%s", tt.key, tt.src)
			}
			prefix := testFile + ":"
			if tt.line > 0 {
				prefix = fmt.Sprintf("%s:%d: ", testFile, tt.line)
			}
			for _, fe := range fieldErrors(t, err) {
				if strings.HasPrefix(fe.Error(), prefix) && strings.Contains(fe.Error(), tt.key) {
					if !errors.Is(fe, tt.want) {
						t.Errorf("error %q is not %v", fe, tt.want)
					}
					return
				}
			}
			t.Errorf("no error starts with %q and contains %q; got:\n%v", prefix, tt.key, err)
		})
	}
}

func seq(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(i + 1)
	}
	return strings.Join(s, ", ")
}

// TestParseCollectsAllErrors checks that one bad file reports every problem,
// in line order, rather than stopping at the first.
func TestParseCollectsAllErrors(t *testing.T) {
	t.Parallel()
	src := lines("workloads:",
		"  - name: a",
		"    partitonsPerTopic: 4", // 3: typo
		"    messageSize: 8",       // 4: too small
		"  - name: b",
		"    delivery: {acks: 7}") // 6: bad acks
	_, err := parseSrc(t, src)
	errs := fieldErrors(t, err)
	var got []int
	for _, e := range errs {
		got = append(got, e.Line)
	}
	if fmt.Sprint(got) != "[3 4 6]" {
		t.Errorf("error lines = %v, want [3 4 6]; errors:\n%v", got, err)
	}
	if !strings.Contains(errs[2].Error(), `workload "b"`) {
		t.Errorf("third error %q does not name workload b", errs[2])
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestPayloadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	payload := filepath.Join(dir, "payload", "p.data")
	if err := os.MkdirAll(filepath.Dir(payload), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(payload, make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, payloadFile, want string
		warn                    bool
	}{
		{"relative to the workloads file", "payload/p.data", payload, false},
		{"absolute", payload, payload, false},
		{"missing: generated bytes", "payload/missing.data", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, "w.yaml")
			f, err := Parse(path, []byte(lines("name: x", "payloadFile: "+tt.payloadFile)))
			if err != nil {
				t.Fatal(err)
			}
			w := f.Workloads[0]
			if w.PayloadFile != tt.want {
				t.Errorf("PayloadFile = %q, want %q", w.PayloadFile, tt.want)
			}
			if got := len(w.Warnings) > 0; got != tt.warn {
				t.Errorf("warnings = %q, want warning: %v", w.Warnings, tt.warn)
			}
		})
	}
}

func TestValidateInCode(t *testing.T) {
	t.Parallel()
	var w Workload
	w.Name = "code"
	w.Default()
	if err := w.Validate(); err != nil {
		t.Fatalf("defaulted workload: %v", err)
	}
	w.PartitionsPerTopic = -1
	w.Delivery.Compression = "brotli"
	err := w.Validate()
	errs := fieldErrors(t, err)
	if len(errs) != 2 || !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("got %v, want two invalid-value errors", err)
	}
	if errs[0].Key != "partitionsPerTopic" || errs[1].Key != "delivery.compression" {
		t.Errorf("keys = %q, %q", errs[0].Key, errs[1].Key)
	}
	if got := errs[0].Error(); got != `workload "code": partitionsPerTopic: must be at least 1, got -1` {
		t.Errorf("message = %q", got)
	}
}

package chaos

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func dur(d time.Duration) Duration { return Duration(d) }

func TestFaultSpecValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    FaultSpec
		want string // substring of the error; "" means valid
	}{
		// Valid faults, one per kind, relying on defaults.
		{"kill with restart at once", FaultSpec{Kind: KindKill}, ""},
		{"kill repeated", FaultSpec{Kind: KindKill, Start: dur(5 * time.Second), Interval: dur(10 * time.Second), Duration: dur(2 * time.Second), Repeat: 3}, ""},
		{"pause", FaultSpec{Kind: KindPause, Duration: dur(time.Second)}, ""},
		{"latency with jitter", FaultSpec{Kind: KindLatency, Target: RoleConsumers, Duration: dur(time.Second), Latency: dur(50 * time.Millisecond), Jitter: dur(10 * time.Millisecond)}, ""},
		{"bandwidth downstream", FaultSpec{Kind: KindBandwidth, Direction: DirDownstream, Duration: dur(time.Second), BytesPerSecond: 100_000}, ""},
		{"blackhole forever", FaultSpec{Kind: KindBlackhole, Duration: dur(time.Second), Interval: dur(5 * time.Second), Repeat: RepeatForever}, ""},
		{"reset upstream", FaultSpec{Kind: KindReset, Direction: DirUpstream, Duration: dur(time.Second)}, ""},
		{"down producers", FaultSpec{Kind: KindDown, Target: RoleProducers, Duration: dur(time.Second)}, ""},
		{"crash two consumers", FaultSpec{Kind: KindCrash, Target: RoleConsumers, Count: 2}, ""},

		// Invalid: each row names the key the message must point at.
		{"unknown kind", FaultSpec{Kind: "explode"}, `kind: unknown kind "explode"`},
		{"missing kind", FaultSpec{}, `kind: unknown kind ""`},
		{"network target", FaultSpec{Kind: KindBlackhole, Target: "broker", Duration: dur(time.Second)}, "target: \"broker\" is not a network target"},
		{"bad direction", FaultSpec{Kind: KindReset, Direction: "sideways", Duration: dur(time.Second)}, "direction: \"sideways\""},
		{"down with direction", FaultSpec{Kind: KindDown, Direction: DirUpstream, Duration: dur(time.Second)}, "down proxy cuts both directions"},
		{"kill with direction", FaultSpec{Kind: KindKill, Direction: DirBoth}, "only network faults have a direction"},
		{"crash without target", FaultSpec{Kind: KindCrash}, "target: crash needs target"},
		{"crash with duration", FaultSpec{Kind: KindCrash, Target: RoleProducers, Duration: dur(time.Second)}, "crash is instantaneous"},
		{"network without duration", FaultSpec{Kind: KindBlackhole}, "duration: required"},
		{"pause without duration", FaultSpec{Kind: KindPause}, "duration: required"},
		{"negative start", FaultSpec{Kind: KindKill, Start: dur(-time.Second)}, "start: must not be negative"},
		{"negative duration", FaultSpec{Kind: KindKill, Duration: dur(-time.Second)}, "duration: must not be negative"},
		{"repeat without interval", FaultSpec{Kind: KindKill, Repeat: 3}, "interval: required with repeat 3"},
		{"interval not above duration", FaultSpec{Kind: KindPause, Repeat: 2, Interval: dur(time.Second), Duration: dur(time.Second)}, "must be greater than duration"},
		{"repeat below -1", FaultSpec{Kind: KindKill, Repeat: -2}, "repeat: must be a positive count or -1"},
		{"latency missing", FaultSpec{Kind: KindLatency, Duration: dur(time.Second)}, "latency: required"},
		{"latency sub-ms", FaultSpec{Kind: KindLatency, Duration: dur(time.Second), Latency: dur(1500 * time.Microsecond)}, "finer than the 1ms resolution"},
		{"jitter above latency", FaultSpec{Kind: KindLatency, Duration: dur(time.Second), Latency: dur(time.Millisecond), Jitter: dur(2 * time.Millisecond)}, "jitter: must be between 0 and latency"},
		{"latency on kill", FaultSpec{Kind: KindKill, Latency: dur(time.Millisecond)}, "latency: only for kind latency"},
		{"bandwidth too low", FaultSpec{Kind: KindBandwidth, Duration: dur(time.Second), BytesPerSecond: 10}, "bytesPerSecond: required, at least 1000"},
		{"rate on reset", FaultSpec{Kind: KindReset, Duration: dur(time.Second), BytesPerSecond: 5000}, "bytesPerSecond: only for kind bandwidth"},
		{"count on kill", FaultSpec{Kind: KindKill, Count: 2}, "count: only for kind crash"},
		{"negative count", FaultSpec{Kind: KindCrash, Target: RoleConsumers, Count: -1}, "count: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.f.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error %v does not wrap ErrInvalidSpec", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSpecValidateNamesEveryBadFault(t *testing.T) {
	t.Parallel()
	s := Spec{Recovery: dur(-time.Second), Faults: []FaultSpec{
		{Kind: KindKill},
		{Kind: KindBlackhole},
		{Kind: KindCrash},
	}}
	err := s.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{"recovery: must not be negative", "faults[1]: ", "faults[2]: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "faults[0]") {
		t.Errorf("error %q blames the valid faults[0]", err)
	}
}

func TestParseSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want string // error substring; "" means valid
	}{
		{"issue example", `
faults:
  - {kind: kill, target: broker, start: 5s, interval: 10s, duration: 2s, repeat: 3}
  - {kind: blackhole, target: consumers, direction: downstream, start: 3s, duration: 1s}
  - {kind: latency, target: all, latency: 50ms, jitter: 5ms, duration: 4s}
  - {kind: crash, target: consumers, count: 2, start: 7s}
recovery: 15s
`, ""},
		{"empty", `faults: []`, ""},
		{"unknown fault key", "faults:\n  - {kind: kill, delay: 5s}\n", `line 2: fault: unknown key "delay"`},
		{"unknown top key", "faults: []\nrecover: 5s\n", `line 2: chaos: unknown key "recover"`},
		{"duplicate key", "faults:\n  - {kind: kill, kind: pause}\n", `key "kind" given twice`},
		{"duration without unit", "faults:\n  - {kind: kill, start: 5}\n", `line 2: duration "5" has no unit`},
		{"bad duration", "faults:\n  - {kind: kill, start: soon}\n", `want a duration such as 5s`},
		{"fault not a mapping", "faults: [kill]\n", "fault: want a mapping, got a scalar"},
		{"bad repeat type", "faults:\n  - {kind: kill, repeat: many}\n", "many"},
		{"invalid after decoding", "faults:\n  - {kind: pause}\n", "duration: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSpec([]byte(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseSpec: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseSpec = %+v, want an error containing %q", s, tt.want)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error %v does not wrap ErrInvalidSpec", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSpec error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseSpecValues(t *testing.T) {
	t.Parallel()
	s, err := ParseSpec([]byte(`
faults:
  - {kind: kill, start: 5s, interval: 10s, duration: 2s, repeat: 3}
  - {kind: latency, target: producers, latency: 50ms, jitter: 5ms, duration: 4s}
`))
	if err != nil {
		t.Fatal(err)
	}
	d := s.Default()
	k := d.Faults[0]
	if k.Target != TargetBroker || k.Start.D() != 5*time.Second || k.Interval.D() != 10*time.Second || k.Duration.D() != 2*time.Second || k.Repeat != 3 {
		t.Errorf("kill fault decoded as %+v", k)
	}
	if d.Recovery.D() != DefaultRecovery {
		t.Errorf("Recovery = %v, want default %v", d.Recovery, DefaultRecovery)
	}
	if got, want := d.Faults[1].String(), "latency producers both 50ms+-5ms"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if end, ok := s.End(); !ok || end != 27*time.Second {
		t.Errorf("End() = %v, %v; want 27s (5s + 2*10s + 2s), true", end, ok)
	}
}

func TestFaultSpecString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    FaultSpec
		want string
	}{
		{FaultSpec{Kind: KindKill}, "kill broker"},
		{FaultSpec{Kind: KindPause, Target: "redis"}, "pause redis"},
		{FaultSpec{Kind: KindBlackhole, Target: RoleConsumers}, "blackhole consumers both"},
		{FaultSpec{Kind: KindReset, Direction: DirDownstream}, "reset all downstream"},
		{FaultSpec{Kind: KindDown, Target: RoleProducers}, "down producers"},
		{FaultSpec{Kind: KindBandwidth, BytesPerSecond: 64000}, "bandwidth all both 64000B/s"},
		{FaultSpec{Kind: KindLatency, Latency: dur(20 * time.Millisecond)}, "latency all both 20ms"},
		{FaultSpec{Kind: KindCrash, Target: RoleConsumers}, "crash 1 consumers"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestSpecEndForever(t *testing.T) {
	t.Parallel()
	s := Spec{Faults: []FaultSpec{{Kind: KindPause, Duration: dur(time.Second), Interval: dur(3 * time.Second), Repeat: RepeatForever}}}
	if _, ok := s.End(); ok {
		t.Error("End() ok = true for a fault that repeats forever")
	}
}

package systems

import (
	"strings"
	"testing"
)

// TestRegistry checks the declarations themselves: unique names and
// flags, an opener each, and env prefixes that follow
// BROKERBENCH_<SYSTEM>_ so every system's variables read alike.
func TestRegistry(t *testing.T) {
	t.Parallel()
	names, flags := map[string]bool{}, map[string]bool{}
	for _, s := range All() {
		if s.Name == "" || names[s.Name] || s.Open == nil || s.Notes == "" || s.ConnectionHelp() == "" {
			t.Errorf("bad or duplicate declaration %+v", s)
		}
		names[s.Name] = true
		if s.EnvPrefix != "" && s.EnvPrefix != "BROKERBENCH_"+strings.ToUpper(s.Name)+"_" {
			t.Errorf("%s: EnvPrefix %q, want BROKERBENCH_%s_", s.Name, s.EnvPrefix, strings.ToUpper(s.Name))
		}
		for _, f := range s.Flags {
			if flags[f.Name] || !strings.HasPrefix(f.Name, s.Name+"-") || f.Key == "" || s.EnvPrefix == "" {
				t.Errorf("%s: bad or duplicate flag %+v", s.Name, f)
			}
			flags[f.Name] = true
		}
		if got, ok := Lookup(s.Name); !ok || got.Name != s.Name {
			t.Errorf("Lookup(%q) = %v, %v", s.Name, got.Name, ok)
		}
	}
	if _, ok := Lookup("kafak"); ok {
		t.Error("Lookup found an undeclared system")
	}
	if got := strings.Join(Owners(), ","); got != "refbroker,redis" {
		t.Errorf("Owners() = %s, want refbroker,redis", got)
	}
}

// TestMappingFor: a run's mapping is its adapter's variant for the run's
// capabilities; refbroker, served by the Kafka adapter, gets Kafka's.
func TestMappingFor(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
		if s.Capabilities == nil {
			continue
		}
		for _, v := range s.Capabilities() {
			if m := MappingFor(s.Name, v.Capabilities); m == nil || *m != v.Mapping {
				t.Errorf("%s %s: mapping %+v, want %+v", s.Name, v.Label, m, v.Mapping)
			}
		}
	}
	kafka, _ := Lookup("kafka")
	v := kafka.Capabilities()[0]
	if m := MappingFor("refbroker", v.Capabilities); m == nil || *m != v.Mapping {
		t.Errorf("refbroker: mapping %+v, want Kafka's %+v", m, v.Mapping)
	}
}

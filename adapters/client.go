package adapters

// ClientSetting is one setting an adapter used to drive its system, as an
// operator of that system would ask about it when judging a benchmark:
// "producer connections: 2 (4 channels each)", "XREADGROUP COUNT: 64".
type ClientSetting struct {
	// Name of the setting, in the system's own vocabulary.
	Name string `json:"name"`
	// Value is the effective value, after the adapter's defaults.
	Value string `json:"value"`
	// Reason says in one line why the adapter chose it when the workload
	// did not, with its source where there is one; empty when the
	// workload set it.
	Reason string `json:"reason,omitempty"`
}

// ClientReporter is implemented by adapters that can say how they drive
// their system for producers and consumers made with the given configs:
// the effective client settings after the adapter's defaults. Adapters
// compute it with the same code that opens producers and consumers, so
// that what the report says is what was done. The result of a run
// records it (results.Meta.Client) and the report's systems page shows
// it, so a comparison says how each system was driven. A config with an
// empty ID stands for a run without producers (or consumers): nothing is
// reported for it.
type ClientReporter interface {
	ClientSettings(p ProducerConfig, c ConsumerConfig) []ClientSetting
}

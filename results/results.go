// Package results defines the result file of one (workload, system) run and
// reads and writes it.
//
// A result is one JSON document. Its OpenMessaging Benchmark fields keep
// OMB's names, units and meaning, so OMB's chart scripts read our files; the
// extra fields carry what OMB lacks: coordinated-omission-corrected
// latencies, timestamps per sample, error and delivery counts, per-partition
// counts, rebalance events, encoded HDR histograms and run metadata. The
// schema is documented in docs/results.md and versioned by [SchemaVersion].
//
// Reports read only these files, so a report can be redrawn from results
// alone.
package results

import (
	"time"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/capacity"
	"github.com/brokerbench/brokerbench/metrics"
)

// SchemaVersion is the version of the result format written by this code.
// Readers accept files with a lower or equal version.
const SchemaVersion = 1

// Status says how a run ended.
type Status string

const (
	// StatusOK: the run completed and its figures are valid.
	StatusOK Status = "ok"
	// StatusDegraded: the run completed but did not do what the workload
	// asked (rate, consumers, generator); StatusReasons say what. Its
	// figures are measured but describe a different load.
	StatusDegraded Status = "degraded"
	// StatusFailed: the run could not complete, or its sends or
	// deliveries failed (see StatusReasons; Error holds a run error).
	// Figures recorded before the failure are kept.
	StatusFailed Status = "failed"
	// StatusInterrupted: the run was stopped on request (Ctrl-C); its
	// figures are partial.
	StatusInterrupted Status = "interrupted"
	// StatusNotApplicable: the system lacks a capability the workload
	// needs; Error gives the reason. No figures.
	StatusNotApplicable Status = "not-applicable"
)

// Result is one (workload, system) run. Latencies are in milliseconds
// unless a field says otherwise; rates are per second.
type Result struct {
	// SchemaVersion of this file (see the constant).
	SchemaVersion int `json:"schemaVersion"`
	// Status of the run.
	Status Status `json:"status"`
	// Error explains a failed or not-applicable run.
	Error string `json:"error,omitempty"`
	// StatusReasons say why Status is not ok, one per rule that fired
	// (see [Judge]); empty for ok and not-applicable runs.
	StatusReasons []Reason `json:"statusReasons,omitempty"`
	// OfferedRate is the open-loop rate the workload offered, msg/s over
	// all producers; 0 for a closed loop.
	OfferedRate float64 `json:"offeredRate"`
	// Generator is the load generator's own health; nil in results
	// written before it was measured, and for runs that never started.
	Generator *Generator `json:"generator,omitempty"`

	// --- OMB TestResult fields (names, units and meaning as in OMB) ---

	// Workload is the workload name, with sweep values for expanded runs.
	Workload string `json:"workload"`
	// Driver is the system name ("refbroker", "kafka", ...).
	Driver string `json:"driver"`
	// MessageSize in bytes, including the 32-byte brokerbench header.
	MessageSize int `json:"messageSize"`
	// Topics, Partitions (per topic), ProducersPerTopic and
	// ConsumersPerTopic (all subscriptions) as run.
	Topics            int `json:"topics"`
	Partitions        int `json:"partitions"`
	ProducersPerTopic int `json:"producersPerTopic"`
	ConsumersPerTopic int `json:"consumersPerTopic"`

	// PublishRate, PublishErrorRate and ConsumeRate are msg/s per sample
	// interval; Backlog is messages sent but not yet received, summed over
	// subscriptions, at the end of each interval (client-side).
	PublishRate      []float64 `json:"publishRate"`
	PublishErrorRate []float64 `json:"publishErrorRate"`
	ConsumeRate      []float64 `json:"consumeRate"`
	Backlog          []int64   `json:"backlog"`

	// Publish latency per interval, from the actual send to the ack (OMB's
	// meaning), in ms.
	PublishLatencyAvg     []float64 `json:"publishLatencyAvg"`
	PublishLatency50pct   []float64 `json:"publishLatency50pct"`
	PublishLatency75pct   []float64 `json:"publishLatency75pct"`
	PublishLatency95pct   []float64 `json:"publishLatency95pct"`
	PublishLatency99pct   []float64 `json:"publishLatency99pct"`
	PublishLatency999pct  []float64 `json:"publishLatency999pct"`
	PublishLatency9999pct []float64 `json:"publishLatency9999pct"`
	PublishLatencyMax     []float64 `json:"publishLatencyMax"`

	// Publish delay per interval: how late each send started relative to
	// its intended time, in microseconds (OMB's unit for this field).
	PublishDelayLatencyAvg   []float64 `json:"publishDelayLatencyAvg"`
	PublishDelayLatency50pct []int64   `json:"publishDelayLatency50pct"`
	PublishDelayLatency99pct []int64   `json:"publishDelayLatency99pct"`
	PublishDelayLatencyMax   []int64   `json:"publishDelayLatencyMax"`

	// Aggregated publish latency over the measured phase (OMB's meaning:
	// from the actual send), in ms.
	AggregatedPublishLatencyAvg     float64 `json:"aggregatedPublishLatencyAvg"`
	AggregatedPublishLatency50pct   float64 `json:"aggregatedPublishLatency50pct"`
	AggregatedPublishLatency75pct   float64 `json:"aggregatedPublishLatency75pct"`
	AggregatedPublishLatency95pct   float64 `json:"aggregatedPublishLatency95pct"`
	AggregatedPublishLatency99pct   float64 `json:"aggregatedPublishLatency99pct"`
	AggregatedPublishLatency999pct  float64 `json:"aggregatedPublishLatency999pct"`
	AggregatedPublishLatency9999pct float64 `json:"aggregatedPublishLatency9999pct"`
	AggregatedPublishLatencyMax     float64 `json:"aggregatedPublishLatencyMax"`
	// AggregatedPublishDelayLatency50pct/99pct/Max in microseconds.
	AggregatedPublishDelayLatencyAvg   float64 `json:"aggregatedPublishDelayLatencyAvg"`
	AggregatedPublishDelayLatency50pct int64   `json:"aggregatedPublishDelayLatency50pct"`
	AggregatedPublishDelayLatency99pct int64   `json:"aggregatedPublishDelayLatency99pct"`
	AggregatedPublishDelayLatencyMax   int64   `json:"aggregatedPublishDelayLatencyMax"`
	// AggregatedPublishLatencyQuantiles maps a percentile ("99.9") to ms.
	AggregatedPublishLatencyQuantiles map[string]float64 `json:"aggregatedPublishLatencyQuantiles"`

	// End-to-end latency per interval, from the actual send to receipt by a
	// consumer, in ms, measured on one clock (no skew).
	EndToEndLatencyAvg     []float64 `json:"endToEndLatencyAvg"`
	EndToEndLatency50pct   []float64 `json:"endToEndLatency50pct"`
	EndToEndLatency75pct   []float64 `json:"endToEndLatency75pct"`
	EndToEndLatency95pct   []float64 `json:"endToEndLatency95pct"`
	EndToEndLatency99pct   []float64 `json:"endToEndLatency99pct"`
	EndToEndLatency999pct  []float64 `json:"endToEndLatency999pct"`
	EndToEndLatency9999pct []float64 `json:"endToEndLatency9999pct"`
	EndToEndLatencyMax     []float64 `json:"endToEndLatencyMax"`

	AggregatedEndToEndLatencyAvg     float64 `json:"aggregatedEndToEndLatencyAvg"`
	AggregatedEndToEndLatency50pct   float64 `json:"aggregatedEndToEndLatency50pct"`
	AggregatedEndToEndLatency75pct   float64 `json:"aggregatedEndToEndLatency75pct"`
	AggregatedEndToEndLatency95pct   float64 `json:"aggregatedEndToEndLatency95pct"`
	AggregatedEndToEndLatency99pct   float64 `json:"aggregatedEndToEndLatency99pct"`
	AggregatedEndToEndLatency999pct  float64 `json:"aggregatedEndToEndLatency999pct"`
	AggregatedEndToEndLatency9999pct float64 `json:"aggregatedEndToEndLatency9999pct"`
	AggregatedEndToEndLatencyMax     float64 `json:"aggregatedEndToEndLatencyMax"`
	// AggregatedEndToEndLatencyQuantiles maps a percentile to ms.
	AggregatedEndToEndLatencyQuantiles map[string]float64 `json:"aggregatedEndToEndLatencyQuantiles"`

	// --- brokerbench extensions ---

	// Scenario is the workload's name without sweep values, grouping the
	// runs of one sweep.
	Scenario string `json:"scenario"`
	// Sweep holds the swept keys and their values for this run, e.g.
	// {"partitionsPerTopic": "4"}; empty when the workload has no sweep.
	Sweep map[string]string `json:"sweep,omitempty"`
	// Report lists the workload's report hints ("per-partition", "skew",
	// "pauses", ...), telling reports which figures matter.
	Report []string `json:"report,omitempty"`

	// Latency holds the summaries that matter most, including the
	// coordinated-omission-corrected ones. See [Latencies].
	Latency Latencies `json:"latency"`
	// Samples is the per-interval time series with timestamps.
	Samples []Sample `json:"samples"`
	// Counts are the run's delivery and error counters.
	Counts Counts `json:"counts"`
	// PartitionsDetail has one entry per topic-partition.
	PartitionsDetail []Partition `json:"partitionsDetail"`
	// Events are rebalances, consumer churn and phase changes, in order.
	Events []Event `json:"events"`
	// Pauses are consumption pauses per partition (rebalance storms).
	Pauses []Pause `json:"pauses"`
	// Backlog is the backlog build and drain of a consumerBacklogSizeGB
	// workload; nil for other workloads.
	BacklogPhase *BacklogPhase `json:"backlogPhase,omitempty"`
	// Histograms are the cumulative HDR histograms of the measured phase,
	// V2 compressed and base64 encoded, values in microseconds.
	Histograms Histograms `json:"histograms"`
	// Verdict is the checkers' verdict on the run's recorded history; nil
	// when the run recorded none.
	Verdict *Verdict `json:"verdict,omitempty"`
	// Repeat places the run among the repetitions of its (workload,
	// system) and carries their summary; nil for a single run (see
	// [Repeat]).
	Repeat *Repeat `json:"repeat,omitempty"`
	// Steadiness flags a trend or change point in the measured phase's
	// rates; nil in files written before it was checked.
	Steadiness *Steadiness `json:"steadiness,omitempty"`
	// Shard marks one shard's result of a distributed run, to be merged
	// (docs/distributed.md); nil otherwise, also in a merged result.
	Shard *Shard `json:"shard,omitempty"`
	// Capacity is the saturation search of a maxRate workload: objective,
	// every probe, the found rate across repetitions (docs/capacity.md).
	// The rest of the result is then the confirmation run at the found
	// rate. Nil for other workloads.
	Capacity *capacity.Record `json:"capacity,omitempty"`
	// Meta is the run metadata.
	Meta Meta `json:"meta"`
	// Spec is the concrete workload as run, for reproduction.
	Spec any `json:"spec"`
}

// Verdict summarises a history check (the full verdict is in its own file,
// see docs/checkers.md).
type Verdict struct {
	// Valid is "valid", "invalid" or "unknown"; unknown is never a pass.
	Valid string `json:"valid"`
	// Model ("log" or "queue") and Guarantee checked against.
	Model     string `json:"model"`
	Guarantee string `json:"guarantee"`
	// Anomalies counts each anomaly found, by catalog name.
	Anomalies map[string]int `json:"anomalies,omitempty"`
	// Failures lists the anomalies that fail under the guarantee.
	Failures []string `json:"failures,omitempty"`
	// Inconclusive lists checks that could not finish, with the reason.
	Inconclusive []string `json:"inconclusive,omitempty"`
	// History, VerdictFile and Visualizations are file names relative to
	// the result file's folder: the recorded history, the full JSON
	// verdict, and porcupine visualizations of nonlinearizable partitions.
	History        string   `json:"history"`
	VerdictFile    string   `json:"verdictFile"`
	Visualizations []string `json:"visualizations,omitempty"`
}

// Latencies are the cumulative latency summaries of the measured phase.
type Latencies struct {
	// Publish is from the intended send time to the ack: corrected for
	// coordinated omission. This is the honest figure for an open-loop run.
	Publish metrics.Summary `json:"publish"`
	// PublishFromSend is from the actual send to the ack (OMB's figure).
	PublishFromSend metrics.Summary `json:"publishFromSend"`
	// PublishDelay is how late sends started relative to their schedule.
	PublishDelay metrics.Summary `json:"publishDelay"`
	// EndToEnd is from the intended send time to receipt (corrected).
	EndToEnd metrics.Summary `json:"endToEnd"`
	// EndToEndFromSend is from the actual send to receipt (OMB's figure).
	EndToEndFromSend metrics.Summary `json:"endToEndFromSend"`
	// RedeliveryDelay is, for queue workloads, the time from a delivery to
	// the next delivery of the same message (release or crash to
	// redelivery).
	RedeliveryDelay metrics.Summary `json:"redeliveryDelay"`
	// OutOfRange counts latencies above one hour, which are not in the
	// histograms (never clamped).
	OutOfRange int64 `json:"outOfRange"`
}

// Sample is one interval of the run: warm-up and the final drain are
// flagged (Warmup, Phase "drain") and excluded from measured figures.
type Sample struct {
	// Time is the end of the interval (RFC 3339, nanoseconds).
	Time time.Time `json:"time"`
	// Elapsed is seconds since the start of the measured phase; negative
	// during warm-up.
	Elapsed float64 `json:"elapsed"`
	// Warmup marks samples taken during warm-up.
	Warmup bool `json:"warmup,omitempty"`
	// Phase names the backlog phase ("build", "drain") where relevant.
	Phase string `json:"phase,omitempty"`
	// PublishRate, ConsumeRate in msg/s; PublishMBps, ConsumeMBps in MB/s
	// (10^6 bytes).
	PublishRate float64 `json:"publishRate"`
	ConsumeRate float64 `json:"consumeRate"`
	PublishMBps float64 `json:"publishMBps"`
	ConsumeMBps float64 `json:"consumeMBps"`
	// ErrorRate is failed sends per second.
	ErrorRate float64 `json:"errorRate"`
	// Backlog is the client-side backlog: sent (acked) times subscriptions
	// minus received, in messages.
	Backlog int64 `json:"backlog"`
	// InFlight is sends not yet acknowledged.
	InFlight int64 `json:"inFlight"`
	// BrokerLag is the lag the broker reports, summed over partitions and
	// subscriptions; -1 when the system does not report lag.
	BrokerLag int64 `json:"brokerLag"`
	// Publish and EndToEnd are this interval's latency summaries
	// corrected for coordinated omission (from the intended send time);
	// PublishFromSend and EndToEndFromSend are from the actual send;
	// PublishDelay is how late sends started. All in ms.
	Publish          metrics.Summary `json:"publish"`
	PublishFromSend  metrics.Summary `json:"publishFromSend"`
	PublishDelay     metrics.Summary `json:"publishDelay"`
	EndToEnd         metrics.Summary `json:"endToEnd"`
	EndToEndFromSend metrics.Summary `json:"endToEndFromSend"`
}

// Measured reports whether the sample belongs to the measured phase: not
// warm-up, and not the drain after producers stopped (backlog build and
// drain phases are measured).
func (s Sample) Measured() bool { return !s.Warmup && s.Phase != PhaseDrain }

// PhaseDrain is the Phase of samples taken after the producers stopped:
// flushing their last sends and draining what was acknowledged.
const PhaseDrain = "drain"

// Counts are totals over the whole run (warm-up included, since a lost
// message is lost whenever it was sent).
type Counts struct {
	// Sent is the number of sends attempted; Acked of those acknowledged;
	// Failed of those that reported an error.
	Sent   int64 `json:"sent"`
	Acked  int64 `json:"acked"`
	Failed int64 `json:"failed"`
	// Late counts sends that started more than 1 ms after their intended
	// time: the load generator or the in-flight limit fell behind.
	Late int64 `json:"late"`
	// Received counts deliveries over all subscriptions, duplicates
	// included.
	Received int64 `json:"received"`
	// Duplicates counts deliveries of a message the subscription had
	// already received (redeliveries).
	Duplicates int64 `json:"duplicates"`
	// OutOfOrder counts deliveries whose sequence number was lower than an
	// earlier delivery from the same producer on the same partition and
	// subscription.
	OutOfOrder int64 `json:"outOfOrder"`
	// OrderPromised says whether the system promised per-partition order
	// for this run (ordered partitions, no queue mode); OutOfOrder is an
	// anomaly only then, and otherwise just a measurement.
	OrderPromised bool `json:"orderPromised"`
	// Lost counts acknowledged messages never received by a subscription
	// by the end of the drain, summed over subscriptions.
	Lost int64 `json:"lost"`
	// Unexpected counts deliveries without a valid brokerbench header.
	Unexpected int64 `json:"unexpected"`
	// Rebalances counts assignment changes reported by consumers.
	Rebalances int64 `json:"rebalances"`
	// Drained is true when every acknowledged message was received by
	// every subscription before the drain timeout.
	Drained bool `json:"drained"`

	// Queue workloads only (zero otherwise):

	// Released counts deliveries the consumers released for redelivery
	// (the workload's release share and every poison delivery).
	Released int64 `json:"released,omitempty"`
	// Redelivered counts deliveries of a message the subscription had
	// been delivered before (after a release, a crash or a lock expiry).
	Redelivered int64 `json:"redelivered,omitempty"`
	// PoisonAcked counts acknowledged poison messages: never accepted by
	// design, they should all end dead-lettered (per subscription).
	PoisonAcked int64 `json:"poisonAcked,omitempty"`
	// DeadLettered is the number of messages in the dead-letter
	// destinations at the end, as the system reports it; -1 when the
	// system has none or cannot count it.
	DeadLettered int64 `json:"deadLettered,omitempty"`
}

// Partition is the per-partition detail of one topic-partition.
type Partition struct {
	// Topic and Partition identify it.
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Sent is messages acknowledged into the partition (whole run).
	Sent int64 `json:"sent"`
	// Received is deliveries from the partition over all subscriptions.
	Received int64 `json:"received"`
	// MeasuredSent is acknowledged messages during the measured phase,
	// the basis of per-partition throughput.
	MeasuredSent int64 `json:"measuredSent"`
	// Rate is MeasuredSent per second of the measured phase.
	Rate float64 `json:"rate"`
	// BrokerLag is the last broker-reported lag, summed over
	// subscriptions; -1 when unknown.
	BrokerLag int64 `json:"brokerLag"`
	// ClientLag is acknowledged minus received for the partition, per
	// subscription summed, at the end of the measured phase.
	ClientLag int64 `json:"clientLag"`
}

// Event is something that happened during the run.
type Event struct {
	// Time of the event.
	Time time.Time `json:"time"`
	// Elapsed is seconds since the start of the measured phase.
	Elapsed float64 `json:"elapsed"`
	// Kind is one of "warmup-end", "consumer-leave", "consumer-crash",
	// "consumer-join", "assigned", "revoked", "backlog-built",
	// "backlog-drained", "producers-stopped".
	Kind string `json:"kind"`
	// Consumer is the consumer id, where relevant.
	Consumer string `json:"consumer,omitempty"`
	// Partitions involved, where relevant.
	Partitions []int32 `json:"partitions,omitempty"`
	// Detail is free text.
	Detail string `json:"detail,omitempty"`
	// Generation is, on an "assigned" event, the consumer group generation
	// of the assignment, where the system has generations (Kafka); 0
	// otherwise.
	Generation int32 `json:"generation,omitempty"`
}

// BacklogPhase is what a backlog workload measured before its measured
// phase: producers built a backlog with no consumer running, then the
// consumers started at Built and drained it to the floor by Drained
// (docs/workloads.md, OMB's consumerBacklogSizeGB). A distributed run's
// shards share both instants (the coordinator's), so merging sums the
// counts and the figures equal one machine's.
type BacklogPhase struct {
	// Built is when the backlog had reached its size and the consumers
	// started; Drained when it had fallen to the drain floor (Built when
	// backlogDrainRatio is 0: nothing is waited for).
	Built   time.Time `json:"built"`
	Drained time.Time `json:"drained"`
	// BuiltMessages is the client-side backlog at Built and LeftMessages
	// at Drained, summed over subscriptions.
	BuiltMessages int64 `json:"builtMessages"`
	LeftMessages  int64 `json:"leftMessages"`
	// Consumed is the distinct messages the subscriptions received from
	// Built to Drained (producers keep sending meanwhile).
	Consumed int64 `json:"consumed"`
}

// DrainSeconds is the time the consumers took to drain the backlog to
// its floor.
func (b BacklogPhase) DrainSeconds() float64 { return b.Drained.Sub(b.Built).Seconds() }

// DrainRate is the consumers' msg/s while they drained the backlog; 0
// when the drain took no time.
func (b BacklogPhase) DrainRate() float64 {
	if s := b.DrainSeconds(); s > 0 {
		return float64(b.Consumed) / s
	}
	return 0
}

// Pause is an interval in which a partition delivered nothing to a
// subscription although messages were waiting.
type Pause struct {
	// Subscription and Partition identify the stream that paused.
	Subscription string `json:"subscription"`
	Partition    int32  `json:"partition"`
	// Start of the pause and its length in seconds.
	Start    time.Time `json:"start"`
	Elapsed  float64   `json:"elapsed"`
	Duration float64   `json:"duration"`
}

// Histograms are encoded HDR histograms (microseconds).
type Histograms struct {
	Publish          string `json:"publish"`
	PublishFromSend  string `json:"publishFromSend"`
	PublishDelay     string `json:"publishDelay"`
	EndToEnd         string `json:"endToEnd"`
	EndToEndFromSend string `json:"endToEndFromSend"`
	RedeliveryDelay  string `json:"redeliveryDelay,omitempty"`
}

// Meta is run metadata.
type Meta struct {
	// Tool is "brokerbench <version>"; Revision the VCS revision, if known.
	Tool     string `json:"tool"`
	Revision string `json:"revision,omitempty"`
	// Started and Finished bound the whole run.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Warmup and Duration are the configured phases in seconds;
	// MeasuredSeconds is the actual length of the measured phase.
	Warmup          float64 `json:"warmup"`
	Duration        float64 `json:"duration"`
	MeasuredSeconds float64 `json:"measuredSeconds"`
	// System describes the system under test.
	System adapters.Info `json:"system"`
	// Capabilities of the system.
	Capabilities adapters.Capabilities `json:"capabilities"`
	// Mapping says what the workload's topic, partition, subscription,
	// member, ack and commit were on the system (its adapter's mapping for
	// these capabilities); nil when unknown.
	Mapping *adapters.Mapping `json:"mapping,omitempty"`
	// Durability is the level the workload asked for and the one the
	// system was found to give the run's topics, with the evidence; nil
	// for results written before it existed or runs that never created
	// their topics.
	Durability *adapters.DurabilityReport `json:"durability,omitempty"`
	// Client lists the effective client settings the adapter drove the
	// system with (adapters.ClientReporter), with the reasons for its
	// defaults; nil when the adapter does not say.
	Client []adapters.ClientSetting `json:"client,omitempty"`
	// Host describes the machine that ran the load.
	Host Host `json:"host"`
	// Warnings are non-fatal notes (missing payload file, ...).
	Warnings []string `json:"warnings,omitempty"`
}

// Host describes the load-generating machine.
type Host struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"goVersion"`
	CPUModel  string `json:"cpuModel,omitempty"`
	MemoryMB  int64  `json:"memoryMB,omitempty"`
}

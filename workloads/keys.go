package workloads

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// keySpec describes one key a workload mapping accepts.
type keySpec struct {
	// canon is the key's identity for sweeps, line lookup and "given twice"
	// checks when two spellings set one field (testDurationMinutes and
	// duration); "" means the key itself.
	canon string
	// sweep: a list value expands into one run per item.
	sweep bool
	set   setter
	// label renders one sweep value for run names; nil = the scalar text.
	label func(n *yaml.Node) string
	// nested is the key table of a mapping-valued key (delivery, churn).
	nested map[string]keySpec
	// prepare runs before a nested mapping is applied (creates Churn).
	prepare func(w *Workload)
}

// workloadKeys is the table of workload-level keys. It is rebuilt per parse
// rather than kept in a package variable, so nothing global is mutable.
func workloadKeys() map[string]keySpec {
	i := func(f func(*Workload) *int) keySpec { return keySpec{sweep: true, set: intField(f)} }
	fl := func(f func(*Workload) *float64) keySpec { return keySpec{sweep: true, set: floatField(f)} }
	return map[string]keySpec{
		// OMB keys.
		"name":                      {set: stringField(func(w *Workload) *string { return &w.Name }, false)},
		"topics":                    i(func(w *Workload) *int { return &w.Topics }),
		"partitionsPerTopic":        i(func(w *Workload) *int { return &w.PartitionsPerTopic }),
		"messageSize":               i(func(w *Workload) *int { return &w.MessageSize }),
		"payloadFile":               {set: stringField(func(w *Workload) *string { return &w.PayloadFile }, false)},
		"useRandomizedPayloads":     {sweep: true, set: boolField(func(w *Workload) *bool { return &w.UseRandomizedPayloads })},
		"randomBytesRatio":          fl(func(w *Workload) *float64 { return &w.RandomBytesRatio }),
		"randomizedPayloadPoolSize": i(func(w *Workload) *int { return &w.RandomizedPayloadPoolSize }),
		"subscriptionsPerTopic":     i(func(w *Workload) *int { return &w.SubscriptionsPerTopic }),
		"consumerPerSubscription":   i(func(w *Workload) *int { return &w.ConsumerPerSubscription }),
		"producersPerTopic":         i(func(w *Workload) *int { return &w.ProducersPerTopic }),
		"producerRate":              fl(func(w *Workload) *float64 { return &w.ProducerRate }),
		"keyDistributor":            {sweep: true, set: setKeyDistribution, label: keyDistributionLabel},
		"consumerBacklogSizeGB":     fl(func(w *Workload) *float64 { return &w.ConsumerBacklogSizeGB }),
		"backlogDrainRatio":         fl(func(w *Workload) *float64 { return &w.BacklogDrainRatio }),
		"pauseProducersDuringDrain": {sweep: true, set: boolField(func(w *Workload) *bool { return &w.PauseProducersDuringDrain })},
		"testDurationMinutes": {canon: "duration", sweep: true,
			set: minutesField(func(w *Workload) *time.Duration { return &w.TestDuration }, "duration")},
		"warmupDurationMinutes": {canon: "warmup", sweep: true,
			set: minutesField(func(w *Workload) *time.Duration { return &w.WarmupDuration }, "warmup")},
		// Extensions.
		"description":        {set: stringField(func(w *Workload) *string { return &w.Description }, false)},
		"duration":           {sweep: true, set: durationField(func(w *Workload) *time.Duration { return &w.TestDuration })},
		"warmup":             {sweep: true, set: durationField(func(w *Workload) *time.Duration { return &w.WarmupDuration })},
		"systems":            {set: listField(func(w *Workload) *[]string { return &w.Systems })},
		"report":             {set: listField(func(w *Workload) *[]string { return &w.Report })},
		"thresholds":         {set: setThresholds},
		"guarantee":          {set: stringField(func(w *Workload) *string { return &w.Guarantee }, true)},
		"history":            {set: boolField(func(w *Workload) *bool { return &w.History })},
		"durability":         {sweep: true, set: stringField(func(w *Workload) *string { return &w.Durability }, true)},
		"durabilityRequired": {set: boolField(func(w *Workload) *bool { return &w.DurabilityRequired })},
		"delivery":           {nested: deliveryKeys()},
		"churn":              {nested: churnKeys(), prepare: ensureChurn},
		"queue":              {nested: queueKeys(), prepare: ensureQueue},
		"maxRate":            {nested: maxRateKeys(), prepare: ensureMaxRate},
		"chaos":              {set: setChaos},
	}
}

func deliveryKeys() map[string]keySpec {
	d := func(w *Workload) *Delivery { return &w.Delivery }
	str := func(f func(*Delivery) *string) keySpec {
		return keySpec{sweep: true, set: stringField(func(w *Workload) *string { return f(d(w)) }, true)}
	}
	dur := func(f func(*Delivery) *time.Duration) keySpec {
		return keySpec{sweep: true, set: durationField(func(w *Workload) *time.Duration { return f(d(w)) })}
	}
	i := func(f func(*Delivery) *int) keySpec {
		return keySpec{sweep: true, set: intField(func(w *Workload) *int { return f(d(w)) })}
	}
	return map[string]keySpec{
		"acks":           {sweep: true, set: setAcks},
		"idempotent":     {sweep: true, set: setIdempotent},
		"linger":         dur(func(d *Delivery) *time.Duration { return &d.Linger }),
		"batchBytes":     i(func(d *Delivery) *int { return &d.BatchBytes }),
		"compression":    str(func(d *Delivery) *string { return &d.Compression }),
		"maxInFlight":    i(func(d *Delivery) *int { return &d.MaxInFlight }),
		"commitMode":     str(func(d *Delivery) *string { return &d.CommitMode }),
		"commitInterval": dur(func(d *Delivery) *time.Duration { return &d.CommitInterval }),
		"prefetch":       i(func(d *Delivery) *int { return &d.Prefetch }),
		"assignor":       str(func(d *Delivery) *string { return &d.Assignor }),
		"sessionTimeout": dur(func(d *Delivery) *time.Duration { return &d.SessionTimeout }),
		"startFrom":      str(func(d *Delivery) *string { return &d.StartFrom }),
	}
}

func churnKeys() map[string]keySpec {
	c := func(w *Workload) *Churn { ensureChurn(w); return w.Churn }
	return map[string]keySpec{
		"interval": {sweep: true, set: durationField(func(w *Workload) *time.Duration { return &c(w).Interval })},
		"leave":    {sweep: true, set: stringField(func(w *Workload) *string { return &c(w).Leave }, true)},
		"membership": {sweep: true,
			set: stringField(func(w *Workload) *string { return &c(w).Membership }, true)},
		"downtime":  {sweep: true, set: durationField(func(w *Workload) *time.Duration { return &c(w).Downtime })},
		"consumers": {sweep: true, set: intField(func(w *Workload) *int { return &c(w).Consumers })},
	}
}

func queueKeys() map[string]keySpec {
	q := func(w *Workload) *Queue { ensureQueue(w); return w.Queue }
	return map[string]keySpec{
		"release":       {sweep: true, set: floatField(func(w *Workload) *float64 { return &q(w).Release })},
		"poison":        {sweep: true, set: floatField(func(w *Workload) *float64 { return &q(w).Poison })},
		"maxDeliveries": {sweep: true, set: intField(func(w *Workload) *int { return &q(w).MaxDeliveries })},
		"deadLetter":    {sweep: true, set: boolField(func(w *Workload) *bool { return &q(w).DeadLetter })},
		"processing":    {sweep: true, set: durationField(func(w *Workload) *time.Duration { return &q(w).Processing })},
	}
}

func ensureQueue(w *Workload) {
	if w.Queue == nil {
		w.Queue = &Queue{}
	}
}

// ombForkKeys are keys found in forks of OMB (and older OMB versions) that
// brokerbench does not implement. They get a specific message instead of a
// spelling suggestion, because they are not typos.
func ombForkKeys() map[string]string {
	return map[string]string{
		"producerStartRate":                  "rate discovery",
		"acceptableBacklog":                  "rate discovery",
		"producerIncrementRate":              "stepped producer rates",
		"producerIncrementSeconds":           "stepped producer rates",
		"messageRateReceivedForSubscription": "filtered subscriptions",
		"producerPauseBeforeDrain":           "producer pauses around a backlog drain",
		"producerPauseDuringDrain":           "producer pauses around a backlog drain",
	}
}

func ensureChurn(w *Workload) {
	if w.Churn == nil {
		w.Churn = &Churn{}
		w.Churn.Default()
	}
}

func setIdempotent(w *Workload, n *yaml.Node) error {
	v, err := parseBool(n)
	if err == nil {
		w.Delivery.Idempotent, w.Delivery.idempotentDefaulted = &v, false
	}
	return err
}

// setAcks reads acks as written in Kafka configs; -1 is Kafka's synonym
// for all and is stored as "all" so consumers of Delivery see one spelling.
func setAcks(w *Workload, n *yaml.Node) error {
	v, err := scalar(n)
	if err != nil {
		return err
	}
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "-1" {
		v = "all"
	}
	w.Delivery.Acks = v
	return nil
}

func setKeyDistribution(w *Workload, n *yaml.Node) error {
	d, err := decodeKeyDistribution(n)
	if err == nil {
		w.KeyDistributor = d
	}
	return err
}

func keyDistributionLabel(n *yaml.Node) string {
	d, err := decodeKeyDistribution(n)
	if err != nil {
		return "?"
	}
	return d.Label()
}

// unknownKeyMsg explains an unknown key: a spelling suggestion from known,
// or where the key belongs if it is a known key of another level (hint).
func unknownKeyMsg(key string, known []string, prefix string) string {
	msg := fmt.Sprintf("unknown key %q", prefix+key)
	if s := suggest(key, known); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", prefix+s)
	}
	return msg + "; known keys: " + strings.Join(sortedCopy(known), ", ")
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func keysOf(m map[string]keySpec) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// suggest returns the known key nearest to key by edit distance, ignoring
// case, if it is close enough to be a plausible typo.
func suggest(key string, known []string) string {
	best, bestDist := "", 1<<30
	lk := strings.ToLower(key)
	for _, k := range sortedCopy(known) {
		d := editDistance(lk, strings.ToLower(k))
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	limit := 2 + len(key)/6
	if bestDist <= limit {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes. Key
// names are short, so the O(len(a)·len(b)) table is fine; long inputs from
// a fuzzer are capped to keep it cheap.
func editDistance(a, b string) int {
	const maxLen = 64
	if len(a) > maxLen {
		a = a[:maxLen]
	}
	if len(b) > maxLen {
		b = b[:maxLen]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

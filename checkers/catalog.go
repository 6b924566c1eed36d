package checkers

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// Class says how an anomaly is judged under each delivery guarantee.
type Class uint8

// Anomaly classes.
const (
	// Loss: an acknowledged message was not delivered. Fails under
	// at-least-once and exactly-once; counted but allowed under at-most-once.
	Loss Class = iota + 1
	// Duplicate: a message was stored or delivered twice. Allowed under
	// at-least-once; fails under exactly-once and at-most-once.
	Duplicate
	// Violation: a broken promise under every guarantee (order, a value from
	// nowhere, a log that is not a log).
	Violation
	// Informational: reported, never fails.
	Informational
)

// String names the class as in docs/checkers.md.
func (c Class) String() string {
	switch c {
	case Loss:
		return "loss"
	case Duplicate:
		return "duplicate"
	case Violation:
		return "violation"
	case Informational:
		return "informational"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Fails reports whether an anomaly of class c makes a history invalid under
// guarantee g (GuaranteeUnknown is at-least-once).
func (c Class) Fails(g history.Guarantee) bool {
	switch c {
	case Loss:
		return g != history.AtMostOnce
	case Duplicate:
		return g == history.ExactlyOnce || g == history.AtMostOnce
	case Violation:
		return true
	}
	return false
}

// AnomalyInfo describes one anomaly of the stable catalog. Names never
// change meaning; docs/checkers.md is generated from this table and a test
// keeps the two identical.
type AnomalyInfo struct {
	Name       string          // stable identifier, as in verdicts and JUnit
	Models     []history.Model // models whose checker reports it
	Class      Class           // how guarantees judge it
	Definition string          // one paragraph, Markdown
	Example    string          // a minimal history excerpt (JSON Lines)
}

// catalog is never modified; Catalog hands out copies.
var catalog = []AnomalyInfo{
	{Name: "lost-write", Models: logOnly, Class: Loss,
		Definition: "A send was acknowledged at offset O, its value was never polled, yet some poll of the same partition returned an offset greater than O: the log moved past the message without it.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}
{"time":3,"process":0,"type":"invoke","f":"send","key":"t/0","value":2}
{"time":4,"process":0,"type":"ok","f":"send","key":"t/0","value":2,"offset":1}
{"time":5,"process":1,"type":"ok","f":"poll","value":{"t/0":[[1,2]]}}`},
	{Name: "unseen", Models: logOnly, Class: Loss,
		Definition: "A send was acknowledged, and by the end of the history (taken as after the final drain) no poll returned its value, nor any later offset of its partition.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}`},
	{Name: "duplicate", Models: logOnly, Class: Duplicate,
		Definition: "One value appears at two or more offsets of its partition (from polls and the send's acknowledgement): the message was stored twice, typically a retried non-idempotent send.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}
{"time":3,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,1],[1,1]]}}`},
	{Name: "inconsistent-offsets", Models: logOnly, Class: Violation,
		Definition: "Two different values were observed at one offset of a partition (by polls, or by a poll and a send's acknowledgement).",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}
{"time":3,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,7]]}}`},
	{Name: "unexpected", Models: both, Class: Violation,
		Definition: "A polled (log) or dequeued (queue) value that was never sent to that partition or enqueued at all; or (queue) dequeued from a queue it was neither enqueued to nor dead-lettered to (a `reject` naming that `deadLetter` queue, or naming none) before the dequeue.",
		Example:    `{"time":1,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,42]]}}`},
	{Name: "aborted-read", Models: both, Class: Violation,
		Definition: "A polled or dequeued value whose send or enqueue completed with `fail`, which means it definitely did not happen.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"fail","f":"send","key":"t/0","value":1}
{"time":3,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,1]]}}`},
	{Name: "poll-skip", Models: logOnly, Class: Violation,
		Definition: "Between two consecutive records a process polled from one partition, with no `assign` by that process in between, there is an offset that some poll (by any process) returned or some send was acknowledged at, and that was in the log when the process polled past it (a send of its value had been invoked by then): the consumer jumped over a message. An offset whose values were all sent after the jump was appended behind the consumer, which is the broker's `realtime-offset`, not a skip.",
		Example: `{"time":1,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,1],[1,2],[2,3]]}}
{"time":2,"process":2,"type":"ok","f":"poll","value":{"t/0":[[0,1],[2,3]]}}`},
	{Name: "nonmonotonic-poll", Models: logOnly, Class: Violation,
		Definition: "A process polled an offset lower than or equal to the previous offset it polled from the same partition, with no `assign` by that process in between: the consumer went back.",
		Example: `{"time":1,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,1],[1,2]]}}
{"time":2,"process":1,"type":"ok","f":"poll","value":{"t/0":[[1,2]]}}`},
	{Name: "nonmonotonic-send", Models: logOnly, Class: Violation,
		Definition: "A process invoked two sends to one partition and the later one was acknowledged at a lower offset.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"invoke","f":"send","key":"t/0","value":2}
{"time":3,"process":0,"type":"ok","f":"send","key":"t/0","value":2,"offset":0}
{"time":4,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":1}`},
	{Name: "realtime-order", Models: logOnly, Class: Violation,
		Definition: "Send A was acknowledged before send B to the same partition was invoked, yet A got the higher offset.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":5}
{"time":3,"process":1,"type":"invoke","f":"send","key":"t/0","value":2}
{"time":4,"process":1,"type":"ok","f":"send","key":"t/0","value":2,"offset":4}`},
	{Name: "future-read", Models: logOnly, Class: Violation,
		Definition: "A poll returned a value before the send of that value was invoked (the poll completed first): the broker served a message it had not been given yet, as a reused topic or a previous incarnation's data would.",
		Example: `{"time":1,"process":1,"type":"ok","f":"poll","value":{"t/0":[[0,1]]}}
{"time":2,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":3,"process":0,"type":"ok","f":"send","key":"t/0","value":1,"offset":0}`},
	{Name: "realtime-offset", Models: logOnly, Class: Violation,
		Definition: "Offset O of a partition was observed (a poll returned it, or a send was acknowledged at it) before the send of value B was invoked, yet B is at an offset below O (polled there, or acknowledged there): the log grew behind its own tail. Pairs of two acknowledgements are `realtime-order`; every other pair is counted here, once per value B.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"send","key":"t/0","value":1}
{"time":2,"process":0,"type":"info","f":"send","key":"t/0","value":1}
{"time":3,"process":1,"type":"ok","f":"poll","value":{"t/0":[[5,1]]}}
{"time":4,"process":2,"type":"invoke","f":"send","key":"t/0","value":2}
{"time":5,"process":2,"type":"ok","f":"send","key":"t/0","value":2,"offset":3}`},
	{Name: "stale-offset", Models: logOnly, Class: Duplicate,
		Definition: "After an `assign`, a member of a consumer group first polled a partition below the group's last successfully committed offset for it (a `commit` ok, by any member): the group re-read what it had committed, as a broker serving stale committed offsets makes it. A process's group is the `group` of its latest `assign` or `commit`; without one, all consumers of a history are one group. Counted under at-least-once, where re-reads are allowed.",
		Example: `{"time":1,"process":1,"type":"ok","f":"assign","group":"g","value":["t/0"]}
{"time":2,"process":1,"type":"ok","f":"commit","group":"g","value":{"t/0":5}}
{"time":3,"process":2,"type":"ok","f":"assign","group":"g","value":["t/0"]}
{"time":4,"process":2,"type":"ok","f":"poll","value":{"t/0":[[3,4]]}}`},
	{Name: "nonlinearizable", Models: logOnly, Class: Violation,
		Definition: "porcupine found no linearization of a partition's sends against an append-only log (state: tail offset and a running hash of the values appended). Acknowledged sends and `info` sends whose value was polled take part with their offsets; an `info` send that was never polled may not have happened and is left out. The HTML visualization is written next to the verdict. A porcupine timeout makes the verdict `unknown`, never valid.",
		Example:    `(the realtime-order example above is also nonlinearizable)`},
	{Name: "lost", Models: queueOnly, Class: Loss,
		Definition: "An enqueue was confirmed (`ok`), and by the end of the history (taken as after the final drain) no delivery of its value was acked, it was not rejected (dead-lettered), and it is not in flight: it was never dequeued, or its last delivery was nacked and never redelivered, or its last delivery went to a consumer that crashed (`dequeue` `info`) before settling it and it was never redelivered.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"enqueue","key":"q","value":1}
{"time":2,"process":0,"type":"ok","f":"enqueue","key":"q","value":1}`},
	{Name: "duplicated", Models: queueOnly, Class: Duplicate,
		Definition: "A value was delivered (dequeue ok) more than once, not counting one redelivery after each `nack` of it or crash of the consumer holding it unsettled, nor one delivery from its dead-letter destination after a `reject`. The count is of values; examples give the number of deliveries.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"enqueue","key":"q","value":1}
{"time":2,"process":0,"type":"ok","f":"enqueue","key":"q","value":1}
{"time":3,"process":1,"type":"ok","f":"dequeue","key":"q","value":1}
{"time":4,"process":1,"type":"ok","f":"dequeue","key":"q","value":1}`},
	{Name: "recovered", Models: queueOnly, Class: Informational,
		Definition: "A value whose enqueue ended `info` (or never completed) was dequeued: the publish did happen. Counted as in Jepsen's total-queue checker; never a failure.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"enqueue","key":"q","value":1}
{"time":2,"process":0,"type":"info","f":"enqueue","key":"q","value":1}
{"time":3,"process":1,"type":"ok","f":"dequeue","key":"q","value":1}`},
	{Name: "fifo-order", Models: queueOnly, Class: Violation,
		Definition: "On a queue with a single consumer process and no `nack`, value A was confirmed before value B's enqueue was invoked, yet B was dequeued before A. Queues with several consumers or requeues promise no order and are not checked.",
		Example: `{"time":1,"process":0,"type":"invoke","f":"enqueue","key":"q","value":1}
{"time":2,"process":0,"type":"ok","f":"enqueue","key":"q","value":1}
{"time":3,"process":0,"type":"invoke","f":"enqueue","key":"q","value":2}
{"time":4,"process":0,"type":"ok","f":"enqueue","key":"q","value":2}
{"time":5,"process":1,"type":"ok","f":"dequeue","key":"q","value":2}
{"time":6,"process":1,"type":"ok","f":"dequeue","key":"q","value":1}`},
}

var (
	logOnly   = []history.Model{history.ModelLog}
	queueOnly = []history.Model{history.ModelQueue}
	both      = []history.Model{history.ModelLog, history.ModelQueue}
)

// Catalog returns every anomaly the checkers report, in documentation order.
// The result is a copy and may be modified.
func Catalog() []AnomalyInfo {
	out := slices.Clone(catalog)
	for i := range out {
		out[i].Models = slices.Clone(out[i].Models)
	}
	return out
}

// Lookup returns the catalog entry named name.
func Lookup(name string) (AnomalyInfo, bool) {
	for _, a := range catalog {
		if a.Name == name {
			return a, true
		}
	}
	return AnomalyInfo{}, false
}

// classOf returns the class of a catalog name; an unknown name is a
// programming error caught by tests, treated as a violation to fail safe.
func classOf(name string) Class {
	if a, ok := Lookup(name); ok {
		return a.Class
	}
	return Violation
}

// WriteCatalogMarkdown writes the anomaly catalog as the Markdown section
// embedded in docs/checkers.md.
func WriteCatalogMarkdown(w io.Writer) error {
	var b strings.Builder
	for _, a := range catalog {
		models := make([]string, len(a.Models))
		for i, m := range a.Models {
			models[i] = m.String()
		}
		fmt.Fprintf(&b, "### `%s`\n\n", a.Name)
		fmt.Fprintf(&b, "- Model: %s\n", strings.Join(models, ", "))
		fmt.Fprintf(&b, "- Class: %s; fails under: %s\n\n", a.Class, failingGuarantees(a.Class))
		fmt.Fprintf(&b, "%s\n\n", a.Definition)
		if strings.HasPrefix(a.Example, "{") {
			fmt.Fprintf(&b, "```json\n%s\n```\n\n", a.Example)
		} else {
			fmt.Fprintf(&b, "Example: %s\n\n", a.Example)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func failingGuarantees(c Class) string {
	var out []string
	for _, g := range []history.Guarantee{history.AtLeastOnce, history.ExactlyOnce, history.AtMostOnce} {
		if c.Fails(g) {
			out = append(out, g.String())
		}
	}
	if len(out) == 0 {
		return "none (informational)"
	}
	return strings.Join(out, ", ")
}

package checkers

import (
	"context"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// status is a send's or enqueue's outcome.
type status uint8

const (
	pending status = iota // invoked, not completed (treated as info)
	acked                 // ok
	failed                // fail: definitely did not happen
	unsure                // info: may or may not have happened
)

// sendOp is one send (invoke and completion), in invoke order.
type sendOp struct {
	value    int64
	offset   int64 // acknowledged offset; -1 unless acked
	invoke   int64 // ns
	complete int64 // ns; meaningless while pending
	key      int32
	proc     int32
	line     int32 // invoke line
	doneLine int32 // completion line
	status   status
}

// pollRec is one polled record, or an assign marker (key < 0), in history
// order.
type pollRec struct {
	offset int64
	value  int64
	time   int64
	key    int32
	proc   int32
	line   int32
}

// obs is one observation of "value at offset" in a partition: from a poll
// (src >= 0, an index into recs) or a send's acknowledgement (src < 0,
// -src-1 indexes sends).
type obs struct {
	offset int64
	value  int64
	src    int32
}

// partition gathers what concerns one topic-partition.
type partition struct {
	name          string
	id            int32
	sends         []int32 // indices into logChecker.sends
	obs           []obs
	polledOffsets []int64 // distinct, ascending
	maxPolled     int64   // -1 when never polled
	// known holds every offset observed (polled or acknowledged), ascending,
	// and existed the earliest invoke of a send of a value seen there
	// (math.MinInt64 for a value never sent to the partition): the offset
	// cannot have existed before that time. poll-skip uses both.
	known   []int64
	existed minTree
}

// logChecker checks log-model histories. It keeps compact per-event records
// (tens of bytes each) so a million-event history fits comfortably in memory.
type logChecker struct {
	name    string
	cfg     Config
	keys    map[string]int32
	parts   []*partition
	opTable // sends, by value
	recs    []pollRec
	assigns int
	commits []commitRec
	// groupAt holds the group named by the assign marker at an index of
	// recs, when it names one.
	groupAt  map[int32]string
	polledIn []bool          // per send: its value was polled in its own partition
	polledAt map[int32]int64 // unacknowledged sends polled: lowest offset seen
}

func newLogChecker(cfg Config, name string) *logChecker {
	return &logChecker{name: name, cfg: cfg, keys: map[string]int32{}, opTable: newOpTable("send", "key")}
}

func (c *logChecker) key(k string) int32 {
	id, ok := c.keys[k]
	if !ok {
		id = int32(len(c.parts))
		c.keys[k] = id
		c.parts = append(c.parts, &partition{name: k, id: id, maxPolled: -1})
	}
	return id
}

func (c *logChecker) add(e *history.Event) error {
	switch e.F {
	case history.Send:
		if e.Type == history.Invoke {
			return c.invokeSend(e)
		}
		return c.completeSend(e)
	case history.Poll:
		if e.Type == history.OK {
			for _, r := range e.Records {
				c.recs = append(c.recs, pollRec{offset: r.Offset, value: r.Value, time: e.Time,
					key: c.key(r.Key), proc: int32(e.Process), line: int32(e.Line)})
			}
		}
	case history.Assign:
		if e.Type == history.OK {
			c.assigns++
			if e.Group != "" {
				if c.groupAt == nil {
					c.groupAt = map[int32]string{}
				}
				c.groupAt[int32(len(c.recs))] = e.Group
			}
			c.recs = append(c.recs, pollRec{key: -1, proc: int32(e.Process), time: e.Time, line: int32(e.Line)})
		}
	case history.Commit:
		if e.Type == history.OK {
			for _, ko := range e.Commits {
				c.commits = append(c.commits, commitRec{pos: int32(len(c.recs)), key: c.key(ko.Key), offset: ko.Offset,
					proc: int32(e.Process), line: int32(e.Line), group: e.Group})
			}
		}
	}
	// Nemesis events do not affect the log checks.
	return nil
}

func (c *logChecker) invokeSend(e *history.Event) error {
	return c.invoke(c.name, e, c.key(e.Key))
}

func (c *logChecker) completeSend(e *history.Event) error {
	return c.complete(c.name, e, func(k int32) string { return c.parts[k].name })
}

func (c *logChecker) finish(ctx context.Context, r *report) error {
	c.index(r)
	for _, p := range c.parts {
		c.checkOffsets(p, r)
		c.checkValues(p, r)
	}
	c.checkLosses(r)
	c.checkPolls(r)
	c.checkStaleOffsets(r)
	c.checkSendOrder(r)
	for _, p := range c.parts {
		c.checkRealtime(p, r)
		c.checkRealtimeOffsets(p, r)
	}
	return c.checkLinearizable(ctx, r)
}

// index fills the per-partition views and the stats.
func (c *logChecker) index(r *report) {
	st := &r.v.Stats
	st.Keys, st.Sends, st.Assignments = len(c.parts), len(c.ops), c.assigns
	for i := range c.ops {
		s := &c.ops[i]
		p := c.parts[s.key]
		p.sends = append(p.sends, int32(i))
		switch s.status {
		case acked:
			st.Acked++
			p.obs = append(p.obs, obs{offset: s.offset, value: s.value, src: -int32(i) - 1})
		case failed:
			st.Failed++
		default:
			st.Indefinite++
		}
	}
	for i, rec := range c.recs {
		if rec.key < 0 {
			continue
		}
		st.Delivered++
		p := c.parts[rec.key]
		p.obs = append(p.obs, obs{offset: rec.offset, value: rec.value, src: int32(i)})
		p.maxPolled = max(p.maxPolled, rec.offset)
	}
	c.polledIn = make([]bool, len(c.ops))
	c.polledAt = map[int32]int64{}
}

package checkers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/brokerbench/brokerbench/checkers/history"
)

// simBroker writes a random log-model history through history.Writer: three
// producers and two consumers over two partitions of an in-memory log, with
// faults injected at small rates so that every log anomaly shows up in some
// seeds. It is the input of the differential test.
type simBroker struct {
	rng       *rand.Rand
	w         *history.Writer
	keys      []string
	logs      [][]int64 // per key: value at each offset (-1: a gap)
	pending   []simSend
	producers []int
	nextProc  int
	nextValue int64
	pos       map[[2]int]int // (consumer, key) -> next offset
	committed []int          // per key: the group's committed offset
	faulty    bool           // inject faults; otherwise end with a full drain
}

// fault reports, when faults are on, true with probability 1/n.
func (s *simBroker) fault(n int) bool { return s.faulty && s.rng.IntN(n) == 0 }

type simSend struct {
	proc  int
	key   int
	value int64
}

func genLogHistory(seed uint64, steps int, faulty bool) []byte {
	var buf bytes.Buffer
	var clock int64
	s := &simBroker{
		rng:       rand.New(rand.NewPCG(seed, 42)),
		keys:      []string{"t/0", "t/1"},
		logs:      make([][]int64, 2),
		producers: []int{0, 1, 2},
		nextProc:  3,
		pos:       map[[2]int]int{},
		committed: make([]int, 2),
		faulty:    faulty,
	}
	s.w = history.NewWriter(&buf, history.Header{Model: history.ModelLog}, history.WithClock(func() int64 {
		clock += int64(s.rng.IntN(3)) // equal times happen: intervals are closed
		return clock
	}))
	for range steps {
		switch x := s.rng.IntN(100); {
		case x < 30:
			s.invoke()
		case x < 60:
			s.complete()
		case x < 88:
			s.poll(100 + s.rng.IntN(2))
		case x < 92:
			s.commit(100 + s.rng.IntN(2))
		default:
			c := 100 + s.rng.IntN(2)
			s.w.Assign(c, s.keys)
			for k := range s.keys {
				p := s.rng.IntN(len(s.logs[k]) + 1)
				if !s.fault(3) {
					p = max(p, s.committed[k]) // a group resumes at its commit
				}
				s.pos[[2]int{c, k}] = p
			}
		}
	}
	if !faulty {
		s.drain()
	}
	_ = s.w.Close()
	return buf.Bytes()
}

func (s *simBroker) invoke() {
	i := s.rng.IntN(len(s.producers))
	s.nextValue++
	snd := simSend{proc: s.producers[i], key: s.rng.IntN(len(s.keys)), value: s.nextValue}
	s.pending = append(s.pending, snd)
	s.w.Send(snd.proc, s.keys[snd.key], snd.value)
}

func (s *simBroker) appendLog(k int, v int64) int64 {
	if s.rng.IntN(20) == 0 {
		s.logs[k] = append(s.logs[k], -1) // a gap, as a transaction marker leaves
	}
	s.logs[k] = append(s.logs[k], v)
	return int64(len(s.logs[k]) - 1)
}

func (s *simBroker) complete() {
	if len(s.pending) == 0 {
		return
	}
	i := s.rng.IntN(len(s.pending))
	if !s.faulty {
		// A producer's sends to a partition complete in order, as an
		// idempotent producer's do.
		for j, p := range s.pending {
			if p.proc == s.pending[i].proc && p.key == s.pending[i].key {
				i = j
				break
			}
		}
	}
	snd := s.pending[i]
	s.pending = append(s.pending[:i], s.pending[i+1:]...)
	key := s.keys[snd.key]
	switch x := s.rng.IntN(100); {
	case x < 80:
		off := s.appendLog(snd.key, snd.value)
		if s.fault(25) {
			s.appendLog(snd.key, snd.value) // a retried non-idempotent write
		}
		if s.fault(25) {
			off = int64(s.rng.IntN(len(s.logs[snd.key]))) // a wrong acknowledgement
		}
		if s.fault(30) {
			s.logs[snd.key][off] = -1 // a lost write
		}
		s.w.SendOK(snd.proc, key, snd.value, off)
	case x < 90:
		if s.fault(10) {
			s.appendLog(snd.key, snd.value) // "failed" but stored: aborted read
		}
		s.w.SendFail(snd.proc, key, snd.value)
	default:
		if s.rng.IntN(2) == 0 {
			s.appendLog(snd.key, snd.value)
		}
		s.w.SendInfo(snd.proc, key, snd.value)
		for j, p := range s.producers {
			if p == snd.proc {
				s.producers[j] = s.nextProc // a process is not reused after info
				s.nextProc++
			}
		}
	}
}

// drain completes every pending send and has a fresh consumer read both
// partitions to the end, as a run's final drain does.
func (s *simBroker) drain() {
	for len(s.pending) > 0 {
		s.complete()
	}
	c := 200
	s.w.Assign(c, s.keys)
	var recs []history.Record
	for k, log := range s.logs {
		for p, v := range log {
			if v >= 0 {
				recs = append(recs, history.Record{Key: s.keys[k], Offset: int64(p), Value: v})
			}
		}
	}
	s.w.PollOK(c, recs)
}

// commit has consumer c commit its positions for the (one) group.
func (s *simBroker) commit(c int) {
	var offs []history.KeyOffset
	for k, key := range s.keys {
		if p, ok := s.pos[[2]int{c, k}]; ok {
			offs = append(offs, history.KeyOffset{Key: key, Offset: int64(p)})
			s.committed[k] = p
		}
	}
	s.w.Commit(c, "", offs)
}

func (s *simBroker) poll(c int) {
	var recs []history.Record
	for k, log := range s.logs {
		p := s.pos[[2]int{c, k}]
		switch {
		case s.fault(40):
			p++ // skip
		case s.fault(40):
			p = max(0, p-2) // rewind
		}
		n := s.rng.IntN(4)
		for ; p < len(log) && n > 0; p++ {
			if log[p] >= 0 {
				recs = append(recs, history.Record{Key: s.keys[k], Offset: int64(p), Value: log[p]})
				n--
			}
		}
		s.pos[[2]int{c, k}] = p
	}
	if s.fault(60) {
		recs = append(recs, history.Record{Key: s.keys[0], Offset: 1000, Value: -7}) // unexpected
	}
	if s.fault(60) {
		// A value from the future: stored before it is sent, as a
		// previous incarnation's data would be.
		k := s.rng.IntN(len(s.keys))
		s.appendLog(k, s.nextValue+1)
	}
	s.w.PollOK(c, recs)
}

// oracle computes anomaly counts straight from the catalog definitions with
// quadratic scans over the events: slow, obviously right, and independent of
// the checker's sorting and indexing.
func oracle(events []history.Event) map[string]int {
	type send struct {
		e      history.Event // invoke
		done   history.Event
		status history.Type
		ended  bool
	}
	var sends []*send
	byValue := map[int64]*send{}
	type obs struct {
		key           string
		offset, value int64
		poll          bool
		time          int64 // completion
	}
	var all []obs
	type pollAt struct {
		proc   int
		key    string
		offset int64
		time   int64
		assign bool
	}
	var seq []pollAt
	// stale-offset: a process's first record of a partition since its
	// last assign, below its group's last committed offset.
	type procKey struct {
		proc int
		key  string
	}
	committed := map[[2]string]int64{}
	groupOf := map[int]string{}
	firstSeen := map[procKey]bool{}
	stale := 0
	for _, e := range events {
		switch {
		case e.F == history.Commit:
			if e.Group != "" {
				groupOf[e.Process] = e.Group
			}
			for _, ko := range e.Commits {
				committed[[2]string{groupOf[e.Process], ko.Key}] = ko.Offset
			}
		case e.F == history.Assign:
			if e.Group != "" {
				groupOf[e.Process] = e.Group
			}
			for k := range firstSeen {
				if k.proc == e.Process {
					delete(firstSeen, k)
				}
			}
		case e.F == history.Poll && e.Type == history.OK:
			for _, r := range e.Records {
				pk := procKey{e.Process, r.Key}
				if firstSeen[pk] {
					continue
				}
				firstSeen[pk] = true
				if c, ok := committed[[2]string{groupOf[e.Process], r.Key}]; ok && r.Offset < c {
					stale++
				}
			}
		}
	}
	for _, e := range events {
		switch {
		case e.F == history.Send && e.Type == history.Invoke:
			s := &send{e: e}
			sends = append(sends, s)
			byValue[e.Value] = s
		case e.F == history.Send:
			s := byValue[e.Value]
			s.done, s.status, s.ended = e, e.Type, true
			if e.Type == history.OK {
				all = append(all, obs{e.Key, e.Offset, e.Value, false, e.Time})
			}
		case e.F == history.Poll && e.Type == history.OK:
			for _, r := range e.Records {
				all = append(all, obs{r.Key, r.Offset, r.Value, true, e.Time})
				seq = append(seq, pollAt{proc: e.Process, key: r.Key, offset: r.Offset, time: e.Time})
			}
		case e.F == history.Assign:
			seq = append(seq, pollAt{proc: e.Process, assign: true})
		}
	}
	got := map[string]int{"stale-offset": stale}
	acked := func(s *send) bool { return s.ended && s.status == history.OK }
	polledAt := func(key string, v int64) (int64, bool) {
		best, ok := int64(math.MaxInt64), false
		for _, o := range all {
			if o.poll && o.key == key && o.value == v {
				best, ok = min(best, o.offset), true
			}
		}
		return best, ok
	}
	maxPolled := func(key string) int64 {
		m := int64(-1)
		for _, o := range all {
			if o.poll && o.key == key {
				m = max(m, o.offset)
			}
		}
		return m
	}
	for _, s := range sends {
		if _, seen := polledAt(s.e.Key, s.e.Value); acked(s) && !seen {
			if maxPolled(s.e.Key) > s.done.Offset {
				got["lost-write"]++
			} else {
				got["unseen"]++
			}
		}
	}
	type kv struct {
		key string
		n   int64
	}
	offsetsOf, valuesAt := map[kv]map[int64]bool{}, map[kv]map[int64]bool{}
	polledValues := map[kv]bool{}
	for _, o := range all {
		k, ko := kv{o.key, o.value}, kv{o.key, o.offset}
		if offsetsOf[k] == nil {
			offsetsOf[k] = map[int64]bool{}
		}
		if valuesAt[ko] == nil {
			valuesAt[ko] = map[int64]bool{}
		}
		offsetsOf[k][o.offset], valuesAt[ko][o.value] = true, true
		if o.poll {
			polledValues[k] = true
		}
	}
	for _, m := range offsetsOf {
		if len(m) > 1 {
			got["duplicate"]++
		}
	}
	for _, m := range valuesAt {
		if len(m) > 1 {
			got["inconsistent-offsets"]++
		}
	}
	for k := range polledValues {
		s := byValue[k.n]
		switch {
		case s == nil || s.e.Key != k.key:
			got["unexpected"]++
		case s.ended && s.status == history.Fail:
			got["aborted-read"]++
		}
	}
	// Consumer order: consecutive records per (process, key) since the
	// process's last assign.
	for i, p := range seq {
		if p.assign {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			q := seq[j]
			if q.proc != p.proc {
				continue
			}
			if q.assign {
				break
			}
			if q.key != p.key {
				continue
			}
			if p.offset <= q.offset {
				got["nonmonotonic-poll"]++
			} else {
				// Skipped: an observed offset (polled or acknowledged)
				// whose value had been sent by the time of the poll.
				for _, o := range all {
					s := byValue[o.value]
					existed := s == nil || s.e.Key != o.key || s.e.Time <= p.time
					if o.key == p.key && o.offset > q.offset && o.offset < p.offset && existed {
						got["poll-skip"]++
						break
					}
				}
			}
			break
		}
	}
	// Polls constrain sends: no value polled before its send was invoked,
	// and nothing at an offset below one observed before the send was
	// invoked (pairs of two acknowledgements are realtime-order's).
	future, behind := map[kv]bool{}, map[kv]bool{}
	for _, b := range all {
		s := byValue[b.value]
		if s == nil || s.e.Key != b.key {
			continue
		}
		k := kv{b.key, b.value}
		if b.poll && b.time < s.e.Time {
			future[k] = true
		}
		for _, a := range all {
			if a.key == b.key && a.offset > b.offset && a.time < s.e.Time && (a.poll || b.poll) {
				behind[k] = true
			}
		}
	}
	got["future-read"], got["realtime-offset"] = len(future), len(behind)
	// Producer order (ok and info sends, at their acknowledged or lowest
	// polled offset) and real time.
	effective := func(s *send) (int64, bool) {
		switch {
		case acked(s):
			return s.done.Offset, true
		case s.ended && s.status == history.Fail:
			return 0, false
		}
		return polledAt(s.e.Key, s.e.Value)
	}
	for i, b := range sends {
		if boff, ok := effective(b); ok {
			for _, a := range sends[:i] {
				if aoff, ok := effective(a); ok && a.e.Process == b.e.Process && a.e.Key == b.e.Key && aoff > boff {
					got["nonmonotonic-send"]++
					break
				}
			}
		}
		if !acked(b) {
			continue
		}
		for _, a := range sends {
			if acked(a) && a.e.Key == b.e.Key && a.done.Offset > b.done.Offset && a.done.Time < b.e.Time {
				got["realtime-order"]++
				break
			}
		}
	}
	// Linearizability of an append-only log: with every op's offset fixed,
	// a linearization exists iff offsets are distinct and no op returned
	// before a lower-offset op was called.
	type linOp struct {
		offset, call, ret int64
	}
	perKey := map[string][]linOp{}
	for _, s := range sends {
		switch {
		case acked(s):
			perKey[s.e.Key] = append(perKey[s.e.Key], linOp{s.done.Offset, s.e.Time, s.done.Time})
		case !(s.ended && s.status == history.Fail):
			if off, ok := polledAt(s.e.Key, s.e.Value); ok {
				perKey[s.e.Key] = append(perKey[s.e.Key], linOp{off, s.e.Time, math.MaxInt64})
			}
		}
	}
	for _, ops := range perKey {
	pairs:
		for i, a := range ops {
			for j, b := range ops {
				if i != j && (a.offset == b.offset || (a.offset > b.offset && a.ret < b.call)) {
					got["nonlinearizable"]++
					break pairs
				}
			}
		}
	}
	return got
}

// TestLogCheckerMatchesOracle compares the log checker's counts with the
// oracle's on random histories.
func TestLogCheckerMatchesOracle(t *testing.T) {
	t.Parallel()
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	seen := map[string]int{}
	for seed := range uint64(seeds) {
		faulty := seed%4 != 0
		steps := 150
		if seed%30 == 28 {
			// Long enough for porcupine's input to be cut into pieces
			// (chunkTarget sends per partition).
			steps = 5000
		}
		text := genLogHistory(seed, steps, faulty)
		events := readEvents(t, text)
		want := oracle(events)
		v, err := Check(context.Background(), history.NewReader(bytes.NewReader(text), fmt.Sprintf("seed%d", seed)), Config{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		got := map[string]int{}
		for name, a := range v.Anomalies {
			got[name] = a.Count
			seen[name]++
		}
		for _, a := range catalog {
			if got[a.Name] != want[a.Name] {
				t.Errorf("seed %d: %s: checker %d, oracle %d\n%s", seed, a.Name, got[a.Name], want[a.Name], text)
				return
			}
		}
		if v.Valid == Unknown {
			t.Errorf("seed %d: unknown verdict: %+v", seed, v.Inconclusive)
		}
		if steps > 150 && !faulty && v.Stats.Porcupine <= 2 {
			t.Errorf("seed %d: %d sends checked in %d porcupine pieces; want the history cut", seed, v.Stats.Linearized, v.Stats.Porcupine)
		}
		if !faulty && v.Valid != Valid {
			t.Errorf("seed %d: history without faults is %s: %v\n%s", seed, v.Valid, names(v), text)
			return
		}
	}
	// The generator must exercise every log anomaly, or the comparison
	// proves little.
	for _, a := range catalog {
		if a.Models[0] == history.ModelLog && seen[a.Name] == 0 {
			t.Errorf("no random history had %s", a.Name)
		}
	}
	t.Logf("histories per anomaly: %v", seen)
}

func readEvents(t *testing.T, text []byte) []history.Event {
	t.Helper()
	r := history.NewReader(bytes.NewReader(text), "generated")
	var out []history.Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

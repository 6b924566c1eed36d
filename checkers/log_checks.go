package checkers

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// srcLine returns the history line of an observation.
func (c *logChecker) srcLine(o obs) int {
	if o.src >= 0 {
		return int(c.recs[o.src].line)
	}
	return int(c.ops[-o.src-1].doneLine)
}

// checkOffsets finds inconsistent-offsets (two values at one offset) and
// records the partition's distinct polled offsets for the poll-order checks.
func (c *logChecker) checkOffsets(p *partition, r *report) {
	slices.SortFunc(p.obs, func(a, b obs) int {
		return cmp.Or(cmp.Compare(a.offset, b.offset), cmp.Compare(a.value, b.value), cmp.Compare(a.src, b.src))
	})
	var existed []int64
	for i := 0; i < len(p.obs); {
		j := i
		polled := false
		var values []int64
		var lines []int
		first := int64(math.MaxInt64)
		for ; j < len(p.obs) && p.obs[j].offset == p.obs[i].offset; j++ {
			o := p.obs[j]
			polled = polled || o.src >= 0
			if len(values) == 0 || values[len(values)-1] != o.value {
				values = append(values, o.value)
				lines = append(lines, c.srcLine(o))
			}
			if t, sent := c.sentAt(p, o.value); !sent {
				first = math.MinInt64
			} else {
				first = min(first, t)
			}
		}
		if polled {
			p.polledOffsets = append(p.polledOffsets, p.obs[i].offset)
		}
		p.known = append(p.known, p.obs[i].offset)
		existed = append(existed, first)
		if len(values) > 1 {
			r.add("inconsistent-offsets", Example{Key: p.name, Offsets: []int64{p.obs[i].offset}, Values: values, Lines: lines,
				Detail: fmt.Sprintf("%s offset %d holds values %v (lines %v)", p.name, p.obs[i].offset, values, lines)})
		}
		i = j
	}
	p.existed = newMinTree(existed)
}

// checkValues finds duplicate (one value at several offsets), unexpected and
// aborted-read values, and marks sends whose value was polled.
func (c *logChecker) checkValues(p *partition, r *report) {
	byValue := slices.Clone(p.obs)
	slices.SortFunc(byValue, func(a, b obs) int {
		return cmp.Or(cmp.Compare(a.value, b.value), cmp.Compare(a.offset, b.offset), cmp.Compare(a.src, b.src))
	})
	for i := 0; i < len(byValue); {
		j := i
		var offsets []int64
		var lines []int
		firstPoll := int32(-1)
		invoke, sent := c.sentAt(p, byValue[i].value)
		future := obs{src: -1}
		for ; j < len(byValue) && byValue[j].value == byValue[i].value; j++ {
			o := byValue[j]
			if o.src >= 0 && firstPoll < 0 {
				firstPoll = o.src
			}
			if o.src >= 0 && sent && c.recs[o.src].time < invoke && (future.src < 0 || c.recs[o.src].time < c.recs[future.src].time) {
				future = o
			}
			if len(offsets) == 0 || offsets[len(offsets)-1] != o.offset {
				offsets = append(offsets, o.offset)
				lines = append(lines, c.srcLine(o))
			}
		}
		v := byValue[i].value
		if len(offsets) > 1 {
			r.add("duplicate", Example{Key: p.name, Values: []int64{v}, Offsets: offsets, Lines: lines,
				Detail: fmt.Sprintf("%s value %d at offsets %v (lines %v)", p.name, v, offsets, lines)})
		}
		if firstPoll >= 0 {
			c.polledValue(p, v, firstPoll, r)
		}
		if future.src >= 0 {
			c.futureRead(p, future, invoke, r)
		}
		i = j
	}
}

func (c *logChecker) polledValue(p *partition, v int64, src int32, r *report) {
	rec := c.recs[src]
	si, sent := c.byValue[v]
	if !sent || c.parts[c.ops[si].key] != p {
		r.add("unexpected", Example{Key: p.name, Values: []int64{v}, Offsets: []int64{rec.offset}, Processes: []int{int(rec.proc)},
			Times: []int64{rec.time}, Lines: []int{int(rec.line)},
			Detail: fmt.Sprintf("process %d polled %s offset %d value %d at t=%d (line %d), never sent to %s", rec.proc, p.name, rec.offset, v, rec.time, rec.line, p.name)})
		return
	}
	c.polledIn[si] = true
	if c.ops[si].status != acked {
		// Values are visited by ascending offset: this is the lowest.
		c.polledAt[si] = rec.offset
	}
	if s := &c.ops[si]; s.status == failed {
		r.add("aborted-read", Example{Key: p.name, Values: []int64{v}, Offsets: []int64{rec.offset}, Processes: []int{int(rec.proc), int(s.proc)},
			Times: []int64{rec.time, s.complete}, Lines: []int{int(rec.line), int(s.doneLine)},
			Detail: fmt.Sprintf("process %d polled %s offset %d value %d at t=%d (line %d), but its send failed at t=%d (line %d)", rec.proc, p.name, rec.offset, v, rec.time, rec.line, s.complete, s.doneLine)})
	}
}

// checkLosses classifies acknowledged, never-polled sends as lost-write (a
// later offset of the partition was polled) or unseen (none was).
func (c *logChecker) checkLosses(r *report) {
	for i := range c.ops {
		s := &c.ops[i]
		if s.status != acked || c.polledIn[i] {
			continue
		}
		p := c.parts[s.key]
		ex := Example{Key: p.name, Values: []int64{s.value}, Offsets: []int64{s.offset}, Processes: []int{int(s.proc)},
			Times: []int64{s.invoke, s.complete}, Lines: []int{int(s.line), int(s.doneLine)}}
		if p.maxPolled > s.offset {
			// Name the first polled offset past the hole, the most telling.
			j, found := slices.BinarySearch(p.polledOffsets, s.offset)
			if found {
				j++
			}
			next := p.polledOffsets[j]
			ex.Offsets = append(ex.Offsets, next)
			ex.Detail = fmt.Sprintf("%s value %d acknowledged at offset %d (t=%d, line %d) never polled, though later offset %d was", p.name, s.value, s.offset, s.complete, s.doneLine, next)
			r.add("lost-write", ex)
			continue
		}
		ex.Detail = fmt.Sprintf("%s value %d acknowledged at offset %d (t=%d, line %d) never polled", p.name, s.value, s.offset, s.complete, s.doneLine)
		r.add("unseen", ex)
	}
}

// pollPos is the last offset a process polled from a partition, valid while
// epoch equals the process's assignment epoch.
type pollPos struct {
	offset int64
	time   int64
	line   int32
	epoch  uint32
}

// checkPolls walks each process's polls in history order: an offset at or
// below the previous one is nonmonotonic-poll; skipping over an offset some
// poll returned is poll-skip. An assign by the process restarts its checks.
func (c *logChecker) checkPolls(r *report) {
	last := map[uint64]pollPos{}
	epoch := map[int32]uint32{}
	for _, rec := range c.recs {
		if rec.key < 0 {
			epoch[rec.proc]++
			continue
		}
		k := uint64(uint32(rec.proc))<<32 | uint64(uint32(rec.key))
		ep := epoch[rec.proc]
		prev, seen := last[k]
		last[k] = pollPos{offset: rec.offset, time: rec.time, line: rec.line, epoch: ep}
		if !seen || prev.epoch != ep {
			continue
		}
		p := c.parts[rec.key]
		ex := Example{Key: p.name, Offsets: []int64{prev.offset, rec.offset}, Processes: []int{int(rec.proc)},
			Times: []int64{prev.time, rec.time}, Lines: []int{int(prev.line), int(rec.line)}}
		if rec.offset <= prev.offset {
			ex.Detail = fmt.Sprintf("process %d polled %s offset %d (t=%d, line %d) after offset %d (t=%d, line %d)", rec.proc, p.name, rec.offset, rec.time, rec.line, prev.offset, prev.time, prev.line)
			r.add("nonmonotonic-poll", ex)
			continue
		}
		if skipped := c.skipped(p, prev.offset, rec.offset, rec.time); len(skipped) > 0 {
			ex.Detail = fmt.Sprintf("process %d polled %s offset %d (t=%d, line %d) right after offset %d (line %d), skipping offsets starting %v that were in the log by then", rec.proc, p.name, rec.offset, rec.time, rec.line, prev.offset, prev.line, skipped)
			r.add("poll-skip", ex)
		}
	}
}

// skipped returns up to three offsets strictly between from and to that a
// consumer reading to at time t jumped over: observed offsets (polled or
// acknowledged) whose value's send was invoked by t. An offset whose every
// value was sent only after t did not exist yet when the consumer passed:
// appending it below to is the broker's anomaly (realtime-offset), not the
// consumer's.
func (c *logChecker) skipped(p *partition, from, to, t int64) []int64 {
	lo, _ := slices.BinarySearch(p.known, from)
	hi, _ := slices.BinarySearch(p.known, to)
	if hi <= lo+1 || p.existed.min(lo+1, hi) > t {
		return nil
	}
	var out []int64
	for k := lo + 1; k < hi && len(out) < 3; k++ {
		if p.existed.min(k, k+1) <= t {
			out = append(out, p.known[k])
		}
	}
	return out
}

// checkSendOrder finds nonmonotonic-send: a process's later-invoked send to
// a partition at a lower offset than an earlier one. As in Elle, a send's
// offset is the one it was acknowledged at or, for an info (or pending)
// send whose value was polled, the lowest offset it was polled at; an info
// send never polled has no offset and is not compared.
func (c *logChecker) checkSendOrder(r *report) {
	highest := map[uint64]int32{} // (process, key) -> send with the highest offset so far
	for i := range c.ops {
		s := &c.ops[i]
		off, ok := c.sendOffset(int32(i))
		if !ok {
			continue
		}
		k := uint64(uint32(s.proc))<<32 | uint64(uint32(s.key))
		h, seen := highest[k]
		if hoff, _ := c.sendOffset(h); !seen || hoff < off {
			highest[k] = int32(i)
			continue
		}
		e := &c.ops[h]
		eoff, _ := c.sendOffset(h)
		if eoff == off {
			continue // not lower: the clash is inconsistent-offsets' business
		}
		p := c.parts[s.key]
		r.add("nonmonotonic-send", Example{Key: p.name, Values: []int64{e.value, s.value}, Offsets: []int64{eoff, off},
			Processes: []int{int(s.proc)}, Times: []int64{e.invoke, s.invoke}, Lines: []int{int(e.line), int(s.line)},
			Detail: fmt.Sprintf("process %d sent %s value %d (line %d) then value %d (line %d), which took effect at offsets %d then %d", s.proc, p.name, e.value, e.line, s.value, s.line, eoff, off)})
	}
}

// sendOffset returns the offset send i took effect at: acknowledged, or
// polled for an info or pending send; false when it has none.
func (c *logChecker) sendOffset(i int32) (int64, bool) {
	s := &c.ops[i]
	switch {
	case s.status == acked:
		return s.offset, true
	case s.status != failed && c.polledIn[i]:
		return c.polledAt[i], true
	}
	return 0, false
}

// checkRealtime finds realtime-order: send A acknowledged before send B was
// invoked, yet offset(A) > offset(B). Walking sends by descending offset
// with the earliest acknowledgement among strictly higher offsets finds every
// B in O(n log n).
func (c *logChecker) checkRealtime(p *partition, r *report) {
	var ok []int32
	for _, i := range p.sends {
		if c.ops[i].status == acked {
			ok = append(ok, i)
		}
	}
	slices.SortFunc(ok, func(a, b int32) int { return cmp.Compare(c.ops[b].offset, c.ops[a].offset) })
	earliest, at := int64(math.MaxInt64), int32(-1)
	for i := 0; i < len(ok); {
		j := i
		for ; j < len(ok) && c.ops[ok[j]].offset == c.ops[ok[i]].offset; j++ {
			b := &c.ops[ok[j]]
			if earliest < b.invoke {
				a := &c.ops[at]
				r.add("realtime-order", Example{Key: p.name, Values: []int64{a.value, b.value}, Offsets: []int64{a.offset, b.offset},
					Processes: []int{int(a.proc), int(b.proc)}, Times: []int64{a.complete, b.invoke}, Lines: []int{int(a.doneLine), int(b.line)},
					Detail: fmt.Sprintf("%s value %d acknowledged at offset %d (t=%d, line %d) before value %d was sent (t=%d, line %d), which got lower offset %d", p.name, a.value, a.offset, a.complete, a.doneLine, b.value, b.invoke, b.line, b.offset)})
			}
		}
		for k := i; k < j; k++ {
			if s := &c.ops[ok[k]]; s.complete < earliest {
				earliest, at = s.complete, ok[k]
			}
		}
		i = j
	}
}

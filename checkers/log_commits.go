package checkers

import "fmt"

// commitRec is one committed offset of a commit ok event: the next offset
// group will read from key. pos is the index in recs the commit precedes,
// so commits replay in history order with polls and assigns.
type commitRec struct {
	offset int64
	pos    int32
	key    int32
	proc   int32
	line   int32
	group  string
}

// groupKey names a group's committed offset of one partition.
type groupKey struct {
	group string
	key   int32
}

// checkStaleOffsets finds stale-offset: after an assign, a member of a
// group first polls a partition below the group's last committed offset
// for it: the group re-reads what it had already committed, as a broker
// answering OffsetFetch with an old offset makes it. A process's group is
// the one its latest assign or commit named; unnamed, all consumers of a
// history are one group ("").
func (c *logChecker) checkStaleOffsets(r *report) {
	if len(c.commits) == 0 {
		return
	}
	type lastCommit struct {
		offset int64
		line   int32
	}
	committed := map[groupKey]lastCommit{}
	group := map[int32]string{}
	epoch := map[int32]uint32{}
	polled := map[uint64]uint32{} // (process, key) -> epoch+1 of its first poll
	next := 0
	for i, rec := range c.recs {
		for ; next < len(c.commits) && int(c.commits[next].pos) <= i; next++ {
			cm := &c.commits[next]
			if cm.group != "" {
				group[cm.proc] = cm.group
			}
			committed[groupKey{group[cm.proc], cm.key}] = lastCommit{cm.offset, cm.line}
		}
		if rec.key < 0 {
			epoch[rec.proc]++
			if g, ok := c.groupAt[int32(i)]; ok {
				group[rec.proc] = g
			}
			continue
		}
		k := uint64(uint32(rec.proc))<<32 | uint64(uint32(rec.key))
		if polled[k] == epoch[rec.proc]+1 {
			continue
		}
		polled[k] = epoch[rec.proc] + 1
		g := group[rec.proc]
		last, ok := committed[groupKey{g, rec.key}]
		if !ok || rec.offset >= last.offset {
			continue
		}
		p := c.parts[rec.key]
		r.add("stale-offset", Example{Key: p.name, Offsets: []int64{last.offset, rec.offset}, Processes: []int{int(rec.proc)},
			Times: []int64{rec.time}, Lines: []int{int(last.line), int(rec.line)},
			Detail: fmt.Sprintf("process %d of group %q first polled %s at offset %d (line %d) after its assignment, below the group's committed offset %d (line %d)",
				rec.proc, g, p.name, rec.offset, rec.line, last.offset, last.line)})
	}
}

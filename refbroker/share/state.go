package share

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// RecordState is the KIP-932 state of one record of a share-partition.
type RecordState uint8

// Record states. A record with no tracked entry at or beyond the SPSO is
// Available with delivery count 0; below the SPSO every record is finished.
const (
	StateAvailable    RecordState = iota // may be acquired
	StateAcquired                        // locked by one member until its deadline
	StateAcknowledged                    // accepted; never delivered again
	StateArchived                        // rejected, gap, or over the delivery limit
)

// String returns the KIP-932 name of the state.
func (s RecordState) String() string {
	switch s {
	case StateAvailable:
		return "available"
	case StateAcquired:
		return "acquired"
	case StateAcknowledged:
		return "acknowledged"
	case StateArchived:
		return "archived"
	}
	return "unknown"
}

// finished reports whether the record will never be delivered again.
func (s RecordState) finished() bool { return s == StateAcknowledged || s == StateArchived }

// Acknowledge types on the wire (KIP-932, KIP-1222).
const (
	ackGap     int8 = 0 // offset is not a record (compacted/control): archive
	ackAccept  int8 = 1
	ackRelease int8 = 2
	ackReject  int8 = 3
	ackRenew   int8 = 4 // v2 with IsRenewAck only: extend the lock
)

// recState is one tracked record.
type recState struct {
	state    RecordState
	count    int32     // deliveries so far
	member   string    // owner while StateAcquired
	deadline time.Time // lock expiry while StateAcquired
}

// persisted returns the state written to the log: a lock does not
// survive a restart, so Acquired is stored as Available.
func (r recState) persisted() RecordState {
	if r.state == StateAcquired {
		return StateAvailable
	}
	return r.state
}

// partState is one share-partition: (group, topic, partition).
type partState struct {
	spso int64
	recs map[int64]recState // offsets >= spso with non-default state
	// undo holds the values of records changed since the last commit and
	// undoSPSO the SPSO then, so a failed write of the changes can be
	// rolled back and a successful one written as a delta (changes).
	undo     map[int64]undoEntry
	undoSPSO int64
}

type undoEntry struct {
	r      recState
	exists bool
}

func newPartState(spso int64) *partState {
	return &partState{spso: spso, recs: make(map[int64]recState)}
}

// get returns the record at off (Available, count 0 if untracked).
func (p *partState) get(off int64) recState { return p.recs[off] }

// begin starts tracking changes for rollback, if not already.
func (p *partState) begin() {
	if p.undo == nil {
		p.undo = make(map[int64]undoEntry)
		p.undoSPSO = p.spso
	}
}

// set changes the record at off, remembering the old value.
func (p *partState) set(off int64, r recState) {
	p.begin()
	if _, saved := p.undo[off]; !saved {
		old, exists := p.recs[off]
		p.undo[off] = undoEntry{r: old, exists: exists}
	}
	if r.state == StateAvailable && r.count == 0 {
		delete(p.recs, off)
		return
	}
	p.recs[off] = r
}

// persistEntry is the durable form of one record.
type persistEntry struct {
	off   int64
	state RecordState // never StateAcquired
	count int32
}

// changes returns the durable delta since the last commit: the SPSO and
// the records at or beyond it whose durable form changed. ok is false
// when nothing durable changed (a lock renewed, or acquired and released
// without a new delivery).
func (p *partState) changes() (spso int64, entries []persistEntry, ok bool) {
	if p.undo == nil {
		return p.spso, nil, false
	}
	for off, u := range p.undo {
		if off < p.spso {
			continue
		}
		cur := p.recs[off]
		if u.r.persisted() == cur.persisted() && u.r.count == cur.count {
			continue
		}
		entries = append(entries, persistEntry{off: off, state: cur.persisted(), count: cur.count})
	}
	return p.spso, entries, len(entries) > 0 || p.spso != p.undoSPSO
}

// pending reports whether there are changes not yet committed.
func (p *partState) pending() bool { return p.undo != nil }

// commit forgets the rollback information after a successful write.
func (p *partState) commit() { p.undo = nil }

// rollback restores the state as of the last commit.
func (p *partState) rollback() {
	if p.undo == nil {
		return
	}
	for off, u := range p.undo {
		if u.exists {
			p.recs[off] = u.r
		} else {
			delete(p.recs, off)
		}
	}
	p.spso = p.undoSPSO
	p.undo = nil
}

// moveSPSO sets a new SPSO, dropping state below it.
func (p *partState) moveSPSO(to int64) {
	p.begin()
	for off, r := range p.recs {
		if off < to {
			if _, saved := p.undo[off]; !saved {
				p.undo[off] = undoEntry{r: r, exists: true}
			}
			delete(p.recs, off)
		}
	}
	p.spso = to
}

// advance moves the SPSO over the finished prefix.
func (p *partState) advance() {
	to := p.spso
	for {
		r, ok := p.recs[to]
		if !ok || !r.state.finished() {
			break
		}
		to++
	}
	if to != p.spso {
		p.moveSPSO(to)
	}
}

// release ends r's acquisition: back to Available, or Archived once it
// has been delivered limit times. It returns the new state.
func release(r recState, limit int32) recState {
	r.member, r.deadline = "", time.Time{}
	if r.count >= limit {
		r.state = StateArchived
	} else {
		r.state = StateAvailable
	}
	return r
}

// acquiredRange is a run of offsets acquired with one delivery count.
type acquiredRange struct {
	first, last int64
	count       int32
}

// acquireParams are the inputs of one acquisition.
type acquireParams struct {
	member       string
	start, hw    int64 // log bounds
	max          int32 // records to acquire at most
	limit        int32 // delivery-count limit
	maxLocks     int32 // in-flight window
	now          time.Time
	lockDuration time.Duration
}

// acquire locks up to a.max available records in [SPSO, min(hw,
// SPSO+maxLocks)) to a.member and returns them as ranges. Expired locks
// found on the way are released first, and records already at the
// delivery limit are archived rather than delivered again.
func (p *partState) acquire(a acquireParams) []acquiredRange {
	if p.spso < a.start { // retention removed records never finished
		p.moveSPSO(a.start)
	}
	end := min(a.hw, p.spso+int64(a.maxLocks))
	var out []acquiredRange
	var n int32
	for off := p.spso; off < end && n < a.max; off++ {
		r := p.get(off)
		if r.state == StateAcquired && !a.now.Before(r.deadline) {
			r = release(r, a.limit)
			p.set(off, r)
		}
		if r.state != StateAvailable {
			continue
		}
		if r.count >= a.limit {
			r.state = StateArchived
			p.set(off, r)
			continue
		}
		r = recState{state: StateAcquired, count: r.count + 1, member: a.member, deadline: a.now.Add(a.lockDuration)}
		p.set(off, r)
		n++
		if k := len(out); k > 0 && out[k-1].last == off-1 && out[k-1].count == r.count {
			out[k-1].last = off
		} else {
			out = append(out, acquiredRange{first: off, last: off, count: r.count})
		}
	}
	p.advance()
	return out
}

// ackBatch is one acknowledgement batch of a request.
type ackBatch struct {
	first, last int64
	types       []int8
}

// validateBatches checks batch shapes: ordered, non-overlapping, one type
// or one type per offset, each type at most maxType. It returns an error
// code (0 if valid).
func validateBatches(batches []ackBatch, maxType int8) int16 {
	prev := int64(-1)
	for _, b := range batches {
		switch {
		case b.first < 0 || b.first > b.last || b.first <= prev:
			return kerr.InvalidRequest.Code
		case len(b.types) == 0:
			return kerr.InvalidRequest.Code
		case len(b.types) > 1 && int64(len(b.types)) != b.last-b.first+1:
			return kerr.InvalidRequest.Code
		}
		for _, t := range b.types {
			if t < ackGap || t > maxType {
				return kerr.InvalidRequest.Code
			}
		}
		prev = b.last
	}
	return 0
}

// maxAckSpan bounds the offsets one partition's acks may cover, so a
// hostile range cannot make the broker loop for minutes.
const maxAckSpan = 1 << 20

// ack applies batches for member: every offset at or beyond the SPSO must
// be Acquired by member (INVALID_RECORD_STATE otherwise, and nothing is
// changed). It returns an error code and whether any record became
// available again.
func (p *partState) ack(member string, batches []ackBatch, limit int32, now time.Time, lock time.Duration) (code int16, released bool) {
	var span int64
	for _, b := range batches {
		span += b.last - b.first + 1
		if span > maxAckSpan {
			return kerr.InvalidRequest.Code, false
		}
		for off := max(b.first, p.spso); off <= b.last; off++ {
			r := p.get(off)
			if r.state != StateAcquired || r.member != member {
				return kerr.InvalidRecordState.Code, false
			}
		}
	}
	for _, b := range batches {
		for off := max(b.first, p.spso); off <= b.last; off++ {
			t := b.types[0]
			if len(b.types) > 1 {
				t = b.types[off-b.first]
			}
			r := p.get(off)
			switch t {
			case ackAccept:
				r = recState{state: StateAcknowledged, count: r.count}
			case ackGap, ackReject:
				r = recState{state: StateArchived, count: r.count}
			case ackRelease:
				r = release(r, limit)
				released = released || r.state == StateAvailable
			case ackRenew:
				r.deadline = now.Add(lock)
			}
			p.set(off, r)
		}
	}
	p.advance()
	return 0, released
}

// releaseMember releases every record member holds (session close,
// disconnect, leave, fencing). It reports whether any became available.
func (p *partState) releaseMember(member string, limit int32) bool {
	released := false
	for off, r := range p.recs {
		if r.state == StateAcquired && r.member == member {
			r = release(r, limit)
			p.set(off, r)
			released = released || r.state == StateAvailable
		}
	}
	p.advance()
	return released
}

// expire releases locks whose deadline is not after now and returns
// whether any record became available and the earliest remaining lock
// deadline (zero if none).
func (p *partState) expire(now time.Time, limit int32) (released bool, next time.Time) {
	for off, r := range p.recs {
		if r.state != StateAcquired {
			continue
		}
		if !now.Before(r.deadline) {
			r = release(r, limit)
			p.set(off, r)
			released = released || r.state == StateAvailable
			continue
		}
		if next.IsZero() || r.deadline.Before(next) {
			next = r.deadline
		}
	}
	p.advance()
	return released, next
}

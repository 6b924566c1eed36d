package storage

import "fmt"

// producerHistory is how many recent batches per producer are remembered for
// duplicate detection; Kafka allows 5 in-flight requests per connection for
// idempotent producers and remembers the same number.
const producerHistory = 5

// batchMeta identifies one appended idempotent batch.
type batchMeta struct {
	firstSeq, lastSeq int32
	baseOffset        int64
}

// producerEntry is the idempotence state of one producer id: its current
// epoch and a ring of its last producerHistory batches.
type producerEntry struct {
	epoch   int16
	batches [producerHistory]batchMeta
	n       int // valid entries in batches (<= producerHistory)
	head    int // index of the newest entry
}

func (e *producerEntry) last() batchMeta { return e.batches[e.head] }

func (e *producerEntry) push(b batchMeta) {
	if e.n > 0 {
		e.head = (e.head + 1) % producerHistory
	}
	e.batches[e.head] = b
	e.n = min(e.n+1, producerHistory)
}

// producerState tracks idempotent producers of one partition. Guarded by
// Log.mu.
type producerState struct {
	producers map[int64]*producerEntry
	maxID     int64 // largest producer id seen; -1 when none
}

func newProducerState() producerState {
	return producerState{producers: make(map[int64]*producerEntry), maxID: -1}
}

// check decides what to do with an idempotent batch (h.ProducerID >= 0).
// It returns dup=true and the original base offset for a resent batch, or
// an error wrapping ErrInvalidProducerEpoch / ErrOutOfOrderSequence.
//
// An unknown producer id must start at sequence 0. Kafka 2.5+ accepts any
// sequence from a producer whose state expired with retention; this log is
// strict instead, because its producer state never expires while the Log is
// open and survives restarts (snapshot, or a rebuild from the retained log),
// so a non-zero first sequence means lost batches, which is what the
// conformance checkers want reported.
func (p *producerState) check(h *BatchHeader) (dupOffset int64, dup bool, err error) {
	e, ok := p.producers[h.ProducerID]
	switch {
	case !ok:
		if h.BaseSequence != 0 {
			return 0, false, fmt.Errorf("%w: unknown producer id %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence)
		}
		return 0, false, nil
	case h.ProducerEpoch < e.epoch:
		return 0, false, fmt.Errorf("%w: producer id %d epoch %d is older than current epoch %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return 0, false, fmt.Errorf("%w: producer id %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return 0, false, nil
	}
	last := h.lastSequence()
	for i := range e.n {
		if b := e.batches[i]; b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b.baseOffset, true, nil
		}
	}
	if want := addSequence(e.last().lastSeq, 1); h.BaseSequence != want {
		return 0, false, fmt.Errorf("%w: producer id %d epoch %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, want, h.BaseSequence)
	}
	return 0, false, nil
}

// update records an appended batch (also used when rebuilding from the log,
// where batches are applied without checks). baseOffset is the assigned
// offset; h.BaseOffset may still hold the producer's value.
func (p *producerState) update(h *BatchHeader, baseOffset int64) {
	if h.ProducerID < 0 {
		return
	}
	if h.ProducerID > p.maxID {
		p.maxID = h.ProducerID
	}
	e, ok := p.producers[h.ProducerID]
	if !ok || h.ProducerEpoch != e.epoch {
		// A new epoch starts a fresh history; an older epoch while
		// rebuilding cannot happen in a log this package wrote.
		if !ok {
			e = &producerEntry{}
			p.producers[h.ProducerID] = e
		}
		*e = producerEntry{epoch: h.ProducerEpoch}
	}
	e.push(batchMeta{firstSeq: h.BaseSequence, lastSeq: h.lastSequence(), baseOffset: baseOffset})
}

// maxProducerID returns the largest producer id seen, or -1.
func (p *producerState) maxProducerID() int64 {
	return p.maxID
}

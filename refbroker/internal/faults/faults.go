// Package faults injects deliberate bugs into refbroker so that tests can
// prove the checkers and the runner catch a broker that breaks its
// promises: an acknowledged batch lost, a batch stored twice, batches
// served out of order, a stale committed offset.
//
// The package is internal: only code under refbroker/ (its own tests and
// refbroker/e2e) can build an Injector, so no production broker can run
// with a fault turned on. refbroker.Config.Faults is nil otherwise.
package faults

import (
	"encoding/binary"
	"hash/crc32"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kind is the bug to inject.
type Kind int

const (
	// None injects nothing.
	None Kind = iota
	// LoseAcked acknowledges a produced batch without storing it: the
	// next batch takes its offset.
	LoseAcked
	// Duplicate stores a produced batch twice (the copy stripped of its
	// producer id, so idempotence cannot drop it).
	Duplicate
	// Reorder serves the first two batches of a fetch response swapped.
	Reorder
	// StaleOffset answers OffsetFetch with committed offsets moved back by
	// Plan.StaleBy, so a group re-reads what it already processed.
	StaleOffset
)

// Plan says which bug to inject and how often.
type Plan struct {
	Kind Kind
	// Every acts on every Nth produced batch (LoseAcked, Duplicate) or
	// fetch response with two batches or more (Reorder). Default 50.
	Every int64
	// StaleBy is how far back StaleOffset moves committed offsets
	// (default 10); offsets never go below 0.
	StaleBy int64
}

// Injector decides, per batch, fetch or offset, whether to misbehave. It
// is safe for concurrent use.
type Injector struct {
	plan Plan
	n    atomic.Int64
	hits atomic.Int64
}

// New returns an Injector for p.
func New(p Plan) *Injector {
	if p.Every <= 0 {
		p.Every = 50
	}
	if p.StaleBy <= 0 {
		p.StaleBy = 10
	}
	return &Injector{plan: p}
}

// Hits is how many times a fault was injected.
func (i *Injector) Hits() int64 { return i.hits.Load() }

func (i *Injector) due() bool {
	if i.n.Add(1)%i.plan.Every != 0 {
		return false
	}
	i.hits.Add(1)
	return true
}

// Produce returns LoseAcked or Duplicate when the batch being appended is
// to be mishandled, None otherwise.
func (i *Injector) Produce() Kind {
	if i == nil || (i.plan.Kind != LoseAcked && i.plan.Kind != Duplicate) || !i.due() {
		return None
	}
	return i.plan.Kind
}

// Fetch returns batches with the first two swapped when a reorder is due;
// otherwise batches unchanged. batches are the whole batches of one
// partition's fetch response, in order.
func (i *Injector) Fetch(batches [][]byte) [][]byte {
	if i == nil || i.plan.Kind != Reorder || len(batches) < 2 || !i.due() {
		return batches
	}
	out := append([][]byte{batches[1], batches[0]}, batches[2:]...)
	return out
}

// OffsetFetch moves every committed offset in resp back by StaleBy.
func (i *Injector) OffsetFetch(resp *kmsg.OffsetFetchResponse) {
	if i == nil || i.plan.Kind != StaleOffset {
		return
	}
	stale := func(o int64) int64 {
		if o <= 0 {
			return o
		}
		i.hits.Add(1)
		return max(0, o-i.plan.StaleBy)
	}
	for t := range resp.Topics {
		for p := range resp.Topics[t].Partitions {
			pp := &resp.Topics[t].Partitions[p]
			pp.Offset = stale(pp.Offset)
		}
	}
	for g := range resp.Groups {
		for t := range resp.Groups[g].Topics {
			for p := range resp.Groups[g].Topics[t].Partitions {
				pp := &resp.Groups[g].Topics[t].Partitions[p]
				pp.Offset = stale(pp.Offset)
			}
		}
	}
}

// StripProducer returns a copy of a v2 record batch with its producer id,
// epoch and base sequence cleared and the CRC recomputed, so that storing
// it again is not recognised as an idempotent retry.
func StripProducer(batch []byte) []byte {
	const (
		offCRC, offAttributes                = 17, 21
		offProducerID, offEpoch, offSequence = 43, 51, 53
	)
	b := append([]byte(nil), batch...)
	if len(b) < 61 {
		return b
	}
	binary.BigEndian.PutUint64(b[offProducerID:], ^uint64(0))
	binary.BigEndian.PutUint16(b[offEpoch:], ^uint16(0))
	binary.BigEndian.PutUint32(b[offSequence:], ^uint32(0))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

package refbroker

import (
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// produceScan walks a Produce request's layout while its frame arrives,
// read chunk by chunk (readBody), and has a storage.BatchScan check each
// partition's record batches as their bytes come in: the CRC summed per
// chunk, the rest of the batch's checks once it is whole. The Produce
// handler then appends each batch with that result
// (storage.Log.AppendChecked) instead of reading the request back from
// memory to validate it: at 16 partitions of kgo's 1 MB batches a
// request is 16 MB, which the cache does not keep between the socket read
// and the handler.
//
// The walk needs to be right only to be useful, not to be safe: a result
// is used only for a batch whose bytes are exactly the range it checked
// (the same memory, BatchScan.Check), so a walk that loses its way, a
// request that is not a Produce, or one kmsg later rejects just leaves
// batches without a result, and those are validated in full by the
// handler as before. The layout is kmsg's ProduceRequest (v0-13); the
// fields before the records are skipped, never decoded. Which keys are
// scanned is their registration's checksOnArrival (Produce's alone).
//
// The reader goroutine feeds it; the serve goroutine reads its results
// only after the frame is handed over on the frames channel.
type produceScan struct {
	batches    storage.BatchScan
	filled     []byte // the frame as last fed: all of it once read
	step       scanStep
	pos        int   // frame bytes walked
	recordsEnd int   // end of the records being scanned (scanRecords)
	version    int16 // the request's version, once the header is walked
	topics     int32 // topics left to walk
	parts      int32 // partitions left in the current topic
}

// scanStep is where a produceScan is in the request's layout.
type scanStep uint8

const (
	scanHeader        scanStep = iota // request header and the fields up to the topics array
	scanTopic                         // a topic's name or ID and its partition count
	scanPartition                     // a partition's index and records length
	scanRecords                       // the partition's batches (BatchScan)
	scanPartitionTags                 // the partition's tagged fields
	scanDone                          // nothing more to check
)

// walked is what one step read: the next step and the value it needs.
type walked struct {
	next    scanStep
	version int16 // scanHeader: the request version
	count   int32 // array length (topics or partitions)
	records int   // records length (scanRecords)
}

// reset prepares the scan for a new frame and drops its reference to
// the last one.
func (s *produceScan) reset() {
	s.batches.Reset()
	*s = produceScan{batches: s.batches}
}

// check returns what the scan found about batch, when batch is a slice
// of the frame that was scanned whole (BatchScan.Check); a nil scan has
// nothing.
func (s *produceScan) check(batch []byte) storage.BatchCheck {
	if s == nil {
		return storage.BatchCheck{}
	}
	return s.batches.Check(s.filled, batch)
}

// feed walks filled, the frame's bytes received so far (from its start),
// as far as it can. It never reads past len(filled). A step is applied
// only once all its fields are in, so a step cut by the end of filled is
// walked again from its start at the next feed (the fields before the
// records are a few bytes each).
func (s *produceScan) feed(filled []byte) {
	s.filled = filled
	for s.step != scanDone {
		if s.step == scanRecords {
			if !s.batches.Feed(filled) {
				return
			}
			s.pos, s.step = s.recordsEnd, scanPartitionTags
			continue
		}
		if s.pos > len(filled) { // not reachable; the reader must not panic
			return
		}
		r := kbin.Reader{Src: filled[s.pos:]}
		w := s.walk(&r)
		if !r.Ok() {
			return
		}
		s.pos = len(filled) - len(r.Src)
		s.apply(w)
	}
}

// walk reads the fields of the current step from r without changing s.
func (s *produceScan) walk(r *kbin.Reader) walked {
	flexible := s.version >= 9
	switch s.step {
	case scanHeader:
		key, version := r.Int16(), r.Int16()
		r.Int32()            // correlation ID
		skipString(r, false) // client ID: never compact
		if k := lookupKey(key); k == nil || !k.checksOnArrival {
			return walked{next: scanDone}
		}
		flexible = version >= 9
		if flexible {
			kmsg.SkipTags(r)
		}
		if version >= 3 {
			skipString(r, flexible) // transactional ID
		}
		r.Int16() // acks
		r.Int32() // timeout
		return walked{next: scanTopic, version: version, count: arrayLen(r, flexible)}
	case scanTopic:
		if s.topics <= 0 {
			return walked{next: scanDone}
		}
		if s.version >= 13 {
			r.Span(16) // topic ID
		} else {
			skipString(r, flexible)
		}
		return walked{next: scanPartition, count: arrayLen(r, flexible)}
	case scanPartition:
		if s.parts <= 0 {
			if flexible {
				kmsg.SkipTags(r) // the topic's
			}
			return walked{next: scanTopic}
		}
		r.Int32() // partition index
		var n int
		if flexible {
			n = int(r.Uvarint()) - 1
		} else {
			n = int(r.Int32())
		}
		if n < 0 { // null records
			return walked{next: scanPartitionTags}
		}
		return walked{next: scanRecords, records: n}
	case scanPartitionTags:
		if flexible {
			kmsg.SkipTags(r)
		}
		return walked{next: scanPartition}
	}
	return walked{next: scanDone}
}

// apply moves s past the step w was walked from; s.pos is already past
// its fields.
func (s *produceScan) apply(w walked) {
	switch {
	case s.step == scanHeader && w.next == scanTopic:
		s.version, s.topics = w.version, w.count
	case s.step == scanTopic && w.next == scanPartition:
		s.topics--
		s.parts = w.count
	case w.next == scanRecords:
		s.recordsEnd = s.pos + w.records
		s.batches.Run(s.pos, s.recordsEnd)
	case s.step == scanPartitionTags:
		s.parts--
	}
	s.step = w.next
}

// skipString skips a (nullable) string, compact in flexible versions.
func skipString(r *kbin.Reader, compact bool) {
	var n int
	if compact {
		n = int(r.Uvarint()) - 1
	} else {
		n = int(r.Int16())
	}
	if n > 0 {
		r.Span(n)
	}
}

// arrayLen reads an array length, compact in flexible versions; a null
// array is -1.
func arrayLen(r *kbin.Reader, compact bool) int32 {
	if compact {
		return int32(r.Uvarint()) - 1
	}
	return r.Int32()
}

package storage

import (
	"encoding/binary"
	"hash/crc32"
)

// BatchCheck is what a BatchScan found about one batch while it arrived
// from the network: the CRC-32C of its checksummed bytes (attributes to
// the end), and whether the batch then passed every check validateBatch
// makes (header, CRC, records), which depend on its bytes alone. Only a
// BatchScan makes a non-zero BatchCheck, and only for the exact memory
// it read (BatchScan.Check), so a check that passed stands for running
// validateBatch again on those bytes; the zero value means "nothing
// known", and validation then runs in full. A check that failed keeps
// only the sum: validation runs again with it, to report the error.
type BatchCheck struct {
	crc   uint32
	known bool // crc is the batch's sum
	valid bool // validateBatch passed on the batch's bytes
}

// Known reports whether c holds the batch's CRC, computed while it
// arrived.
func (c BatchCheck) Known() bool { return c.known }

// Valid reports whether the batch passed validateBatch while it arrived.
func (c BatchCheck) Valid() bool { return c.valid }

// BatchScan validates the record batches of a buffer while the buffer
// fills: it sums each batch's CRC-32C chunk by chunk right after the
// bytes are written (still in the CPU's cache), and once a batch is
// whole runs validateBatch on it (its records were read a batch's length
// ago at most; batches above DefaultMaxMessageBytes get the sum only). Done when the request is handled, both read the request
// back from memory: a 16 MB produce request does not stay in cache
// between the socket read and the handler, and the CRC then cost 5x what
// it costs on bytes just read.
//
// The caller walks the buffer's outer layout (the produce request's
// fields) and, for each run of batches it finds (one partition's
// records), calls Run with the run's position and then Feed as bytes
// arrive. Batches are split by their batchLength as SplitBatches does; a
// length that does not fit ends the scan of that run (its batches are
// then validated the normal way, which rejects them). Check hands the
// result to Log.AppendChecked and ValidateBatch.
//
// The zero value is ready to use. Not safe for concurrent use.
type BatchScan struct {
	sums []scannedBatch // batches scanned whole, in buffer order
	hint int            // index in sums where Check looks first

	runEnd int // end of the current run in the buffer
	next   int // where the next batch of the run starts
	cur    scannedBatch
	at     int  // cur is summed up to here
	inCur  bool // cur is being summed
}

// scannedBatch is one batch's position in the buffer and what the scan
// found.
type scannedBatch struct {
	start, end int
	check      BatchCheck
}

// maxKeptSums bounds the results (24 bytes each) a BatchScan keeps allocated
// across Reset: a request of many tiny batches does not pin its list.
const maxKeptSums = 4096

// Reset forgets every result, for a new buffer.
func (s *BatchScan) Reset() {
	s.sums = s.sums[:0]
	if cap(s.sums) > maxKeptSums {
		s.sums = nil
	}
	s.hint = 0
	s.runEnd, s.next, s.inCur = 0, 0, false
}

// Run starts a run of batches occupying buf[start:end] of the buffer
// being filled. A run still in progress is abandoned (its batches get no
// result).
func (s *BatchScan) Run(start, end int) {
	s.runEnd, s.next, s.inCur = end, start, false
}

// Feed sums the run's bytes in filled (the buffer's bytes received so far,
// from its start) that were not summed yet, validates each batch that
// became whole, and reports whether the run is complete: filled reaches
// its end. Feed never reads past len(filled).
func (s *BatchScan) Feed(filled []byte) (done bool) {
	for {
		if !s.inCur {
			if s.next >= s.runEnd {
				return len(filled) >= s.runEnd
			}
			// The header's batchLength and CRC must be in to know the
			// batch's extent; the CRC covers attributes to the end.
			if len(filled) < s.next+offAttributes {
				return false
			}
			length := int32(binary.BigEndian.Uint32(filled[s.next+offBatchLength:]))
			end := int64(s.next) + int64(length) + batchLengthPrefix
			if length < minBatchLength || end > int64(s.runEnd) {
				// Not a batch that validation would accept: leave
				// the rest of the run unsummed.
				s.next = s.runEnd
				continue
			}
			s.cur = scannedBatch{start: s.next, end: int(end)}
			s.at, s.inCur = s.next+offAttributes, true
		}
		upto := min(len(filled), s.cur.end)
		if upto > s.at {
			s.cur.check.crc = crc32.Update(s.cur.check.crc, castagnoli, filled[s.at:upto])
			s.at = upto
		}
		if s.at < s.cur.end {
			return false
		}
		s.cur.check.known = true
		// A batch above the default max.message.bytes is likely to be
		// refused before it is decoded (Append checks the size first):
		// only its CRC is kept, so that such batches cost no decoding.
		if s.cur.end-s.cur.start <= DefaultMaxMessageBytes {
			_, err := validateBatch(filled[s.cur.start:s.cur.end], s.cur.check)
			s.cur.check.valid = err == nil
		}
		s.sums = append(s.sums, s.cur)
		s.next, s.inCur = s.cur.end, false
	}
}

// Check returns what the scan found about batch, which must be a slice
// of buf, the buffer the scan was fed (the same memory, not a copy), or
// the zero BatchCheck when the scan did not scan exactly these bytes.
// Lookups in buffer order cost O(1) each.
func (s *BatchScan) Check(buf, batch []byte) BatchCheck {
	if len(batch) == 0 {
		return BatchCheck{}
	}
	for i := range s.sums {
		j := (s.hint + i) % len(s.sums)
		sb := s.sums[j]
		if sb.end <= len(buf) && sb.end-sb.start == len(batch) && &buf[sb.start] == &batch[0] {
			s.hint = j + 1
			return sb.check
		}
	}
	return BatchCheck{}
}

package storage

import (
	"fmt"
	"sync"
)

// Read-side damage handling. Data on disk can change after it was
// validated (a flipped bit, an edited file, a torn sector), so nothing a
// segment holds is trusted blindly on read:
//   - every header is bounds-checked against the segment before use
//     (batchAt), so a damaged length can never index past the mapping or
//     stop the walk from advancing;
//   - a segment that was not CRC-checked since it was opened (one loaded
//     from its index after a clean shutdown, or trusted below the recovery
//     point) is verified once, lazily, by its first read (verify);
//   - the first bad batch found is remembered (badAt) and logged with the
//     segment and position; reads stop before it and a read at it fails
//     with ErrCorruptBatch, which the broker answers as a storage error.

// readCheck is a segment's read-side verification state.
type readCheck struct {
	mu       sync.Mutex
	verified bool  // every batch below size passed bounds and CRC checks
	badAt    int64 // position of the first bad batch, or -1
	reason   error // why the batch at badAt is bad
}

// batchAt decodes and bounds-checks the batch header at pos: the header
// and the whole batch lie within [0, size), its length is at least a
// header, and its structure (magic, offset delta) is sane. A header that
// passes always advances a walk by at least batchHeaderSize bytes.
func (s *segment) batchAt(pos int64) (BatchHeader, error) {
	if pos < 0 || pos+batchHeaderSize > s.size {
		return BatchHeader{}, fmt.Errorf("%w: batch header at %d runs past the segment end %d", ErrCorruptBatch, pos, s.size)
	}
	h := parseHeader(s.m.data[pos : pos+batchHeaderSize])
	if h.BatchLength < minBatchLength || pos+h.Size() > s.size {
		return h, fmt.Errorf("%w: batch length %d at %d does not fit the segment (end %d)", ErrCorruptBatch, h.BatchLength, pos, s.size)
	}
	if err := checkStructure(&h); err != nil {
		return h, err
	}
	return h, nil
}

// markVerified records that s was fully checked (recovery scanned it with
// CRCs, or this process wrote it).
func (s *segment) markVerified() {
	s.check.mu.Lock()
	s.check.verified, s.check.badAt = true, -1
	s.check.mu.Unlock()
}

// damage returns the position of the first bad batch of s (-1 for none)
// and why, verifying s first if that was never done. The caller holds the
// log's read lock, so s.size does not change meanwhile.
func (s *segment) damage() (int64, error) {
	s.check.mu.Lock()
	defer s.check.mu.Unlock()
	if !s.check.verified {
		s.check.badAt, s.check.reason = s.verify()
		s.check.verified = true
	}
	return s.check.badAt, s.check.reason
}

// verify walks every batch of s with bounds and CRC checks and returns
// the position of the first bad one (-1 for none), logging it.
func (s *segment) verify() (int64, error) {
	for pos := int64(0); pos < s.size; {
		h, err := s.batchAt(pos)
		if err == nil {
			err = checkCRC(s.m.data[pos:pos+h.Size()], BatchCheck{})
		}
		if err != nil {
			s.log.Error("storage: damaged batch found on read; reads stop before it", "segment", s.path, "position", pos, "err", err)
			return pos, err
		}
		pos += h.Size()
	}
	return -1, nil
}

// span returns the end of the whole batches from pos that fit in
// maxBytes (at least one batch), stopping before a damaged batch. A
// damaged batch at pos itself is an error naming the segment and
// position.
func (s *segment) span(pos int64, maxBytes int) (int64, error) {
	limit := s.size
	if bad, reason := s.damage(); bad >= 0 {
		if pos >= bad {
			return pos, fmt.Errorf("segment %s position %d: %w", s.path, bad, reason)
		}
		limit = bad
	}
	end := pos
	for end < limit {
		h, err := s.batchAt(end)
		if err != nil { // only possible past what verify saw
			if end == pos {
				return pos, fmt.Errorf("segment %s position %d: %w", s.path, end, err)
			}
			break
		}
		if end > pos && end-pos+h.Size() > int64(maxBytes) {
			break
		}
		end += h.Size()
	}
	return end, nil
}

package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Byte offsets of the Kafka v2 RecordBatch header fields. The header is the
// fixed 61-byte prefix before the records.
const (
	offBaseOffset  = 0
	offBatchLength = 8
	offLeaderEpoch = 12
	offMagic       = 16
	// patchedPrefix covers the fields Append rewrites (baseOffset and
	// partitionLeaderEpoch, with batchLength between them).
	patchedPrefix    = offMagic
	offCRC           = 17
	offAttributes    = 21
	offLastOffDelta  = 23
	offBaseTimestamp = 27
	offMaxTimestamp  = 35
	offProducerID    = 43
	offProducerEpoch = 51
	offBaseSequence  = 53
	offRecordCount   = 57

	// batchHeaderSize is the size of the fixed header (records start here).
	batchHeaderSize = 61
	// batchLengthPrefix is the part not counted by batchLength
	// (baseOffset and batchLength itself).
	batchLengthPrefix = 12
	// minBatchLength is the smallest valid batchLength: a header with no records.
	minBatchLength = batchHeaderSize - batchLengthPrefix

	attrCompressionMask = 0x07
	attrTransactional   = 0x10
	attrControl         = 0x20
	maxCompressionCodec = 4 // zstd
)

// castagnoli is the CRC-32C table Kafka uses for v2 batches. A value, not a
// mutable global: crc32.MakeTable returns the shared, read-only table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeader holds the decoded fields of one batch header that the log
// needs for indexing, time lookups and producer state.
type batchHeader struct {
	baseOffset      int64
	batchLength     int32
	lastOffsetDelta int32
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
}

// size returns the whole batch size in bytes.
func (h *batchHeader) size() int64 { return int64(h.batchLength) + batchLengthPrefix }

// lastOffset returns the offset of the last record of the batch.
func (h *batchHeader) lastOffset() int64 { return h.baseOffset + int64(h.lastOffsetDelta) }

// lastSequence returns the sequence of the last record with Kafka's int32
// wraparound (DefaultRecordBatch.incrementSequence).
func (h *batchHeader) lastSequence() int32 { return addSequence(h.baseSequence, h.lastOffsetDelta) }

// addSequence adds delta >= 0 to seq, wrapping from MaxInt32 to 0 as Kafka does.
func addSequence(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// parseHeader decodes the header fields of b, which must hold at least
// batchHeaderSize bytes. It performs no validation.
func parseHeader(b []byte) batchHeader {
	be := binary.BigEndian
	return batchHeader{
		baseOffset:      int64(be.Uint64(b[offBaseOffset:])),
		batchLength:     int32(be.Uint32(b[offBatchLength:])),
		lastOffsetDelta: int32(be.Uint32(b[offLastOffDelta:])),
		maxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		producerID:      int64(be.Uint64(b[offProducerID:])),
		producerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		baseSequence:    int32(be.Uint32(b[offBaseSequence:])),
	}
}

// validateBatch checks a batch received from a producer and returns its
// decoded header. The checks are those of the Kafka broker for magic v2
// input: consistent length, magic, CRC-32C, offset delta vs record count,
// no transactional or control batches, and records that decode (and
// decompress) to exactly what the header says (WalkRecords).
func validateBatch(b []byte) (batchHeader, error) {
	if len(b) < batchHeaderSize {
		return batchHeader{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte v2 header", ErrCorruptBatch, len(b), batchHeaderSize)
	}
	h := parseHeader(b)
	if h.batchLength < minBatchLength {
		return h, fmt.Errorf("%w: batchLength %d below minimum %d", ErrCorruptBatch, h.batchLength, minBatchLength)
	}
	if h.size() != int64(len(b)) {
		return h, fmt.Errorf("%w: batchLength %d does not match %d bytes received", ErrCorruptBatch, h.batchLength, len(b))
	}
	if err := checkStructure(b, &h); err != nil {
		return h, err
	}
	if err := checkCRC(b); err != nil {
		return h, err
	}
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:])
	if codec := attrs & attrCompressionMask; codec > maxCompressionCodec {
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptBatch, codec)
	}
	if attrs&(attrTransactional|attrControl) != 0 {
		return h, fmt.Errorf("%w: transactional or control batch (attributes %#04x)", ErrUnsupported, attrs)
	}
	if count := int32(be.Uint32(b[offRecordCount:])); int64(count) != int64(h.lastOffsetDelta)+1 {
		return h, fmt.Errorf("%w: record count %d does not match lastOffsetDelta %d", ErrCorruptBatch, count, h.lastOffsetDelta)
	}
	if h.producerID >= 0 && h.baseSequence < 0 {
		return h, fmt.Errorf("%w: idempotent batch (producer id %d) with negative base sequence %d", ErrCorruptBatch, h.producerID, h.baseSequence)
	}
	// The header agrees with itself; now the records must agree with it.
	// Kafka's LogValidator decodes every record: a batch stored without
	// this check can make every client stall or loop on the partition.
	if err := WalkRecords(b, 0, nil); err != nil {
		return h, err
	}
	return h, nil
}

// checkStructure checks the fields that recovery relies on to hop from header
// to header: magic and a non-negative lastOffsetDelta.
func checkStructure(b []byte, h *batchHeader) error {
	if magic := int8(b[offMagic]); magic != 2 {
		return fmt.Errorf("%w: magic %d, only v2 (magic 2) batches are supported", ErrCorruptBatch, magic)
	}
	if h.lastOffsetDelta < 0 {
		return fmt.Errorf("%w: negative lastOffsetDelta %d", ErrCorruptBatch, h.lastOffsetDelta)
	}
	return nil
}

// checkCRC verifies the CRC-32C stored in b against attributes..end.
func checkCRC(b []byte) error {
	stored := binary.BigEndian.Uint32(b[offCRC:])
	if computed := crc32.Checksum(b[offAttributes:], castagnoli); computed != stored {
		return fmt.Errorf("%w: crc mismatch: stored %08x computed %08x", ErrCorruptBatch, stored, computed)
	}
	return nil
}

// SplitBatches splits the records of one produce partition into its
// record batches by their length fields, without copying. It fails with
// ErrCorruptBatch when the lengths do not tile b exactly. Most clients send
// one batch per partition; Kafka accepts several.
func SplitBatches(b []byte) ([][]byte, error) {
	var out [][]byte
	for rest := b; len(rest) > 0; {
		if len(rest) < batchLengthPrefix {
			return nil, fmt.Errorf("%w: %d trailing bytes after %d batches", ErrCorruptBatch, len(rest), len(out))
		}
		n := int64(binary.BigEndian.Uint32(rest[offBatchLength:])) + batchLengthPrefix
		if int32(binary.BigEndian.Uint32(rest[offBatchLength:])) < minBatchLength || n > int64(len(rest)) {
			return nil, fmt.Errorf("%w: batch %d claims %d bytes, %d remain", ErrCorruptBatch, len(out), n, len(rest))
		}
		out, rest = append(out, rest[:n]), rest[n:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no record batch", ErrCorruptBatch)
	}
	return out, nil
}

// ValidateBatch runs the checks Append runs on a batch, without appending
// it, so that a caller can reject a multi-batch request before any of its
// batches is stored.
func ValidateBatch(b []byte) error {
	_, err := validateBatch(b)
	return err
}

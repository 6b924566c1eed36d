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

// BatchHeader is the fixed header of a Kafka v2 record batch, field by
// field. It is the one decoder of that layout in refbroker: the log,
// recovery, share fetch and tests all read and write headers through
// ParseBatchHeader and PutBatchHeader.
type BatchHeader struct {
	BaseOffset int64
	// BatchLength counts the bytes after itself (the batch is
	// BatchLength+12 bytes long; see Size).
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	// CRC is the stored CRC-32C of attributes..end of the batch.
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// BatchHeaderSize is the size of the fixed v2 batch header in bytes; the
// records start after it.
const BatchHeaderSize = batchHeaderSize

// Size returns the whole batch size in bytes.
func (h *BatchHeader) Size() int64 { return int64(h.BatchLength) + batchLengthPrefix }

// LastOffset returns the offset of the last record of the batch.
func (h *BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// lastSequence returns the sequence of the last record with Kafka's int32
// wraparound (DefaultRecordBatch.incrementSequence).
func (h *BatchHeader) lastSequence() int32 { return addSequence(h.BaseSequence, h.LastOffsetDelta) }

// addSequence adds delta >= 0 to seq, wrapping from MaxInt32 to 0 as Kafka does.
func addSequence(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// ParseBatchHeader decodes the header at the start of b. It fails with
// ErrCorruptBatch only when b is shorter than BatchHeaderSize; the fields
// are not validated (see ValidateBatch).
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < batchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte v2 header", ErrCorruptBatch, len(b), batchHeaderSize)
	}
	return parseHeader(b), nil
}

// parseHeader decodes the header fields of b, which must hold at least
// batchHeaderSize bytes. It performs no validation.
func parseHeader(b []byte) BatchHeader {
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offRecordCount:])),
	}
}

// PutBatchHeader writes h over the header at the start of b (which must
// hold the whole batch) and recomputes the CRC over attributes..end, so
// that a batch edited field by field stays one a client accepts; h.CRC is
// ignored. It fails with ErrCorruptBatch when b is shorter than the header.
func PutBatchHeader(b []byte, h BatchHeader) error {
	if len(b) < batchHeaderSize {
		return fmt.Errorf("%w: %d bytes is shorter than the %d-byte v2 header", ErrCorruptBatch, len(b), batchHeaderSize)
	}
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(h.BatchLength))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = byte(h.Magic)
	be.PutUint16(b[offAttributes:], uint16(h.Attributes))
	be.PutUint32(b[offLastOffDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(h.NumRecords))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return nil
}

// NextOffsetAfter returns the offset after the last whole batch in data
// (batches back to back, as Read returns them), or ok=false when data
// starts with no whole, plausible batch. It stops at the first header
// that does not fit.
func NextOffsetAfter(data []byte) (next int64, ok bool) {
	for int64(len(data)) >= batchHeaderSize {
		h := parseHeader(data)
		if h.BatchLength < minBatchLength || h.Size() > int64(len(data)) {
			break
		}
		next, ok = h.LastOffset()+1, true
		data = data[h.Size():]
	}
	return next, ok
}

// validateBatch checks a batch received from a producer and returns its
// decoded header. The checks are those of the Kafka broker for magic v2
// input: consistent length, magic, CRC-32C, offset delta vs record count,
// no transactional or control batches, and records that decode (and
// decompress) to exactly what the header says (WalkRecords). check is
// what a BatchScan found on b's bytes while they arrived: when they
// passed these very checks, they are not run again; when only b's CRC
// is known, it is compared with the stored one instead of summing b
// again.
func validateBatch(b []byte, check BatchCheck) (BatchHeader, error) {
	if check.valid && len(b) >= batchHeaderSize {
		return parseHeader(b), nil
	}
	if len(b) < batchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte v2 header", ErrCorruptBatch, len(b), batchHeaderSize)
	}
	h := parseHeader(b)
	if h.BatchLength < minBatchLength {
		return h, fmt.Errorf("%w: batchLength %d below minimum %d", ErrCorruptBatch, h.BatchLength, minBatchLength)
	}
	if h.Size() != int64(len(b)) {
		return h, fmt.Errorf("%w: batchLength %d does not match %d bytes received", ErrCorruptBatch, h.BatchLength, len(b))
	}
	if err := checkStructure(&h); err != nil {
		return h, err
	}
	if err := checkCRC(b, check); err != nil {
		return h, err
	}
	attrs := uint16(h.Attributes)
	if codec := attrs & attrCompressionMask; codec > maxCompressionCodec {
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptBatch, codec)
	}
	if attrs&(attrTransactional|attrControl) != 0 {
		return h, fmt.Errorf("%w: transactional or control batch (attributes %#04x)", ErrUnsupported, attrs)
	}
	if int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return h, fmt.Errorf("%w: record count %d does not match lastOffsetDelta %d", ErrCorruptBatch, h.NumRecords, h.LastOffsetDelta)
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return h, fmt.Errorf("%w: idempotent batch (producer id %d) with negative base sequence %d", ErrCorruptBatch, h.ProducerID, h.BaseSequence)
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
func checkStructure(h *BatchHeader) error {
	if h.Magic != 2 {
		return fmt.Errorf("%w: magic %d, only v2 (magic 2) batches are supported", ErrCorruptBatch, h.Magic)
	}
	if h.LastOffsetDelta < 0 {
		return fmt.Errorf("%w: negative lastOffsetDelta %d", ErrCorruptBatch, h.LastOffsetDelta)
	}
	return nil
}

// checkCRC verifies the CRC-32C stored in b against attributes..end,
// summing those bytes unless check already holds their CRC.
func checkCRC(b []byte, check BatchCheck) error {
	stored := binary.BigEndian.Uint32(b[offCRC:])
	computed := check.crc
	if !check.known {
		computed = crc32.Checksum(b[offAttributes:], castagnoli)
	}
	if computed != stored {
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

// ValidateBatch runs the checks AppendChecked runs on a batch, without
// appending it, so that a caller can reject a multi-batch request before
// any of its batches is stored. check is what a BatchScan found on b
// while it arrived, or the zero BatchCheck.
func ValidateBatch(b []byte, check BatchCheck) error {
	_, err := validateBatch(b, check)
	return err
}

package storage

import "errors"

// Sentinel errors returned (usually wrapped with detail) by this package.
// Match them with errors.Is; the protocol server maps each to a Kafka error
// code (noted per error).
var (
	// ErrCorruptBatch means a record batch failed validation: bad length,
	// magic, CRC-32C or offset/record-count fields. Kafka: CORRUPT_MESSAGE (2).
	// It is always wrapped with the reason, e.g. "corrupt batch: crc mismatch".
	ErrCorruptBatch = errors.New("corrupt batch")

	// ErrInvalidRecord means a batch's records do not match its header or
	// Kafka's rules for producer input: wrong record count, offset deltas
	// not 0, 1, 2, ..., fields overrunning a record, trailing bytes.
	// Kafka: INVALID_RECORD (87).
	ErrInvalidRecord = errors.New("invalid record")

	// ErrMessageTooLarge means a batch is larger than
	// Config.MaxMessageBytes. Kafka: MESSAGE_TOO_LARGE (10).
	ErrMessageTooLarge = errors.New("message too large")

	// ErrOffsetOutOfRange means a Read asked for an offset outside
	// [StartOffset, HighWatermark]. Kafka: OFFSET_OUT_OF_RANGE (1).
	ErrOffsetOutOfRange = errors.New("offset out of range")

	// ErrOutOfOrderSequence means an idempotent batch's sequence number does
	// not follow the producer's last appended sequence (a gap or a step back
	// that is not a recent duplicate). Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER (45).
	ErrOutOfOrderSequence = errors.New("out of order sequence number")

	// ErrInvalidProducerEpoch means an idempotent batch carries an epoch older
	// than the one this partition already saw for its producer id (the
	// producer was fenced). Kafka: INVALID_PRODUCER_EPOCH (47).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")

	// ErrUnsupported means the batch uses a feature this storage does not
	// implement (transactional or control batches, a non-v2 magic is
	// ErrCorruptBatch instead), or the platform lacks mmap.
	// Kafka: UNSUPPORTED_FOR_MESSAGE_FORMAT (43) or UNSUPPORTED_VERSION (35).
	ErrUnsupported = errors.New("unsupported")

	// ErrClosed means the Log was closed (or deleted) before the call.
	ErrClosed = errors.New("log closed")
)

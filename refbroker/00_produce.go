package refbroker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/storage"
)

// Produce: v0-13
//
// Behavior:
// * Each partition's Records hold one or more magic-v2 record batches; all
//   are validated before any is appended, then each is appended as opaque
//   bytes. storage validates length, CRC-32C and the header
//   (CORRUPT_MESSAGE), decodes and decompresses every record as Kafka's
//   LogValidator does (count, offset deltas 0..n-1, field lengths, no
//   trailing bytes: INVALID_RECORD; undecompressable: CORRUPT_MESSAGE),
//   the batch size against max.message.bytes (MESSAGE_TOO_LARGE), and
//   idempotent sequences
//   (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH); a duplicate
//   batch succeeds with its original base offset.
// * acks 1 and -1 are the same (one replica): the response is sent once
//   the batch is in the log (and fsynced first with --fsync=always).
// * acks=0 sends no response; if any partition failed, the connection is
//   closed instead, as Kafka does, so the client notices.
// * Transactional and control batches: UNSUPPORTED_FOR_MESSAGE_FORMAT;
//   TransactionalID itself is not checked (InitProducerID never hands out
//   a transactional producer).
// * TimeoutMillis is ignored: there is no replication to wait for.
// * Topics are never auto-created by Produce (only by Metadata).
//
// Version notes:
// * v0-v2 are advertised but carry only magic-v2 batches; magic 0/1
//   message sets are CORRUPT_MESSAGE. librdkafka up to 2.11 compresses
//   with gzip, snappy or lz4 only for a broker whose Produce range starts
//   at v0 (Kafka before 4.0); with v3 as the minimum it silently sends
//   every batch uncompressed. Clients that know magic v2 send v3+.
// * v3: record batches
// * v5: LogStartOffset in the response
// * v8: per-partition ErrorMessage
// * v9: flexible
// * v13: topics addressed by TopicID; unknown ID is UNKNOWN_TOPIC_ID

func init() {
	regKey(apiKey{
		key:       kmsg.Produce,
		authorize: aclProduce,
		min:       0,
		max:       13,
		handle:    handleProduce,
		wait:      answersPromptly,
		frame:     releasesFrame,
		// A 16 MB request is checked while it is still in cache.
		checksOnArrival: true,
		unsupported: []string{
			"TransactionalID and transactional/control batches (UNSUPPORTED_FOR_MESSAGE_FORMAT)",
			"TimeoutMillis (no replication to wait for)",
			"magic 0/1 message sets (v0-2 are advertised for librdkafka's compression check; they must carry v2 batches)",
		},
	})
}

func handleProduce(_ context.Context, cc *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	switch req.Acks {
	case -1, 0, 1:
	default:
		return produceAll(req, resp, kerr.InvalidRequiredAcks.Code, fmt.Sprintf("acks %d is not -1, 0 or 1", req.Acks)), nil
	}
	failed := false
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		tp, code := cc.b.produceTopic(req.Version, rt)
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			if code != 0 {
				sp.ErrorCode = code
			} else {
				cc.b.appendPartition(req.Version, tp, rp, &sp, cc.scan)
			}
			failed = failed || sp.ErrorCode != 0
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		if failed {
			return nil, fmt.Errorf("%w: acks=0 produce failed for at least one partition", errCloseConn)
		}
		return nil, nil
	}
	return resp, nil
}

// produceTopic resolves a produce topic by name or, from v13, by ID.
func (b *Broker) produceTopic(version int16, rt *kmsg.ProduceRequestTopic) (*topic, int16) {
	if version >= 13 {
		if tp := b.topics.lookupID(rt.TopicID); tp != nil {
			return tp, 0
		}
		return nil, kerr.UnknownTopicID.Code
	}
	if tp := b.topics.lookup(rt.Topic); tp != nil {
		return tp, 0
	}
	return nil, kerr.UnknownTopicOrPartition.Code
}

// appendPartition appends one partition's batch and fills sp. scan, which
// may be nil, holds what the reader found about the request's batches
// while they arrived.
func (b *Broker) appendPartition(version int16, tp *topic, rp *kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition, scan *produceScan) {
	if rp.Partition < 0 || int(rp.Partition) >= len(tp.parts) {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	res, err := b.appendRecords(tp.parts[rp.Partition], rp.Records, scan)
	if err != nil {
		sp.ErrorCode = produceErrorCode(err)
		if version >= 8 {
			sp.ErrorMessage = b.clientMessage(err)
		}
		if sp.ErrorCode == kerr.KafkaStorageError.Code {
			b.log.Error("refbroker: append failed", "topic", tp.name, "partition", rp.Partition, "err", err)
		}
		return
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
}

// appendRecords appends a partition's records, which may hold several
// batches. All of them are validated before the first is appended, so a
// corrupt batch rejects the whole partition and stores nothing, as in
// Kafka; the response carries the first batch's base offset. What scan
// found about a batch while it arrived stands for the checks of its
// bytes (storage.AppendChecked); the checks that depend on the log run
// here in any case.
func (b *Broker) appendRecords(l *storage.Log, records []byte, scan *produceScan) (storage.AppendResult, error) {
	batches, err := storage.SplitBatches(records)
	if err != nil {
		return storage.AppendResult{}, err
	}
	if len(batches) == 1 {
		return l.AppendChecked(records, 0, scan.check(records))
	}
	for _, b := range batches {
		if err := storage.ValidateBatch(b, scan.check(b)); err != nil {
			return storage.AppendResult{}, err
		}
	}
	first, err := l.AppendChecked(batches[0], 0, scan.check(batches[0]))
	if err != nil {
		return first, err
	}
	for _, b := range batches[1:] {
		if _, err := l.AppendChecked(b, 0, scan.check(b)); err != nil {
			return storage.AppendResult{}, err
		}
	}
	return first, nil
}

// produceErrorCode maps a storage append error to a Kafka error code.
func produceErrorCode(err error) int16 {
	switch {
	case errors.Is(err, storage.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, storage.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, storage.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrUnsupported):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, storage.ErrClosed):
		// The topic was deleted (or the broker is stopping) between
		// lookup and append.
		return kerr.UnknownTopicOrPartition.Code
	default:
		// What is left are I/O failures of the partition's files
		// (ENOSPC rolling or preallocating a segment, EIO): Kafka's
		// KAFKA_STORAGE_ERROR, which clients retry, where
		// UNKNOWN_SERVER_ERROR would make them give up.
		return kerr.KafkaStorageError.Code
	}
}

// produceAll answers every partition of req with one error.
func produceAll(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code int16, msg string) kmsg.Response {
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			if req.Version >= 8 {
				sp.ErrorMessage = &msg
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// aclProduce: producing to a topic needs produce on it; the partitions of
// other topics are answered TOPIC_AUTHORIZATION_FAILED and the rest is
// served, as Kafka does. Denied acks=0 data is dropped unanswered.
func aclProduce(ctx context.Context, cc *conn, kreq kmsg.Request, serve handler) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp, err := serveAllowed(ctx, cc, req, serve, &req.Topics, func(t kmsg.ProduceRequestTopic) (kmsg.ProduceResponseTopic, bool) {
		rt := kmsg.NewProduceResponseTopic()
		if cc.may(opProduce, resTopic, cc.topicName(t.Topic, t.TopicID)) {
			return rt, false
		}
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(r *kmsg.ProduceResponse) *[]kmsg.ProduceResponseTopic { return &r.Topics })
	if req.Acks == 0 {
		return nil, err
	}
	return resp, err
}

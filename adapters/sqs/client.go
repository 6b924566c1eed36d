package sqs

import (
	"fmt"

	"github.com/brokerbench/brokerbench/adapters"
)

// ClientSettings implements adapters.ClientReporter with the sizes
// NewProducer and NewConsumer use.
func (s *SQS) ClientSettings(p adapters.ProducerConfig, c adapters.ConsumerConfig) []adapters.ClientSetting {
	var out []adapters.ClientSetting
	if p.ID != "" {
		inflight := adapters.ClientSetting{Name: "max unfinished sends", Value: fmt.Sprint(producerInFlight(p))}
		if p.MaxInFlight <= 0 {
			inflight.Reason = "enough sends to keep every concurrent batch request full at max rate, with bounded memory"
		}
		out = append(out,
			adapters.ClientSetting{Name: "SendMessageBatch", Value: fmt.Sprintf("up to %d entries per queue, %d requests at once", maxBatch, s.cfg.SendConcurrency),
				Reason: "10 is SQS's batch limit; batching is the SQS developer guide's first throughput advice, and concurrent requests hide the HTTP round trip"},
			inflight)
	}
	if c.ID != "" {
		most, vis := s.receiveSizing(c)
		out = append(out,
			adapters.ClientSetting{Name: "ReceiveMessage", Value: fmt.Sprintf("up to %d messages, long poll %v", most, s.cfg.WaitTime),
				Reason: "10 is SQS's receive limit; long polling avoids empty receives (SQS developer guide)"},
			adapters.ClientSetting{Name: "visibility timeout", Value: fmt.Sprintf("%ds", vis)},
			adapters.ClientSetting{Name: "ack", Value: "DeleteMessageBatch of handled messages"},
		)
	}
	return out
}

// ReportsAcks marks SQS as an adapters.AckReporter: consumers call
// OnAcked with the accepted deliveries each DeleteMessageBatch reply
// lists as deleted (with CommitAuto, when the Handler returns: the batch
// was deleted on receipt).
func (s *SQS) ReportsAcks() bool { return true }

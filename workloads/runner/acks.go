package runner

import "github.com/brokerbench/brokerbench/adapters"

// Queue-model acks are recorded when the adapter has acknowledged the
// delivery to the broker, not when the Handler returns: a consumer that
// crashes between the two has acked nothing, and the checker must then
// expect a redelivery (docs/history.md). Systems implementing
// adapters.AckReporter call ConsumerConfig.OnAcked with the Ref the
// Handler set, the message's history value; for the others the runner can
// only record the ack at the Handler's return.

// deferAcks reports whether accepted deliveries of sub are recorded by
// OnAcked rather than at the Handler's return.
func (s *subscription) deferAcks() bool {
	if s.hist == nil || s.hist.log || s.queue == nil {
		return false
	}
	_, ok := s.run.sys.(adapters.AckReporter)
	return ok
}

// onAcked returns the OnAcked callback of a consumer incarnation whose
// history process is proc, or nil when acks are recorded at the Handler's
// return (adapters then keep no Refs).
func (s *subscription) onAcked(proc int) func(int32, []uint64) {
	if !s.deferAcks() {
		return nil
	}
	keys := s.run.topics[s.topicIdx].keys
	return func(p int32, refs []uint64) {
		if p < 0 || int(p) >= len(keys) {
			return
		}
		for _, ref := range refs {
			s.hist.w.Ack(proc, keys[p], int64(ref))
		}
	}
}

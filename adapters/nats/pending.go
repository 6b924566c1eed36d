package nats

import (
	natsgo "github.com/nats-io/nats.go"

	"github.com/brokerbench/brokerbench/adapters"
)

// flushWait is one Flush call waiting for the sends outstanding when it
// started.
type flushWait struct {
	left int
	done chan struct{}
}

// pendingSend is one send awaiting its publish ack. It holds the message
// it publishes, so that a send costs one allocation, not two, and is
// allocated afresh per send: a late second callback for a message (nats.go
// can race a no-responders retry against a reconnect) then cannot reach a
// later send.
type pendingSend struct {
	msg       natsgo.Msg
	partition int32
	done      func(adapters.SendResult, error)
	waits     []*flushWait // Flush calls waiting for it; guarded by producer.mu
	// prev and next link the send into its producer's sendList; both nil
	// when it is not in one. Guarded by producer.mu.
	prev, next *pendingSend
}

// sendList is a producer's sends awaiting their acks, oldest first, linked
// through the sends themselves: registering and removing a send costs a
// few pointer writes, where a map keyed by message cost a hash insert and
// a lookup and delete per send (about a quarter of a microsecond per
// message on the benchmark machine, profiled, with 1000 in flight).
//
// find looks a message up from the oldest send on. JetStream acknowledges
// the publishes of one connection to one stream in the order it stored
// them, so an ack is nearly always for the oldest send and found at once;
// out-of-order completions (errors, a producer alternating between
// streams that progress at different speeds) walk past the older sends
// still pending, at most the in-flight window.
//
// Not safe for concurrent use: the producer guards it with its mu.
type sendList struct {
	head, tail *pendingSend
	n          int
}

// push appends s, which must not be in a list, as the newest send.
func (l *sendList) push(s *pendingSend) {
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.n++
}

// remove unlinks s and reports whether it was in the list; false means it
// was removed before (or never pushed), so its completion is someone
// else's.
func (l *sendList) remove(s *pendingSend) bool {
	if s.prev == nil && l.head != s {
		return false
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
	l.n--
	return true
}

// find returns the pending send publishing msg, or nil when there is none
// (it completed already).
func (l *sendList) find(msg *natsgo.Msg) *pendingSend {
	for s := l.head; s != nil; s = s.next {
		if &s.msg == msg {
			return s
		}
	}
	return nil
}

// all returns the pending sends, oldest first.
func (l *sendList) all() []*pendingSend {
	out := make([]*pendingSend, 0, l.n)
	for s := l.head; s != nil; s = s.next {
		out = append(out, s)
	}
	return out
}

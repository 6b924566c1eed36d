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
// a lookup and delete per send (docs/performance.md, NATS: about 0.3 us of
// client CPU per message in the benchmark's profile).
//
// find looks a message up from the oldest send on. JetStream acknowledges
// the publishes of one connection to one stream in the order it stored
// them, so an ack is nearly always for the oldest send and found at once.
// Completions out of that order (errors: nats.go fails every outstanding
// publish, in map order, on a reconnect or CleanupPublisher; a producer
// alternating between streams that progress at different speeds) would
// each walk the list, quadratic in the window, so a find that walks more
// than maxWalk sends indexes the list by message instead, until maxWalk
// finds in a row hit the oldest send again or the list empties.
//
// Not safe for concurrent use: the producer guards it with its mu.
type sendList struct {
	head, tail *pendingSend
	n          int
	// index holds every send in the list while completions come out of
	// order; nil otherwise.
	index map[*natsgo.Msg]*pendingSend
	// inOrder counts the finds in a row, with index on, whose send was the
	// oldest.
	inOrder int
}

// maxWalk is how far find walks the list before it indexes it.
const maxWalk = 16

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
	if l.index != nil {
		l.index[&s.msg] = s
	}
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
	if l.index != nil {
		delete(l.index, &s.msg)
		if l.n == 0 {
			l.index = nil
		}
	}
	return true
}

// find returns the pending send publishing msg, or nil when there is none
// (it completed already).
func (l *sendList) find(msg *natsgo.Msg) *pendingSend {
	if l.index != nil {
		s := l.index[msg]
		if s == nil || s != l.head {
			l.inOrder = 0
			return s
		}
		if l.inOrder++; l.inOrder >= maxWalk {
			l.index = nil // back in order
		}
		return s
	}
	walked := 0
	for s := l.head; s != nil && walked < maxWalk; s = s.next {
		if &s.msg == msg {
			return s
		}
		walked++
	}
	if l.n <= maxWalk {
		return nil // walked them all
	}
	l.index = make(map[*natsgo.Msg]*pendingSend, l.n)
	for s := l.head; s != nil; s = s.next {
		l.index[&s.msg] = s
	}
	l.inOrder = 0
	return l.index[msg]
}

// all returns the pending sends, oldest first.
func (l *sendList) all() []*pendingSend {
	out := make([]*pendingSend, 0, l.n)
	for s := l.head; s != nil; s = s.next {
		out = append(out, s)
	}
	return out
}

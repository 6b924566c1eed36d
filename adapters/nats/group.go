package nats

// Partition ownership and commits.
//
// JetStream pull consumers have no partition assignment (the pinned
// clients of priority groups need nats-server 2.11). So that a partition is
// an ordered unit consumed by one member at a time, as on every system, the
// consumers of one subscription created through one NATS value form a
// local group (adapters/localgroup) that gives partition p, whose durable
// is "<subscription>_p<p>" filtered on the partition's subject, to member
// p mod n. Members in other processes are not coordinated with
// (docs/adapters/nats.md).
//
// A member pulls each owned partition on a goroutine of its own (a
// Messages iterator, buffering up to Prefetch/partitions messages as
// Consume does). When the partition is revoked the iterator is drained:
// what is buffered is handled and acked, and the old owner waits
// (PING/PONG) until the server has the acks before the new owner starts.
// A new owner that then finds unacknowledged messages on the durable (a
// crashed owner's, or messages that were still on their way to the old
// owner, which JetStream would redeliver only after AckWait and after newer
// ones) re-creates the durable at its ack floor, so the partition is
// re-read in order from the first unacknowledged message; their delivery
// counts start again at 1.
//
// A commit is the durable's ack floor. Durables of partitioned topics ack
// cumulatively (AckAll): one member reads a partition in order, so it
// acks only the last message it accepted, every CommitInterval or once
// half of MaxAckPending is waiting (client.go), and that acknowledges
// everything before it, as a Kafka commit does. Durables of queue topics
// (AckExplicit) are acked per message. Once the server has processed the
// acks (a PING/PONG after them, or each ack's reply with CommitSync) every
// message up to the last one acked is acknowledged, and the next owner
// reads from above it. That is reported to OnCommitted as the last stream
// sequence acked + 1, every CommitInterval, after every message with
// CommitSync, and on revocation; OnAcked reports the same acks.
//
// A released message (Nak) on an AckAll durable would be acknowledged by
// the next cumulative ack above it; so while one is out for redelivery the
// partition acks nothing, and acks again once it has come back and been
// accepted or rejected.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/localgroup"
)

// takeOverWait bounds how long a new owner waits for the previous owner's
// last acks (confirmed by a PING/PONG before it let go) to show in the
// durable's info before it re-creates the durable at its ack floor.
const takeOverWait = 100 * time.Millisecond

var (
	_ localgroup.Member    = (*consumer)(nil)
	_ localgroup.Worker    = (*partLoop)(nil)
	_ adapters.AckReporter = (*NATS)(nil)
)

// ReportsAcks marks NATS as an adapters.AckReporter: consumers call
// OnAcked once acks are sent (queue consumers) or confirmed (group
// members), and group members call OnCommitted as group.go describes.
func (n *NATS) ReportsAcks() bool { return true }

// partLoop pulls one owned partition.
type partLoop struct {
	c      *consumer
	p      int32
	cons   jetstream.Consumer
	stop   chan struct{} // closed to revoke the partition
	exited chan struct{} // closed when run returns

	// Owned by the run goroutine.
	d         adapters.Delivery
	refs      []uint64  // Refs of deliveries acked since the last report
	acked     uint64    // stream sequence of the last message acked, 0 none
	reported  uint64    // acked at the last OnCommitted
	released  bool      // a message was released: commits are no longer a prefix
	lastFlush time.Time // last report

	// Cumulative acks (c.cumulative).
	last    jetstream.Msg       // last accepted message not yet acked; nil none
	lastSeq uint64              // its stream sequence
	waiting []uint64            // Refs of accepted messages not yet acked
	unacked int                 // accepted messages not yet acked
	naked   map[uint64]struct{} // stream sequences released and not back yet
}

// joinGroup binds the stream and joins the subscription's local group:
// a partLoop runs per assigned partition, started after takeOver.
func (c *consumer) joinGroup(ctx context.Context, n *NATS) error {
	if err := c.bind(ctx, c.js); err != nil {
		return err
	}
	c.Workers = localgroup.Workers[*partLoop]{
		Start: func(ctx context.Context, p int32) (*partLoop, error) {
			cons, err := c.takeOver(ctx, p)
			if err != nil {
				return nil, err
			}
			return &partLoop{c: c, p: p, cons: cons, stop: make(chan struct{}), exited: make(chan struct{}), lastFlush: time.Now()}, nil
		},
		Crashed: c.crashed.Load, OnAssigned: c.cfg.OnAssigned, OnRevoked: c.cfg.OnRevoked,
	}
	g, err := n.groups.Group(c.cfg.Topic, c.cfg.Subscription, c.parts)
	if err != nil {
		return err
	}
	c.g = g
	return g.Join(ctx, c)
}

// takeOver binds partition p's durable through this consumer's connection.
// When the previous owner crashed holding it and the durable still has
// unacknowledged messages after takeOverWait, it is re-created at its ack
// floor so they are redelivered at once and in order (see the file
// comment). A graceful owner has confirmed its acks before it let go, and
// pending acks of a durable nobody here crashed on belong to members in
// other processes (a sharded run): resetting would pull the durable from
// under them.
func (c *consumer) takeOver(ctx context.Context, p int32) (jetstream.Consumer, error) {
	name := durableName(c.cfg.Subscription, int(p))
	deadline := time.Now().Add(takeOverWait)
	_, crashed := c.crashedDurables.LoadAndDelete(name)
	for crashed {
		info, err := c.admin.Consumer(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("look up durable %q: %w", name, err)
		}
		ci := info.CachedInfo()
		if ci.NumAckPending == 0 || ci.Config.AckPolicy == jetstream.AckNonePolicy {
			break
		}
		if time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // the last acks of a graceful owner are on their way
			continue
		}
		cfg := ci.Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartSequencePolicy, ci.AckFloor.Stream+1, nil
		if err := c.admin.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("reset durable %q to its ack floor: delete: %w", name, err)
		}
		if _, err := c.admin.CreateConsumer(ctx, cfg); err != nil {
			return nil, fmt.Errorf("reset durable %q to its ack floor %d: create: %w", name, ci.AckFloor.Stream, err)
		}
		break
	}
	cons, err := c.js.Consumer(ctx, streamName(c.cfg.Topic), name)
	if err != nil {
		return nil, fmt.Errorf("bind durable %q: %w", name, err)
	}
	return cons, nil
}

// Stop implements localgroup.Worker: Run returns once the buffered messages
// are handled and their acks confirmed.
func (pl *partLoop) Stop() { close(pl.stop) }

// Exited implements localgroup.Worker.
func (pl *partLoop) Exited() <-chan struct{} { return pl.exited }

// Run implements localgroup.Worker: it pulls and handles the partition
// until it is revoked or the consumer crashes. The pull is continuous (a
// Messages iterator keeps up to the batch buffered, as Consume does); on
// revocation the iterator is drained, so what is buffered is handled and
// acked, and what was still on its way is left to the next owner's
// takeOver, which re-creates the durable at its ack floor.
func (pl *partLoop) Run() {
	defer close(pl.exited)
	c := pl.c
	batch := planConsumer(c.cfg, c.parts).batch
	it, err := pl.cons.Messages(jetstream.PullMaxMessages(batch))
	if err != nil {
		c.Lost(pl.p, pl, fmt.Errorf("pull: %w", err))
		return
	}
	// cur is the iterator the drain below stops: rebind may replace it.
	var mu sync.Mutex
	cur, ended := it, false
	defer func() {
		mu.Lock()
		cur.Stop()
		ended = true
		mu.Unlock()
	}()
	// Drain on revocation or crash; Drain is safe while Next waits.
	go func() {
		select {
		case <-pl.stop:
		case <-c.ctx.Done():
		case <-pl.exited:
		}
		mu.Lock()
		cur.Drain()
		ended = true
		mu.Unlock()
	}()
	// rebind binds the durable again after its iterator closed while the
	// partition is still ours: another owner of the same durable (a
	// member of this subscription in another process, a sharded run)
	// re-created it at its ack floor (takeOver). False when the
	// partition is being given up or the durable cannot be bound.
	rebind := func() bool {
		if c.ctx.Err() != nil {
			return false
		}
		cons, err := c.js.Consumer(c.ctx, streamName(c.cfg.Topic), durableName(c.cfg.Subscription, int(pl.p)))
		if err != nil {
			return false
		}
		next, err := cons.Messages(jetstream.PullMaxMessages(batch))
		if err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if ended {
			next.Stop()
			return false
		}
		pl.cons, cur, it = cons, next, next
		return true
	}
	for {
		var msg jetstream.Msg
		var err error
		if pl.unreported() && c.interval > 0 {
			// Wake up in time to report them even if nothing comes.
			msg, err = it.Next(jetstream.NextMaxWait(max(time.Until(pl.lastFlush.Add(c.interval)), time.Millisecond)))
		} else {
			msg, err = it.Next()
		}
		if c.crashed.Load() {
			return // a crashed process handles nothing more
		}
		switch {
		case err == nil:
			pl.handle(msg)
		case errors.Is(err, natsgo.ErrTimeout):
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			select {
			case <-pl.stop:
				pl.report(true)
			default:
				if rebind() {
					continue
				}
				c.Lost(pl.p, pl, fmt.Errorf("pull: %w", err))
			}
			return
		default:
			c.onConsumeErr(nil, fmt.Errorf("pull partition %d: %w", pl.p, err))
		}
		// Acked on receipt (CommitAuto) or with a reply (CommitSync):
		// nothing to wait for; otherwise every CommitInterval.
		pl.report(c.sync || c.noAck || c.preAck || time.Since(pl.lastFlush) >= c.interval)
	}
}

// handle delivers one pulled message and notes an ack.
func (pl *partLoop) handle(msg jetstream.Msg) {
	c := pl.c
	acked, err := c.deliver(pl.p, msg, &pl.d)
	if pl.d.Disposition == adapters.Release {
		pl.released = true
	}
	if c.cumulative {
		pl.noteCumulative(msg, acked && err == nil)
		return
	}
	if !acked || err != nil {
		return
	}
	if c.cfg.OnAcked != nil {
		pl.refs = append(pl.refs, pl.d.Ref)
	}
	if pl.d.Offset > 0 {
		pl.acked = max(pl.acked, uint64(pl.d.Offset))
	}
}

// noteCumulative notes a handled delivery on an AckAll durable: an
// accepted one waits for the next cumulative ack, which is sent at once
// when ackEvery are waiting.
func (pl *partLoop) noteCumulative(msg jetstream.Msg, accepted bool) {
	c := pl.c
	seq := uint64(max(pl.d.Offset, 0))
	switch {
	case pl.d.Disposition == adapters.Release && pl.d.Offset > 0:
		if pl.naked == nil {
			pl.naked = make(map[uint64]struct{})
		}
		pl.naked[seq] = struct{}{}
		return
	case pl.naked != nil:
		delete(pl.naked, seq) // came back and was settled
	}
	if !accepted {
		return
	}
	if pl.last == nil || seq >= pl.lastSeq { // a redelivery can be below the last
		pl.last, pl.lastSeq = msg, seq
	}
	pl.unacked++
	if c.cfg.OnAcked != nil {
		pl.waiting = append(pl.waiting, pl.d.Ref)
	}
	if pl.unacked >= c.ackEvery {
		pl.ackCumulative()
	}
}

// ackCumulative acks the last accepted message, which acknowledges every
// earlier one, unless a released message is still out (see the file
// comment). The ack is a publish; report confirms it.
func (pl *partLoop) ackCumulative() {
	if pl.last == nil || len(pl.naked) > 0 || pl.c.crashed.Load() {
		return
	}
	if err := pl.last.Ack(); err != nil {
		pl.c.onConsumeErr(nil, fmt.Errorf("ack partition %d up to sequence %d: %w", pl.p, pl.lastSeq, err))
		return // retried with the next ack
	}
	pl.refs = append(pl.refs, pl.waiting...)
	pl.waiting = pl.waiting[:0]
	pl.acked = max(pl.acked, pl.lastSeq)
	pl.last, pl.unacked = nil, 0
}

// unreported reports whether acks were noted, or accepted messages wait
// for their cumulative ack, since the last report.
func (pl *partLoop) unreported() bool {
	return len(pl.refs) > 0 || pl.acked != pl.reported || pl.last != nil
}

// report, when due, makes sure the server has processed the acks so far
// (a PING/PONG; with CommitSync each ack had its reply already) and
// reports them: OnAcked, and OnCommitted with the new ack floor.
func (pl *partLoop) report(due bool) {
	c := pl.c
	if !due || c.crashed.Load() || !pl.unreported() {
		return
	}
	pl.ackCumulative()
	pl.lastFlush = time.Now()
	if !c.sync && !c.noAck && !c.preAck {
		if err := flushConn(c.ctx, c.nc, c.flushTimeout); err != nil {
			c.onConsumeErr(nil, fmt.Errorf("partition %d: confirm acks: %w", pl.p, err))
			return // reported with the next flush that succeeds
		}
	}
	if len(pl.refs) > 0 {
		c.cfg.OnAcked(pl.p, pl.refs)
		pl.refs = pl.refs[:0]
	}
	if pl.acked > pl.reported && !pl.released && !c.noAck && !c.preAck && c.cfg.OnCommitted != nil {
		c.cfg.OnCommitted(map[int32]int64{pl.p: int64(pl.acked) + 1})
	}
	pl.reported = pl.acked
}

// closeMember leaves the group (each partition's buffered messages handled
// and their acks confirmed before the next owner starts) and closes the
// connection.
func (c *consumer) closeMember(ctx context.Context) error {
	err := c.g.Leave(ctx, c, true)
	if ferr := flushConn(ctx, c.nc, c.flushTimeout); ferr != nil {
		err = errors.Join(err, fmt.Errorf("flush acks: %w", ferr))
	}
	c.nc.Close()
	err = errors.Join(c.Err(), err)
	if err != nil {
		return fmt.Errorf("close nats consumer %q: %w", c.cfg.ID, err)
	}
	return nil
}

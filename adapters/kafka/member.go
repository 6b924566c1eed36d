package kafka

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/adapters"
)

// crashCloseWait bounds how long Crash waits for the kgo client to finish
// tearing down after its connections were dropped; every request fails at
// once by then, so this is only a guard against a stuck internal goroutine.
const crashCloseWait = 10 * time.Second

// errorBackoff is how long the poll loop pauses after a poll that returned
// only errors.
const errorBackoff = 100 * time.Millisecond

// member is the plumbing a consumer-group member (consumer) and a
// share-group member (shareConsumer) have in common: their own kgo client,
// dialled through a kill switch so that Crash can drop every connection at
// once; the contexts that stop polling and that bound progress requests
// (commits or acknowledgements); and the stop and crash flags that make
// Close and Crash idempotent and keep a crashed member from acknowledging
// anything. What differs, the poll loop and how progress is recorded,
// stays with each kind.
type member struct {
	// what names the member in errors: `kafka consumer "c1"`.
	what string
	cl   *kgo.Client
	ks   *killSwitch
	// blockRebalance says the client polls with BlockRebalanceOnPoll, so
	// teardown must allow rebalancing or the leave would wait forever.
	blockRebalance bool

	pollCtx      context.Context // cancelled to stop polling (Close, Crash)
	stopPoll     context.CancelFunc
	progressCtx  context.Context // commits or acks; cancelled only by Crash and teardown
	stopProgress context.CancelFunc
	done         chan struct{} // closed by the poll loop when it returns

	stopped atomic.Bool // Close or Crash has been called
	crashed atomic.Bool
}

// newMember returns the member state of a kind ("consumer" or "share
// consumer") of consumer id, without a client yet. The member exists
// before its client because kgo may call group callbacks, which read the
// crash flag, as soon as the client is created.
func newMember(kind, id string) *member {
	return &member{what: fmt.Sprintf("kafka %s %q", kind, id), ks: newKillSwitch(), done: make(chan struct{})}
}

// connect creates m's kgo client for consumer id with the connection
// options every client of k gets, a consumer-role dialer behind m's kill
// switch, and opts on top, and the contexts its poll loop and progress
// requests run under.
func (k *Kafka) connect(m *member, id string, opts []kgo.Opt) error {
	cl, err := k.memberClient(m, id, opts)
	if err != nil {
		return err
	}
	m.cl = cl
	m.pollCtx, m.stopPoll = context.WithCancel(context.Background())
	m.progressCtx, m.stopProgress = context.WithCancel(context.Background())
	return nil
}

func (k *Kafka) memberClient(m *member, id string, opts []kgo.Opt) (*kgo.Client, error) {
	dial, err := newDialer(k.cfg, adapters.RoleConsumers, m.ks)
	if err != nil {
		return nil, err
	}
	base, err := k.cfg.clientOpts(k.clientID("consumer", id), dial)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", m.what, err)
	}
	return cl, nil
}

// keepPolling reports whether the poll loop should poll again after the
// poll that returned fs with n records. After a poll that returned only
// errors it pauses for errorBackoff first: kgo retries retriable errors
// itself, and what it returns (authorization, data loss) may come back at
// once on the next poll, so pausing keeps the loop from spinning.
func (m *member) keepPolling(fs kgo.Fetches, n int) bool {
	if m.pollCtx.Err() != nil || fs.IsClientClosed() {
		return false
	}
	if n == 0 && len(fs.Errors()) > 0 {
		select {
		case <-m.pollCtx.Done():
		case <-time.After(errorBackoff):
		}
	}
	return true
}

// beginClose starts a graceful Close: it stops polling and waits for the
// poll loop to finish the batch in hand. It returns false when Close or
// Crash ran before (Close is then a no-op), and an error, after tearing
// the client down without recording progress, when ctx ends first.
func (m *member) beginClose(ctx context.Context) (bool, error) {
	if !m.stopped.CompareAndSwap(false, true) {
		return false, nil
	}
	m.stopPoll()
	select {
	case <-m.done:
		return true, nil
	case <-ctx.Done():
		m.teardown()
		return false, fmt.Errorf("close %s: handler still running: %w", m.what, ctx.Err())
	}
}

// finishClose leaves the group, closes the client and releases the
// progress context; err is the progress error Close has so far, which a
// leave error does not replace.
func (m *member) finishClose(ctx context.Context, err error, group string) error {
	if lerr := m.cl.LeaveGroupContext(ctx); lerr != nil && err == nil {
		err = fmt.Errorf("close %s: leave %s: %w", m.what, group, lerr)
	}
	m.cl.Close()
	m.stopProgress()
	return err
}

// Crash stops the member as a killed process would: every connection is
// dropped at once and no new one can be opened, so no commit,
// acknowledgement, heartbeat or leave reaches the broker, which notices
// the member is gone only by its own failure detection. Crash does not
// wait for a running Handler; when it returns, its result is discarded.
// Crash after Close or Crash is a no-op and returns nil.
func (m *member) Crash() error {
	if !m.stopped.CompareAndSwap(false, true) {
		return nil
	}
	m.crashed.Store(true)
	m.ks.kill() // first: nothing below can reach the broker any more
	m.teardown()
	return nil
}

// teardown cancels all work and closes the client without recording
// progress. The leave is started with a cancelled context so kgo sends no
// request (it fails at once), then Close frees the client's goroutines,
// waited for at most crashCloseWait.
func (m *member) teardown() {
	m.crashed.Store(true)
	m.stopProgress()
	m.stopPoll()
	if m.blockRebalance {
		m.cl.AllowRebalance()
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_ = m.cl.LeaveGroupContext(cancelled)
	closed := make(chan struct{})
	go func() {
		m.cl.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(crashCloseWait):
	}
}

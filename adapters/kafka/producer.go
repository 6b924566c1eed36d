package kafka

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/internal/kafkahash"
)

// DefaultMaxInFlight bounds a producer's outstanding sends when
// ProducerConfig.MaxInFlight is 0.
const DefaultMaxInFlight = adapters.DefaultMaxInFlight

// producer is an adapters.Producer over its own kgo client.
type producer struct {
	cl *kgo.Client
	// kgo's MaxBufferedRecords is MaxInFlight: Produce blocks, honouring
	// its context, while that many records are unfinished, which is the
	// bound Send promises; no second semaphore is needed.

	// live counts sends begun whose done callback has not yet returned;
	// closed is set once by Close. Both are atomics rather than a mutex:
	// the sending goroutine and kgo's promise goroutine touch them per
	// message, and a shared lock would bounce between their cores.
	live   atomic.Int64
	closed atomic.Bool
	// noAcks is set for AcksNone: the broker sends no response, so kgo's
	// record offset is meaningless and SendResult.Offset is -1.
	noAcks bool
	// sends recycles *send, so a Send allocates nothing.
	sends sync.Pool
}

// send is one Send in flight: kgo's record, the caller's done callback,
// and the promise bound once to this send, so that neither a record nor
// a closure is allocated per message.
type send struct {
	rec     kgo.Record
	p       *producer
	done    func(adapters.SendResult, error)
	promise func(*kgo.Record, error)
}

// NewProducer returns a producer with its own client. Acks and idempotence
// map to kgo as follows: Idempotent requires AcksAll (Kafka's idempotent
// producer needs acks=all) and is otherwise rejected with adapters.ErrInvalidConfig;
// a non-idempotent producer disables kgo's default idempotent writes.
// Compression "" means none, Kafka's default; Linger 0 keeps kgo's default
// of 10ms and a negative Linger disables lingering; BatchBytes 0 keeps
// kgo's default (1MB).
func (k *Kafka) NewProducer(ctx context.Context, cfg adapters.ProducerConfig) (adapters.Producer, error) {
	if err := k.checkOpen(); err != nil {
		return nil, err
	}
	opts, err := k.producerOpts(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka producer %q: %w", cfg.ID, err)
	}
	p := &producer{cl: cl, noAcks: cfg.Acks == adapters.AcksNone}
	p.sends.New = func() any {
		sd := &send{p: p}
		sd.promise = sd.finish
		return sd
	}
	return p, nil
}

func (k *Kafka) checkOpen() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return fmt.Errorf("kafka system %s: %w", k.cfg.Name, adapters.ErrClosed)
	}
	return nil
}

// producerOpts maps cfg to kgo options.
func (k *Kafka) producerOpts(cfg adapters.ProducerConfig) ([]kgo.Opt, error) {
	dial, err := newDialer(k.cfg, adapters.RoleProducers, nil)
	if err != nil {
		return nil, err
	}
	opts, err := k.cfg.clientOpts(k.clientID("producer", cfg.ID), dial)
	if err != nil {
		return nil, err
	}
	switch cfg.Acks {
	case adapters.AcksAll:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case adapters.AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case adapters.AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("producer %q: %w: Acks %d; use AcksNone (0), AcksLeader (1) or AcksAll (-1)", cfg.ID, adapters.ErrInvalidConfig, cfg.Acks)
	}
	if cfg.Idempotent && cfg.Acks != adapters.AcksAll {
		return nil, fmt.Errorf("producer %q: %w: Idempotent needs Acks=all (got %d); set AcksAll or turn idempotence off", cfg.ID, adapters.ErrInvalidConfig, cfg.Acks)
	}
	if !cfg.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, fmt.Errorf("producer %q: %w", cfg.ID, err)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if cfg.BatchBytes < 0 || cfg.BatchBytes > math.MaxInt32 || cfg.MaxInFlight < 0 {
		return nil, fmt.Errorf("producer %q: %w: BatchBytes %d and MaxInFlight %d must be >= 0 (BatchBytes < 2GiB)",
			cfg.ID, adapters.ErrInvalidConfig, cfg.BatchBytes, cfg.MaxInFlight)
	}
	switch {
	case cfg.Linger > 0:
		opts = append(opts, kgo.ProducerLinger(cfg.Linger))
	case cfg.Linger < 0:
		// Zero means "system default" (kgo lingers 10ms), so a negative
		// Linger is how a workload asks for no lingering at all.
		opts = append(opts, kgo.ProducerLinger(0))
	}
	if cfg.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(cfg.BatchBytes)))
	}
	maxInFlight := cfg.MaxInFlight
	if maxInFlight == 0 {
		maxInFlight = DefaultMaxInFlight
	}
	opts = append(opts,
		kgo.MaxBufferedRecords(maxInFlight),
		kgo.RecordPartitioner(explicitPartitioner()),
	)
	return opts, nil
}

// compression maps a ProducerConfig.Compression name to a kgo codec.
func compression(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	default:
		return kgo.CompressionCodec{}, fmt.Errorf("%w: Compression %q; use none, gzip, snappy, lz4 or zstd", adapters.ErrInvalidConfig, name)
	}
}

// clientID builds a client.id from the configured prefix, role and id.
func (k *Kafka) clientID(role, id string) string {
	if id == "" {
		return k.cfg.ClientID + "-" + role
	}
	return k.cfg.ClientID + "-" + role + "-" + id
}

// Send produces m asynchronously. It blocks only while MaxInFlight sends
// are outstanding; if ctx ends first, done gets ctx's error. Key and Value
// are not copied: kgo holds them until done runs, as the Message contract
// allows. After Close, done gets an error wrapping adapters.ErrClosed.
func (p *producer) Send(ctx context.Context, m *adapters.Message, done func(adapters.SendResult, error)) {
	if m.Partition < -1 {
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %s: %w: partition %d", m.Topic, adapters.ErrInvalidConfig, m.Partition))
		return
	}
	if !p.begin() {
		done(adapters.SendResult{Partition: m.Partition, Offset: -1}, fmt.Errorf("send to %s/%d: %w", m.Topic, m.Partition, adapters.ErrClosed))
		return
	}
	sd := p.sends.Get().(*send)
	// A whole new record: kgo sets the timestamp, offset and producer
	// fields of a record it is given, and those must not carry over.
	sd.rec = kgo.Record{Topic: m.Topic, Partition: m.Partition, Key: m.Key, Value: m.Value}
	sd.done = done
	p.cl.Produce(ctx, &sd.rec, sd.promise)
}

// finish is kgo's promise for sd's record. kgo no longer holds the record
// once it has called the promise, so sd goes back to the pool before done
// runs (done may start the next send).
func (sd *send) finish(r *kgo.Record, err error) {
	p, done := sd.p, sd.done
	res := adapters.SendResult{Partition: r.Partition, Offset: r.Offset}
	if err != nil || p.noAcks {
		res.Offset = -1
	}
	if err != nil {
		err = fmt.Errorf("send to %s/%d: %w", r.Topic, r.Partition, err)
	}
	sd.rec, sd.done = kgo.Record{}, nil // no references kept while pooled
	p.sends.Put(sd)
	done(res, err)
	p.live.Add(-1)
}

// begin counts a send in flight unless the producer is closed. It counts
// first and checks after: Close sets closed and then waits for live to
// reach 0, so a send either is seen by that wait or sees closed.
func (p *producer) begin() bool {
	p.live.Add(1)
	if p.closed.Load() {
		p.live.Add(-1)
		return false
	}
	return true
}

// flushPoll is how often Flush checks for done callbacks still running
// after kgo's own flush; they are moments from returning by then.
const flushPoll = 100 * time.Microsecond

// Flush waits until every send started before it has had its done
// callback called.
func (p *producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush kafka producer: %w", err)
	}
	// kgo's Flush returns once records are finished, which may be just
	// before their promises have returned; wait for the callbacks too.
	// Polling, rather than a signal from every completion, keeps the
	// per-message path free of locks.
	if p.live.Load() == 0 {
		return nil
	}
	tick := time.NewTicker(flushPoll)
	defer tick.Stop()
	for p.live.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("flush kafka producer: waiting for callbacks: %w", ctx.Err())
		}
	}
	return nil
}

// Close flushes outstanding sends (bounded by ctx), then closes the client;
// sends still outstanding when ctx ends complete with an error. Later Sends
// fail with adapters.ErrClosed. Close is idempotent.
func (p *producer) Close(ctx context.Context) error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := p.Flush(ctx)
	// Close fails every record still buffered, calling its promise.
	p.cl.Close()
	if err != nil {
		return fmt.Errorf("close kafka producer: %w", err)
	}
	return nil
}

// explicitPartitioner routes a record to Record.Partition when it is >= 0,
// which is what the runner always sets. For -1 it hashes the key with
// Kafka's murmur2, like the Java client, or goes round robin for nil keys.
func explicitPartitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		var next atomic.Uint32
		return func(r *kgo.Record, n int) int {
			switch {
			case r.Partition >= 0:
				return int(r.Partition)
			case r.Key != nil:
				return int(kafkahash.Partition(r.Key, n))
			default:
				return int(next.Add(1)-1) % n
			}
		}
	})
}

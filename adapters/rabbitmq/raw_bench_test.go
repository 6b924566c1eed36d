package rabbitmq_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/brokerbench/brokerbench/adapters/adaptertest"
	"github.com/brokerbench/brokerbench/internal/overhead"
)

// rabbitURL is the test server (guest account on loopback).
const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

// rawQueue is what the raw client loops publish into and drain: a direct
// exchange with one queue bound under routing key "0", as brokerbench lays
// out a one-partition topic, of the given type and durability.
type rawQueue struct {
	conn     *amqp.Connection
	exchange string
	queue    string
}

// newRawQueue declares the exchange and queue; close deletes them.
func newRawQueue(tb testing.TB, qtype string, durable bool) *rawQueue {
	tb.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		tb.Fatal(err)
	}
	name := "bbraw-" + adaptertest.Suffix()
	q := &rawQueue{conn: conn, exchange: name, queue: name + "/q/0"}
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatal(err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(q.exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		tb.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q.queue, durable, false, false, false, amqp.Table{"x-queue-type": qtype}); err != nil {
		tb.Fatal(err)
	}
	if err := ch.QueueBind(q.queue, "0", q.exchange, false, nil); err != nil {
		tb.Fatal(err)
	}
	return q
}

func (q *rawQueue) close() {
	if ch, err := q.conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(q.queue, false, false, false)
		_ = ch.ExchangeDelete(q.exchange, false, false)
	}
	_ = q.conn.Close()
}

// rawChannel opens a connection of its own and a channel on it.
func rawChannel(tb testing.TB) (*amqp.Connection, *amqp.Channel) {
	tb.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		tb.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.Close()
		tb.Fatal(err)
	}
	return conn, ch
}

// rawPublish is the baseline producer: the simplest correct amqp091-go
// loop with publisher confirms and at most window messages unconfirmed on
// one channel, for the given time or, with n > 0, until n are confirmed.
// It returns the confirmed messages and their window, and the median and
// 99th percentile publish-to-confirm latencies.
func rawPublish(tb testing.TB, q *rawQueue, size, window, n int, mode uint8, d time.Duration) (w overhead.Window, p50, p99 time.Duration) {
	tb.Helper()
	conn, ch := rawChannel(tb)
	defer conn.Close()
	if err := ch.Confirm(false); err != nil {
		tb.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	sem := make(chan struct{}, window)
	sentAt := make([]time.Time, window)
	var lat []time.Duration
	var confirmed int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := range confirms {
			if c.Ack {
				confirmed++
				lat = append(lat, time.Since(sentAt[(c.DeliveryTag-1)%uint64(window)]))
			}
			<-sem
		}
	}()
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*7919 + i>>3)
	}
	start := time.Now()
	for i := 0; n == 0 && time.Since(start) < d || i < n; i++ {
		sem <- struct{}{}
		sentAt[i%window] = time.Now()
		if err := ch.PublishWithContext(context.Background(), q.exchange, "0", false, false,
			amqp.Publishing{Body: body, DeliveryMode: mode}); err != nil {
			tb.Fatal(err)
		}
	}
	for range window {
		sem <- struct{}{}
	}
	end := time.Now()
	_ = ch.Close()
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		tb.Fatal("no confirms")
	}
	return overhead.Window{Messages: int64(confirmed), Start: start, End: end}, lat[len(lat)/2], lat[len(lat)*99/100]
}

// BenchmarkConfirmWindow is the measurement behind DefaultConfirmWindow:
// one producer at maximum rate on one channel, 1 KiB persistent messages,
// with 16 to 1000 unconfirmed messages allowed, on a durable classic and a
// quorum queue. It logs the confirmed rate and the publish-to-confirm
// latency per window.
func BenchmarkConfirmWindow(b *testing.B) {
	adaptertest.RequireService(b, "rabbitmq", "127.0.0.1:5672")
	for _, qt := range []string{"classic", "quorum"} {
		b.Run(qt, func(b *testing.B) {
			for b.Loop() {
				for _, w := range []int{16, 64, 128, 256, 512, 1000} {
					q := newRawQueue(b, qt, true)
					win, p50, p99 := rawPublish(b, q, 1024, w, 0, amqp.Persistent, 3*time.Second)
					q.close()
					b.Logf("%s window %4d: %6.0f msg/s, confirm latency p50 %v p99 %v", qt, w, win.Rate(), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
				}
			}
		})
	}
}

// rawDrain is the baseline consumer: one channel with the adapter's
// prefetch, manual acks, a multiple-ack every ackEvery deliveries, timed
// from opening the connection until all but floor of n messages are read.
func rawDrain(tb testing.TB, q *rawQueue, n, floor, prefetch, ackEvery int) overhead.Window {
	tb.Helper()
	start := time.Now()
	conn, ch := rawChannel(tb)
	defer conn.Close()
	if err := ch.Qos(prefetch, 0, false); err != nil {
		tb.Fatal(err)
	}
	ds, err := ch.Consume(q.queue, "", false, false, false, false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	timeout := time.After(time.Minute)
	var got, unacked int
	for got < n-floor {
		select {
		case d, ok := <-ds:
			if !ok {
				tb.Fatalf("raw drain: deliveries closed after %d", got)
			}
			got++
			if unacked++; unacked >= ackEvery {
				if err := d.Ack(true); err != nil {
					tb.Fatal(err)
				}
				unacked = 0
			}
		case <-timeout:
			tb.Fatalf("raw drain: %d of %d messages after a minute", got, n)
		}
	}
	return overhead.Window{Messages: int64(got), Start: start, End: time.Now()}
}

package refbroker

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Limits on topic and partition creation (Config.MaxCreateTopicsPerRequest,
// MaxCreatePartitionsPerRequest, PartitionCreationsPerMinute): each
// partition is a directory, files, a preallocated segment and a memory
// map, so one request, or many, must not be able to create them without
// bound.

var (
	// errCreateLimit refuses a topic past a per-request limit
	// (POLICY_VIOLATION).
	errCreateLimit = errors.New("creation limit per request")
	// errThrottled refuses a topic while the creation quota is in debt
	// (THROTTLING_QUOTA_EXCEEDED, or POLICY_VIOLATION for versions that
	// predate it).
	errThrottled = errors.New("partition creation rate exceeded")
)

// createQuota is KIP-599's controller mutation quota as a token bucket
// counted in partitions: tokens accrue at rate per second up to burst; a
// mutation of n partitions is admitted iff the bucket is not in debt
// (tokens >= 0) and then takes n tokens, possibly into debt, so that a
// topic larger than the burst can still be created. A nil *createQuota
// admits everything. Safe for concurrent use.
type createQuota struct {
	rate, burst float64 // tokens per second, most tokens held
	now         func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// newCreateQuota returns a quota of perMinute partitions a minute with a
// minute's worth of burst, or nil for perMinute < 0 (no limit).
func newCreateQuota(perMinute int, now func() time.Time) *createQuota {
	if perMinute < 0 {
		return nil
	}
	q := &createQuota{rate: float64(perMinute) / 60, burst: float64(perMinute), now: now}
	q.tokens, q.last = q.burst, now()
	return q
}

// admit takes n partitions from the bucket, or refuses with errThrottled
// and the time until the bucket is out of debt (Kafka's throttle time,
// debt / rate).
func (q *createQuota) admit(n int32) (throttle time.Duration, err error) {
	if q == nil {
		return 0, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	q.tokens = math.Min(q.burst, q.tokens+now.Sub(q.last).Seconds()*q.rate)
	q.last = now
	if q.tokens < 0 {
		throttle = time.Duration(math.Ceil(-q.tokens / q.rate * float64(time.Second)))
		return throttle, fmt.Errorf("%w: %d partitions are over the broker's limit of %.0f a minute; retry in %v",
			errThrottled, n, q.rate*60, throttle.Round(time.Millisecond))
	}
	q.tokens -= float64(n)
	return 0, nil
}

// requestBudget counts what one request has created against the
// per-request limits.
type requestBudget struct {
	maxTopics     int
	maxPartitions int32
	topics        int
	partitions    int32
}

func (b *Broker) newRequestBudget() *requestBudget {
	return &requestBudget{maxTopics: b.cfg.MaxCreateTopicsPerRequest, maxPartitions: b.cfg.MaxCreatePartitionsPerRequest}
}

// check reports whether one more topic (newTopic) of n partitions fits
// the per-request limits, with errCreateLimit if not.
func (r *requestBudget) check(newTopic bool, n int32) error {
	if newTopic && r.topics >= r.maxTopics {
		return fmt.Errorf("%w: a request may create at most %d topics; send the rest in another request", errCreateLimit, r.maxTopics)
	}
	if int64(r.partitions)+int64(n) > int64(r.maxPartitions) {
		return fmt.Errorf("%w: a request may create at most %d partitions, this one already creates %d; send the rest in another request", errCreateLimit, r.maxPartitions, r.partitions)
	}
	return nil
}

// take counts a topic that check admitted.
func (r *requestBudget) take(newTopic bool, n int32) {
	if newTopic {
		r.topics++
	}
	r.partitions += n
}

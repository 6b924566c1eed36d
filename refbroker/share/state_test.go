package share

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var t0 = time.Unix(1_700_000_000, 0)

func params(member string, hw int64, max int32, now time.Time) acquireParams {
	return acquireParams{member: member, hw: hw, max: max, limit: 3, maxLocks: 100, now: now, lockDuration: time.Second}
}

func TestAcquireAckRelease(t *testing.T) {
	t.Parallel()
	p := newPartState(0)
	got := p.acquire(params("a", 10, 4, t0))
	if want := []acquiredRange{{0, 3, 1}}; !slices.Equal(got, want) {
		t.Fatalf("acquire = %v, want %v", got, want)
	}
	// b gets the next ones, never a's.
	if got := p.acquire(params("b", 10, 2, t0)); !slices.Equal(got, []acquiredRange{{4, 5, 1}}) {
		t.Fatalf("second member acquired %v", got)
	}
	// a acks: accept 0, release 1, reject 2, gap 3.
	code, released := p.ack("a", []ackBatch{{0, 3, []int8{ackAccept, ackRelease, ackReject, ackGap}}}, 3, t0, time.Second)
	if code != 0 || !released {
		t.Fatalf("ack = %d, released %v", code, released)
	}
	if p.spso != 1 {
		t.Fatalf("spso = %d, want 1 (offset 1 released)", p.spso)
	}
	// 1 comes back with count 2, then 6.. follow.
	if got := p.acquire(params("b", 10, 2, t0)); !slices.Equal(got, []acquiredRange{{1, 1, 2}, {6, 6, 1}}) {
		t.Fatalf("reacquire = %v", got)
	}
}

func TestAckValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		batches []ackBatch
		want    int16
	}{
		{"other member's record", []ackBatch{{5, 5, []int8{ackAccept}}}, kerr.InvalidRecordState.Code},
		{"never acquired", []ackBatch{{8, 8, []int8{ackAccept}}}, kerr.InvalidRecordState.Code},
		{"one bad offset spoils the batch", []ackBatch{{3, 5, []int8{ackAccept}}}, kerr.InvalidRecordState.Code},
		{"own records", []ackBatch{{0, 1, []int8{ackAccept}}, {2, 4, []int8{ackRelease}}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPartState(0)
			p.acquire(params("a", 5, 5, t0))
			p.acquire(params("b", 6, 5, t0))
			code, _ := p.ack("a", tc.batches, 3, t0, time.Second)
			if code != tc.want {
				t.Fatalf("code %d, want %d", code, tc.want)
			}
			if code != 0 && p.get(0).state != StateAcquired {
				t.Fatalf("failed ack changed state: %v", p.get(0).state)
			}
		})
	}
}

func TestValidateBatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		batches []ackBatch
		maxType int8
		want    int16
	}{
		{"ok", []ackBatch{{0, 1, []int8{1}}, {3, 4, []int8{2, 3}}}, ackReject, 0},
		{"first after last", []ackBatch{{2, 1, []int8{1}}}, ackReject, kerr.InvalidRequest.Code},
		{"overlap", []ackBatch{{0, 2, []int8{1}}, {2, 3, []int8{1}}}, ackReject, kerr.InvalidRequest.Code},
		{"no types", []ackBatch{{0, 0, nil}}, ackReject, kerr.InvalidRequest.Code},
		{"type count mismatch", []ackBatch{{0, 2, []int8{1, 1}}}, ackReject, kerr.InvalidRequest.Code},
		{"renew without IsRenewAck", []ackBatch{{0, 0, []int8{ackRenew}}}, ackReject, kerr.InvalidRequest.Code},
		{"renew with IsRenewAck", []ackBatch{{0, 0, []int8{ackRenew}}}, ackRenew, 0},
		{"negative type", []ackBatch{{0, 0, []int8{-1}}}, ackReject, kerr.InvalidRequest.Code},
		{"negative offset", []ackBatch{{-1, 0, []int8{1}}}, ackReject, kerr.InvalidRequest.Code},
	}
	for _, tc := range tests {
		if got := validateBatches(tc.batches, tc.maxType); got != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestExpiryAndDeliveryLimit(t *testing.T) {
	t.Parallel()
	p := newPartState(0)
	now := t0
	for delivery := int32(1); delivery <= 3; delivery++ {
		got := p.acquire(params("a", 1, 10, now))
		if !slices.Equal(got, []acquiredRange{{0, 0, delivery}}) {
			t.Fatalf("delivery %d: acquired %v", delivery, got)
		}
		if r, _ := p.expire(now.Add(999*time.Millisecond), 3); r {
			t.Fatalf("delivery %d: lock expired early", delivery)
		}
		now = now.Add(time.Second)
		released, _ := p.expire(now, 3)
		if wantReleased := delivery < 3; released != wantReleased {
			t.Fatalf("delivery %d: released %v, want %v", delivery, released, wantReleased)
		}
	}
	if p.spso != 1 {
		t.Fatalf("after the limit spso = %d, want 1 (record archived)", p.spso)
	}
	if got := p.acquire(params("a", 1, 10, now)); len(got) != 0 {
		t.Fatalf("archived record acquired again: %v", got)
	}
}

func TestRenewExtendsLock(t *testing.T) {
	t.Parallel()
	p := newPartState(0)
	p.acquire(params("a", 1, 1, t0))
	if code, _ := p.ack("a", []ackBatch{{0, 0, []int8{ackRenew}}}, 3, t0.Add(900*time.Millisecond), time.Second); code != 0 {
		t.Fatalf("renew: %d", code)
	}
	if r, _ := p.expire(t0.Add(1500*time.Millisecond), 3); r {
		t.Fatal("renewed lock expired at its original deadline")
	}
	if r, _ := p.expire(t0.Add(1900*time.Millisecond), 3); !r {
		t.Fatal("renewed lock did not expire at its new deadline")
	}
}

func TestInFlightWindowAndRetention(t *testing.T) {
	t.Parallel()
	p := newPartState(0)
	a := params("a", 1000, 1000, t0)
	a.maxLocks = 10
	if got := p.acquire(a); !slices.Equal(got, []acquiredRange{{0, 9, 1}}) {
		t.Fatalf("acquire with window 10 = %v", got)
	}
	if got := p.acquire(a); len(got) != 0 {
		t.Fatalf("acquired beyond the window: %v", got)
	}
	// Retention removed [0, 20): the SPSO follows the log start.
	a.start = 20
	if got := p.acquire(a); !slices.Equal(got, []acquiredRange{{20, 29, 1}}) {
		t.Fatalf("after retention acquired %v", got)
	}
	if _, ok := p.recs[5]; ok {
		t.Fatal("state below the log start kept")
	}
}

func TestRollbackRestores(t *testing.T) {
	t.Parallel()
	p := newPartState(0)
	p.acquire(params("a", 3, 3, t0))
	p.commit()
	if code, _ := p.ack("a", []ackBatch{{0, 2, []int8{ackAccept}}}, 3, t0, time.Second); code != 0 {
		t.Fatalf("ack: %d", code)
	}
	spso, entries, ok := p.changes()
	if !ok || spso != 3 || len(entries) != 0 {
		t.Fatalf("changes = %d %v %v, want spso 3 and no entries at or beyond it", spso, entries, ok)
	}
	p.rollback()
	if p.spso != 0 || p.get(1).state != StateAcquired || p.get(1).member != "a" {
		t.Fatalf("rollback: spso %d, record 1 %+v", p.spso, p.get(1))
	}
}

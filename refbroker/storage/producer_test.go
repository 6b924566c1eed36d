package storage

import (
	"errors"
	"math"
	"testing"
)

// TestIdempotence runs one script of appends against one log: each row
// depends on the state the previous rows left.
func TestIdempotence(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, smallConfig())
	type step struct {
		name    string
		pid     int64
		epoch   int16
		seq     int32
		records int
		wantErr error
		wantDup bool
		base    int64 // expected BaseOffset when wantErr is nil
	}
	steps := []step{
		{"first batch of a new producer", 1, 0, 0, 3, nil, false, 0},
		{"next sequence", 1, 0, 3, 2, nil, false, 3},
		{"resend of the first batch is a duplicate", 1, 0, 0, 3, nil, true, 0},
		{"resend of the last batch is a duplicate", 1, 0, 3, 2, nil, true, 3},
		{"gap", 1, 0, 6, 1, ErrOutOfOrderSequence, false, 0},
		{"going back without matching a batch", 1, 0, 2, 1, ErrOutOfOrderSequence, false, 0},
		{"same first sequence, different last is not a duplicate", 1, 0, 3, 1, ErrOutOfOrderSequence, false, 0},
		{"new epoch must start at 0", 1, 1, 5, 1, ErrOutOfOrderSequence, false, 0},
		{"new epoch at 0", 1, 1, 0, 1, nil, false, 5},
		{"old epoch is fenced", 1, 0, 5, 1, ErrInvalidProducerEpoch, false, 0},
		{"old epoch duplicate is fenced too", 1, 0, 0, 3, ErrInvalidProducerEpoch, false, 0},
		{"unknown producer must start at 0", 2, 0, 7, 1, ErrOutOfOrderSequence, false, 0},
		{"second producer", 2, 0, 0, 1, nil, false, 6},
		{"non-idempotent batches are never duplicates", noProducer, 0, 0, 1, nil, false, 7},
		{"non-idempotent resend", noProducer, 0, 0, 1, nil, false, 8},
		{"epoch 1 seq 1", 1, 1, 1, 1, nil, false, 9},
		{"epoch 1 seq 2", 1, 1, 2, 1, nil, false, 10},
		{"epoch 1 seq 3", 1, 1, 3, 1, nil, false, 11},
		{"epoch 1 seq 4", 1, 1, 4, 1, nil, false, 12},
		{"epoch 1 seq 5", 1, 1, 5, 1, nil, false, 13},
		{"sixth-newest batch is forgotten", 1, 1, 0, 1, ErrOutOfOrderSequence, false, 0},
		{"fifth-newest batch is still a duplicate", 1, 1, 1, 1, nil, true, 9},
	}
	for _, s := range steps {
		spec := batchSpec{records: s.records, producerID: s.pid, epoch: s.epoch, seq: s.seq}
		hwBefore := l.HighWatermark()
		res, err := l.Append(makeBatch(spec), 0)
		if !isErr(err, s.wantErr) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
		}
		if err != nil {
			if l.HighWatermark() != hwBefore {
				t.Fatalf("%s: rejected batch moved HW to %d", s.name, l.HighWatermark())
			}
			continue
		}
		if res.Duplicate != s.wantDup || res.BaseOffset != s.base {
			t.Fatalf("%s: got %+v, want dup=%v base=%d", s.name, res, s.wantDup, s.base)
		}
		if s.wantDup && l.HighWatermark() != hwBefore {
			t.Fatalf("%s: duplicate was written", s.name)
		}
	}
	if got := l.MaxProducerID(); got != 2 {
		t.Fatalf("MaxProducerID = %d, want 2", got)
	}
}

func TestSequenceWraparound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		seq, delta, want int32
	}{
		{0, 0, 0},
		{5, 3, 8},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 3, 1},
	}
	for _, tt := range tests {
		if got := addSequence(tt.seq, tt.delta); got != tt.want {
			t.Errorf("addSequence(%d, %d) = %d, want %d", tt.seq, tt.delta, got, tt.want)
		}
	}
	// A producer whose last sequence is MaxInt32 continues at 0.
	p := newProducerState()
	p.update(&BatchHeader{ProducerID: 9, ProducerEpoch: 1, BaseSequence: math.MaxInt32 - 2, LastOffsetDelta: 2}, 0)
	next := BatchHeader{ProducerID: 9, ProducerEpoch: 1, BaseSequence: 0, LastOffsetDelta: 0}
	if _, dup, err := p.check(&next); err != nil || dup {
		t.Fatalf("sequence 0 after MaxInt32: dup=%v err=%v", dup, err)
	}
	bad := BatchHeader{ProducerID: 9, ProducerEpoch: 1, BaseSequence: math.MaxInt32, LastOffsetDelta: 0}
	if _, _, err := p.check(&bad); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence MaxInt32 again: %v, want ErrOutOfOrderSequence", err)
	}
}

package group

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"

	"github.com/brokerbench/brokerbench/refbroker/internal/framelog"
)

// offsetsFile is the offsets log's name in Config.Dir. framelog's default
// thresholds decide when appending compacts it; recovery always does.
const offsetsFile = "offsets.log"

// groupOffsets is the recovered, live state of one group's offsets.
type groupOffsets struct {
	protocolType string
	offsets      map[string]map[int32]committed
}

// store is the durable offsets log: a framelog.Log of commit and delete
// records. It is not safe for concurrent use; the Coordinator calls it with
// its mutex held.
type store struct {
	log *framelog.Log
	buf []byte // frame scratch, reused by append
}

// openStore recovers dir/offsets.log (dropping a torn tail), rewrites it
// compacted and opens it for appending. It returns the live offsets.
func openStore(dir string, fsync bool, log *slog.Logger) (*store, map[string]*groupOffsets, error) {
	live := make(map[string]*groupOffsets)
	replay := func(payload []byte) error {
		rec, err := decodePayload(payload)
		if err != nil {
			return err
		}
		applyRecord(live, &rec)
		return nil
	}
	opts := framelog.Options{Fsync: fsync, Logger: log, Name: "offsets log"}
	l, err := framelog.Open(filepath.Join(dir, offsetsFile), opts, replay, func() []byte { return snapshot(live) })
	if err != nil {
		return nil, nil, storeErr(err)
	}
	return &store{log: l}, live, nil
}

// applyRecord replays one record onto live.
func applyRecord(live map[string]*groupOffsets, rec *record) {
	switch rec.kind {
	case kindCommit:
		g := live[rec.group]
		if g == nil {
			g = &groupOffsets{offsets: make(map[string]map[int32]committed)}
			live[rec.group] = g
		}
		g.protocolType = rec.protocolType
		for _, e := range rec.entries {
			setOffset(g.offsets, e.topic, e.partition, e.committed)
		}
	case kindDeleteGroup:
		delete(live, rec.group)
	case kindDeleteTopic:
		for _, g := range live {
			delete(g.offsets, rec.topic)
		}
	}
}

func setOffset(offsets map[string]map[int32]committed, topic string, partition int32, c committed) {
	ps := offsets[topic]
	if ps == nil {
		ps = make(map[int32]committed)
		offsets[topic] = ps
	}
	ps[partition] = c
}

// snapshot encodes live as one commit record per group, groups sorted.
func snapshot(live map[string]*groupOffsets) []byte {
	var buf []byte
	for _, id := range slices.Sorted(maps.Keys(live)) {
		g := live[id]
		rec := record{kind: kindCommit, group: id, protocolType: g.protocolType}
		for topic, ps := range g.offsets {
			for p, c := range ps {
				rec.entries = append(rec.entries, offsetEntry{topic: topic, partition: p, committed: c})
			}
		}
		if len(rec.entries) > 0 {
			buf = appendFrame(buf, &rec)
		}
	}
	return buf
}

// rewrite replaces the log with a snapshot of live, atomically (see
// framelog.Log.Compact).
func (s *store) rewrite(live map[string]*groupOffsets) error {
	return storeErr(s.log.Compact(snapshot(live)))
}

// append writes rec durably (fsync when configured). A failed write is
// rolled back; if even that fails the store refuses further writes
// (ErrStoreBroken).
func (s *store) append(rec *record) error {
	s.buf = appendFrame(s.buf[:0], rec)
	return storeErr(s.log.Append(s.buf))
}

// needsCompaction reports whether the log has grown enough to rewrite.
func (s *store) needsCompaction() bool { return s.log.NeedsCompaction() }

func (s *store) close() error { return s.log.Close() }

// storeErr makes a broken log's error match ErrStoreBroken too, which
// errCodeForStore and callers test for.
func storeErr(err error) error {
	if errors.Is(err, framelog.ErrBroken) {
		return fmt.Errorf("%w: %w", ErrStoreBroken, err)
	}
	return err
}

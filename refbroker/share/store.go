package share

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/brokerbench/brokerbench/refbroker/internal/framelog"
)

// stateFile is the state log's name in Config.Dir. framelog's default
// thresholds decide when an append compacts it; opening always does.
const stateFile = "share-state.log"

// loaded is the state recovered from the log.
type loaded struct {
	configs map[string]map[string]string // group -> configs
	parts   map[string]map[tp]*partState // group -> partitions
}

// apply replays one frame.
func (l *loaded) apply(f *frame) {
	switch f.kind {
	case kindConfig:
		l.configs[f.group] = f.configs
	case kindPartition:
		g := l.parts[f.group]
		if g == nil {
			g = make(map[tp]*partState)
			l.parts[f.group] = g
		}
		p := g[f.tp]
		if p == nil {
			p = newPartState(f.spso)
			g[f.tp] = p
		}
		for _, e := range f.entries {
			p.recs[e.off] = recState{state: e.state, count: e.count}
		}
		p.spso = f.spso
		for off, r := range p.recs {
			if off < p.spso || (r.state == StateAvailable && r.count == 0) {
				delete(p.recs, off)
			}
		}
	}
}

// store is the durable share state log: a framelog.Log of partition and
// config frames. It is not safe for concurrent use; the Coordinator calls
// it with its mutex held. A nil *store (no Dir) accepts every write and
// keeps nothing.
type store struct {
	log *framelog.Log
	buf []byte // frame scratch, reused by append
}

// openStore recovers dir/share-state.log (dropping a torn tail), rewrites
// it compacted and opens it for appending.
func openStore(dir string, fsync bool, log *slog.Logger) (*store, *loaded, error) {
	st := &loaded{configs: make(map[string]map[string]string), parts: make(map[string]map[tp]*partState)}
	if dir == "" {
		return nil, st, nil
	}
	replay := func(payload []byte) error {
		f, err := decodePayload(payload)
		if err != nil {
			return err
		}
		st.apply(&f)
		return nil
	}
	opts := framelog.Options{Fsync: fsync, Logger: log, Name: "share state log"}
	l, err := framelog.Open(filepath.Join(dir, stateFile), opts, replay,
		func() []byte { return snapshotFrames(st.configs, st.parts) })
	if err != nil {
		return nil, nil, storeErr(err)
	}
	return &store{log: l}, st, nil
}

// snapshotFrames encodes the full state: one config frame per group with
// configs and one partition frame per share-partition.
func snapshotFrames(configs map[string]map[string]string, parts map[string]map[tp]*partState) []byte {
	var buf []byte
	for g, cfg := range configs {
		if len(cfg) > 0 {
			buf = appendFrame(buf, &frame{kind: kindConfig, group: g, configs: cfg})
		}
	}
	for g, ps := range parts {
		for key, p := range ps {
			f := frame{kind: kindPartition, group: g, tp: key, spso: p.spso}
			for off, r := range p.recs {
				if r.persisted() != StateAvailable || r.count > 0 {
					f.entries = append(f.entries, persistEntry{off: off, state: r.persisted(), count: r.count})
				}
			}
			buf = appendFrame(buf, &f)
		}
	}
	return buf
}

// rewrite atomically replaces the log with buf (see
// framelog.Log.Compact) and reopens it for appending.
func (s *store) rewrite(buf []byte) error {
	return storeErr(s.log.Compact(buf))
}

// append writes frames durably (per the fsync setting) in one write. A
// failed write is rolled back; if even that, or an fsync, fails the store
// is broken and refuses further writes (ErrStoreBroken).
func (s *store) append(frames []frame) error {
	if s == nil {
		return nil
	}
	s.buf = s.buf[:0]
	for i := range frames {
		s.buf = appendFrame(s.buf, &frames[i])
	}
	return storeErr(s.log.Append(s.buf))
}

// needsCompact reports whether the log has grown enough to be rewritten.
func (s *store) needsCompact() bool {
	return s != nil && s.log.NeedsCompaction()
}

// close syncs and closes the file.
func (s *store) close() error {
	if s == nil {
		return nil
	}
	return s.log.Close()
}

// storeErr makes a broken log's error match ErrStoreBroken too, which
// callers test for.
func storeErr(err error) error {
	if errors.Is(err, framelog.ErrBroken) {
		return fmt.Errorf("%w: %w", ErrStoreBroken, err)
	}
	return err
}

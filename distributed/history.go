package distributed

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
)

// ShardHistory is one shard's history file and the wall-clock instant
// its times count from (results.Shard.Epoch).
type ShardHistory struct {
	Shard int
	Path  string
	Epoch time.Time
}

// processStride separates the shards' process ids in a merged history:
// shard i's process p becomes i*processStride + p, so the processes of
// different shards stay distinct.
const processStride = 1_000_000

// MergeHistories writes one history (docs/history.md) of the shards'
// histories: events in time order on the common clock (the earliest epoch;
// each shard's times are shifted by its epoch's offset), indexes renumbered,
// process ids kept distinct per shard. Times of different machines are as
// close as their clocks: run NTP (docs/distributed.md).
func MergeHistories(out io.Writer, shards []ShardHistory) error {
	if len(shards) == 0 {
		return fmt.Errorf("merge histories: none given")
	}
	base := shards[0].Epoch
	for _, s := range shards {
		if s.Epoch.Before(base) {
			base = s.Epoch
		}
	}
	type event struct {
		time  int64
		shard int
		index int64
		line  map[string]json.RawMessage
	}
	var header []byte
	var events []event
	for _, s := range shards {
		f, err := os.Open(s.Path)
		if err != nil {
			return fmt.Errorf("merge histories: %w", err)
		}
		shift := int64(s.Epoch.Sub(base))
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		n := 0
		for sc.Scan() {
			n++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			if n == 1 {
				if header == nil {
					header = append([]byte(nil), b...)
				}
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				f.Close()
				return fmt.Errorf("merge histories: %s line %d: %w", s.Path, n, err)
			}
			var t, idx int64
			if err := json.Unmarshal(m["time"], &t); err != nil {
				f.Close()
				return fmt.Errorf("merge histories: %s line %d: time: %w", s.Path, n, err)
			}
			_ = json.Unmarshal(m["index"], &idx)
			t += shift
			m["time"] = json.RawMessage(strconv.FormatInt(t, 10))
			var proc int
			if json.Unmarshal(m["process"], &proc) == nil && proc >= 0 {
				m["process"] = json.RawMessage(strconv.Itoa(s.Shard*processStride + proc))
			}
			events = append(events, event{time: t, shard: s.Shard, index: idx, line: m})
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("merge histories: read %s: %w", s.Path, err)
		}
	}
	slices.SortStableFunc(events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.shard, b.shard), cmp.Compare(a.index, b.index))
	})
	bw := bufio.NewWriter(out)
	bw.Write(header)
	bw.WriteByte('\n')
	for i, e := range events {
		e.line["index"] = json.RawMessage(strconv.Itoa(i))
		b, err := json.Marshal(e.line)
		if err != nil {
			return fmt.Errorf("merge histories: %w", err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

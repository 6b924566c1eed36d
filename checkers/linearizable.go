package checkers

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// chunkTarget is the smallest sub-history handed to porcupine when the
// history can be cut; porcupine's search state is a bitset over the
// sub-history, so small pieces keep each step O(1).
const chunkTarget = 512

// maxSearch bounds the sends of one piece handed to porcupine. porcupine
// caches every state it reaches with a bitset over the piece, so its memory
// grows with the square of a piece's size; a larger piece (they arise only
// around violations, which block cuts) is decided by linearOrderViolation,
// which is exact for this model, in O(n) memory.
const maxSearch = 8192

// maxVisualized bounds the sends drawn in a visualization: a browser cannot
// render a far larger piece, and the verbose re-check costs memory per send.
const maxVisualized = 10000

// linOp is one send taking part in the linearizability check.
type linOp struct {
	rank   int   // position of offset among the partition's distinct offsets
	offset int64 // the offset it was acknowledged at, or polled at for info sends
	call   int64
	ret    int64 // math.MaxInt64 for info sends: they may take effect any time after call
	send   int32
	info   bool
}

// linState is the model state: the rank of the log's tail and a running hash
// of the values appended, so equal states mean equal logs.
type linState struct {
	tail int
	hash uint64
}

func mix(h uint64, v int64) uint64 { return (h ^ uint64(v)) * 0x100000001b3 }

// linModel is porcupine's model of one partition's append-only log started
// at state start: a send appends at the tail, so it is legal exactly when its
// offset is the next one. offsets maps ranks back to offsets for display.
func linModel(start linState, offsets []int64, c *logChecker) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return start },
		Step: func(state, input, _ any) (bool, any) {
			st, op := state.(linState), input.(linOp)
			if op.rank != st.tail+1 {
				return false, st
			}
			return true, linState{tail: op.rank, hash: mix(st.hash, c.ops[op.send].value)}
		},
		Hash: func(state any) uint64 {
			st := state.(linState)
			return st.hash ^ uint64(st.tail)*0x9e3779b97f4a7c15
		},
		DescribeOperation: func(input, _ any) string {
			op := input.(linOp)
			if op.info {
				return fmt.Sprintf("send(%d) -> info, polled at %d", c.ops[op.send].value, op.offset)
			}
			return fmt.Sprintf("send(%d) -> %d", c.ops[op.send].value, op.offset)
		},
		DescribeState: func(state any) string {
			st := state.(linState)
			if st.tail < 0 {
				return "empty log"
			}
			return fmt.Sprintf("tail offset %d, hash %016x", offsets[st.tail], st.hash)
		},
	}
}

// checkLinearizable runs porcupine on each partition's sends. Failures add a
// nonlinearizable anomaly and a visualization; running out of time adds an
// Inconclusive entry, which makes the verdict unknown.
//
// The time limit is shared fairly: each partition gets the time left
// divided by the partitions left, so one partition cannot starve the
// others, and time a partition does not use passes on.
func (c *logChecker) checkLinearizable(ctx context.Context, r *report) error {
	deadline := time.Now().Add(c.cfg.LinearizabilityTimeout)
	for i, p := range c.parts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("check linearizability: %w", err)
		}
		ops, offsets := c.linOps(p)
		r.v.Stats.Linearized += len(ops)
		if c.sameOffset(p, ops, r) {
			continue
		}
		share := time.Until(deadline) / time.Duration(len(c.parts)-i)
		if err := c.linearizePartition(ctx, p, ops, offsets, time.Now().Add(share), r); err != nil {
			return err
		}
	}
	return nil
}

// sameOffset decides a partition without search when two of its sends took
// effect at one offset (acknowledged there, or an info send polled there):
// an append-only log gives each offset one value, so no linearization
// exists. Searching for one is exponential in the sends concurrent with
// the pair, which is why it is decided here.
func (c *logChecker) sameOffset(p *partition, ops []linOp, r *report) bool {
	for i := 1; i < len(ops); i++ {
		if ops[i].rank != ops[i-1].rank {
			continue
		}
		a, b := &c.ops[ops[i-1].send], &c.ops[ops[i].send]
		r.add("nonlinearizable", Example{Key: p.name, Values: []int64{a.value, b.value}, Offsets: []int64{ops[i].offset},
			Processes: []int{int(a.proc), int(b.proc)}, Lines: []int{int(a.line), int(b.line)},
			Detail: fmt.Sprintf("%s: sends of values %d (line %d) and %d (line %d) both took effect at offset %d; decided without search",
				p.name, a.value, a.line, b.value, b.line, ops[i].offset)})
		return true
	}
	return false
}

// linearOrderViolation decides a piece whose offsets are distinct without
// search: the model's only legal order is by offset, so a linearization
// exists iff no send returned before a send at a lower offset was called.
// It returns the index of such a lower send, or -1.
func linearOrderViolation(piece []linOp) int {
	earliest := int64(math.MaxInt64)
	for i := len(piece) - 1; i >= 0; i-- {
		if earliest < piece[i].call {
			return i
		}
		earliest = min(earliest, piece[i].ret)
	}
	return -1
}

// linOps returns the partition's acknowledged sends and the info or pending
// sends whose value was polled there (they happened; their offset is the
// lowest one they were polled at), sorted by rank. An info send that was
// never polled is left out: with gaps allowed between offsets, "it did not
// happen" is always a legal choice for it, so it cannot make a history
// nonlinearizable.
func (c *logChecker) linOps(p *partition) ([]linOp, []int64) {
	var ops []linOp
	for _, i := range p.sends {
		s := &c.ops[i]
		off, ok := c.sendOffset(i)
		switch {
		case s.status == acked:
			ops = append(ops, linOp{offset: off, call: s.invoke, ret: s.complete, send: i})
		case ok:
			ops = append(ops, linOp{offset: off, call: s.invoke, ret: math.MaxInt64, send: i, info: true})
		}
	}
	slices.SortFunc(ops, func(a, b linOp) int { return cmp.Or(cmp.Compare(a.offset, b.offset), cmp.Compare(a.call, b.call)) })
	var offsets []int64
	for i := range ops {
		if i == 0 || ops[i].offset != ops[i-1].offset {
			offsets = append(offsets, ops[i].offset)
		}
		ops[i].rank = len(offsets) - 1
	}
	return ops, offsets
}

// cuts splits rank-sorted ops into independent sub-histories. A cut before
// ops[i] is sound when no op after it returned before an op before it was
// called (minRet(suffix) >= maxCall(prefix)): then no real-time constraint
// crosses the cut and the log state there is fixed (tail = rank before the
// cut), so the whole is linearizable iff every piece is. In a linearizable
// history every rank boundary qualifies; a violating pair of sends is never
// separated, so porcupine sees it.
func cuts(ops []linOp) [][2]int {
	n := len(ops)
	minRet := make([]int64, n+1)
	minRet[n] = math.MaxInt64
	for i := n - 1; i >= 0; i-- {
		minRet[i] = min(minRet[i+1], ops[i].ret)
	}
	var out [][2]int
	start, maxCall := 0, int64(math.MinInt64)
	for i := 0; i < n; i++ {
		if i-start >= chunkTarget && ops[i].rank != ops[i-1].rank && minRet[i] >= maxCall {
			out = append(out, [2]int{start, i})
			start = i
		}
		maxCall = max(maxCall, ops[i].call)
	}
	if n > start {
		out = append(out, [2]int{start, n})
	}
	return out
}

func (c *logChecker) linearizePartition(ctx context.Context, p *partition, ops []linOp, offsets []int64, deadline time.Time, r *report) error {
	hash := uint64(0)
	done := 0
	for _, cut := range cuts(ops) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("check linearizability of %s: %w", p.name, err)
		}
		piece := ops[cut[0]:cut[1]]
		if time.Until(deadline) <= 0 {
			r.v.Inconclusive = append(r.v.Inconclusive, Inconclusive{Check: "linearizability", Key: p.name,
				Reason: fmt.Sprintf("the partition's share of the time limit %v ran out with %d of %d sends unchecked", c.cfg.LinearizabilityTimeout, len(ops)-done, len(ops))})
			return nil
		}
		if ok, err := c.linearizePiece(p, piece, linState{tail: piece[0].rank - 1, hash: hash}, offsets, deadline, r); !ok || err != nil {
			return err
		}
		for _, op := range piece {
			hash = mix(hash, c.ops[op.send].value)
		}
		done += len(piece)
	}
	return nil
}

// linearizePiece checks one piece from state start: with porcupine, or
// directly when the piece is too large to search in bounded memory. It
// returns false when the piece failed or could not be decided (reported).
func (c *logChecker) linearizePiece(p *partition, piece []linOp, start linState, offsets []int64, deadline time.Time, r *report) (bool, error) {
	if len(piece) > maxSearch {
		k := linearOrderViolation(piece)
		if k < 0 {
			return true, nil
		}
		v := c.ops[piece[k].send].value
		r.add("nonlinearizable", Example{Key: p.name, Offsets: []int64{piece[k].offset}, Values: []int64{v},
			Detail: fmt.Sprintf("%s: value %d at offset %d was sent after a send at a higher offset returned (%d sends in the piece, decided without search)",
				p.name, v, piece[k].offset, len(piece))})
		return false, nil
	}
	model := linModel(start, offsets, c)
	history := c.porcupineOps(piece)
	r.v.Stats.Porcupine++
	switch porcupine.CheckOperationsTimeout(model, history, time.Until(deadline)) {
	case porcupine.Illegal:
		return false, c.nonlinearizable(p, piece, model, history, deadline, r)
	case porcupine.Unknown:
		r.v.Inconclusive = append(r.v.Inconclusive, Inconclusive{Check: "linearizability", Key: p.name,
			Reason: fmt.Sprintf("porcupine ran out of the partition's share of the time limit %v on %d sends at offsets %d..%d", c.cfg.LinearizabilityTimeout, len(piece), piece[0].offset, piece[len(piece)-1].offset)})
		return false, nil
	}
	return true, nil
}

func (c *logChecker) porcupineOps(piece []linOp) []porcupine.Operation {
	h := make([]porcupine.Operation, len(piece))
	for i, op := range piece {
		h[i] = porcupine.Operation{ClientId: int(c.ops[op.send].proc), Input: op, Call: op.call, Return: op.ret}
	}
	return h
}

// nonlinearizable reports a failed piece and, when asked, writes porcupine's
// visualization of it (re-checked verbosely: only failures pay that cost).
func (c *logChecker) nonlinearizable(p *partition, piece []linOp, model porcupine.Model, h []porcupine.Operation, deadline time.Time, r *report) error {
	ex := Example{Key: p.name, Offsets: []int64{piece[0].offset, piece[len(piece)-1].offset},
		Detail: fmt.Sprintf("%s: no linearization of %d sends at offsets %d..%d", p.name, len(piece), piece[0].offset, piece[len(piece)-1].offset)}
	if dir := c.cfg.VisualizationDir; dir != "" && len(piece) > maxVisualized {
		ex.Detail += fmt.Sprintf("; too many sends to visualize (over %d)", maxVisualized)
	} else if dir != "" {
		path := filepath.Join(dir, "linearizability-"+sanitize(p.name)+".html")
		// The verbose re-run needs its own budget: the first run found the
		// violation, so it finishes quickly; a minimum avoids losing the
		// picture when the overall limit is nearly spent.
		_, info := porcupine.CheckOperationsVerbose(model, h, max(time.Until(deadline), 5*time.Second))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write linearizability visualization: %w", err)
		}
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			return fmt.Errorf("write linearizability visualization %s: %w", path, err)
		}
		r.v.Visualizations = append(r.v.Visualizations, path)
		ex.Detail += "; see " + path
	}
	r.add("nonlinearizable", ex)
	return nil
}

// sanitize makes a partition key usable as a file name ("orders/3" ->
// "orders_3").
func sanitize(key string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, key)
}

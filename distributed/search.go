package distributed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/brokerbench/brokerbench/results"
	"github.com/brokerbench/brokerbench/suite"
	"github.com/brokerbench/brokerbench/workloads"
)

// Searches is what the coordinator needs to run the saturation searches
// (maxRate workloads) of a distributed run itself: a search picks each
// probe's rate from the previous probe's figures, which exist only once
// every shard's are merged.
type Searches struct {
	// Workloads are the workloads the shards run (sweeps are expanded
	// here): the coordinator looks the searched one up by name.
	Workloads []workloads.Workload
	// Options override the searches as on one machine (the flags of
	// `brokerbench run`); the shards get the probe lengths from the
	// coordinator with every probe.
	Options suite.SearchOptions
	// Limits judge each merged probe's status, as a run's.
	Limits results.Limits
}

// search runs the saturation search the shards, all waiting at its first
// PointProbe (sts), are in: suite.Search, the search one machine runs,
// with every probe one sharded run whose shard results are merged
// exactly. At the end the shards are told which probe the search kept and
// given the search record: each writes its result of that probe with the
// record, so that merging the shards' results, here or with `brokerbench
// merge`, gives the search's result.
func (c *Coordinator) search(ctx context.Context, sts []*WorkerStatus) error {
	at, err := searchPoint(sts, 0)
	if err != nil {
		return c.failRun(ctx, err)
	}
	if c.Searches == nil {
		return c.failRun(ctx, fmt.Errorf("the shards run the saturation search of %s on %s, and this coordinator runs no searches", at.Workload, at.System))
	}
	w, ok := c.Searches.workload(at.Workload)
	if !ok || w.MaxRate == nil {
		return c.failRun(ctx, fmt.Errorf("the shards search %s on %s, which is not among the coordinator's maxRate workloads: give the coordinator the shards' workloads file and selection", at.Workload, at.System))
	}
	s := &searchRun{c: c, at: at, seq: sts[0].Seq}
	res, err := suite.Search(ctx, suite.SearchSpec{Workload: w, Options: c.Searches.Options, System: at.System, Logger: c.Logger}, s.probe)
	switch {
	case s.err != nil:
		return s.err // the run failed during a probe: the shards are aborted
	case err != nil:
		return c.failRun(ctx, err)
	}
	keep := slices.Index(s.merged, res)
	if keep < 0 {
		return c.failRun(ctx, fmt.Errorf("the search of %s on %s ran no probe: %s", at.Workload, at.System, res.Error))
	}
	c.Logger.Info("search done; the shards write their result of the probe it kept", "workload", at.Workload, "system", at.System, "probe", keep+1, "of", len(s.merged))
	return s.step(ctx, suite.ProbeStep{Done: true, Keep: keep, Record: res.Capacity})
}

// searchRun is one search in progress: the wait the shards are at and the
// merged probes so far.
type searchRun struct {
	c      *Coordinator
	at     suite.SearchPoint
	seq    int
	merged []*results.Result
	err    error // the run's failure, once it failed
}

// probe runs one probe on every shard: the shards, waiting at
// PointProbe, are released with its rate, run it as one sharded run
// through the usual rendezvous, and wait at PointProbe again with their
// results, which are merged.
func (s *searchRun) probe(ctx context.Context, p suite.ProbeRun) (*results.Result, error) {
	c := s.c
	step := suite.ProbeStep{Rate: p.Workload.ProducerRate, Probe: p.Probe, Warmup: p.Warmup, N: c.probes}
	c.probes++
	if err := s.step(ctx, step); err != nil {
		return nil, s.fail(err)
	}
	c.Logger.Info("search probe", "workload", s.at.Workload, "system", s.at.System, "probe", len(s.merged)+1, "phase", p.Phase, "rate", step.Rate)
	sts, err := c.advance(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	if all(sts, func(st *WorkerStatus) bool { return st.Done }) {
		return nil, s.fail(c.failRun(ctx, fmt.Errorf("the shards finished in the middle of the search of %s on %s", s.at.Workload, s.at.System)))
	}
	if _, err := searchPoint(sts, len(s.merged)+1); err != nil {
		return nil, s.fail(c.failRun(ctx, err))
	}
	s.seq = sts[0].Seq
	shards := make([]*results.Result, len(c.Workers))
	for i, u := range c.Workers {
		err := c.call(ctx, http.MethodGet, u+"/probe?"+url.Values{"seq": {fmt.Sprint(s.seq)}}.Encode(), &shards[i])
		if err == nil && shards[i] == nil {
			err = errors.New("the shard handed over no result")
		}
		if err != nil {
			return nil, s.fail(c.fail(ctx, i, "fetch probe result: "+err.Error()))
		}
	}
	m, err := Merge(shards, c.Searches.Limits)
	if err != nil {
		return nil, s.fail(c.failRun(ctx, fmt.Errorf("merge the probe at %.0f msg/s: %w", step.Rate, err)))
	}
	s.merged = append(s.merged, m)
	return m, nil
}

// fail records err as the run's failure, which ends the search.
func (s *searchRun) fail(err error) error {
	s.err = err
	return err
}

// step releases the shards waiting at PointProbe with the search's next
// step.
func (s *searchRun) step(ctx context.Context, step suite.ProbeStep) error {
	c := s.c
	body, err := json.Marshal(step)
	if err != nil {
		return c.failRun(ctx, fmt.Errorf("encode search step: %w", err))
	}
	for i, u := range c.Workers {
		if err := c.do(ctx, http.MethodPost, u+"/step?"+url.Values{"seq": {fmt.Sprint(s.seq)}}.Encode(), body, nil); err != nil {
			return c.fail(ctx, i, "release the search's next step: "+err.Error())
		}
	}
	c.st.released = s.seq
	return nil
}

// searchPoint is the search every shard waits in, having handed over
// probes results; the shards must agree.
func searchPoint(sts []*WorkerStatus, probes int) (suite.SearchPoint, error) {
	first := sts[0].Search
	for i, st := range sts {
		if st.Search == nil || first == nil || *st.Search != *first {
			return suite.SearchPoint{}, fmt.Errorf("at %s, shard %d/%d is in search %+v, shard 0 in %+v: the shards run different workloads", PointProbe, i, len(sts), st.Search, first)
		}
	}
	if first.Probes != probes {
		return suite.SearchPoint{}, fmt.Errorf("at %s, the shards handed over %d probes of %s on %s, the coordinator ran %d", PointProbe, first.Probes, first.Workload, first.System, probes)
	}
	return *first, nil
}

// workload finds the expanded workload named name.
func (s *Searches) workload(name string) (workloads.Workload, bool) {
	for _, w := range s.Workloads {
		for _, e := range w.Expand() {
			if e.Name == name {
				return e, true
			}
		}
	}
	return workloads.Workload{}, false
}

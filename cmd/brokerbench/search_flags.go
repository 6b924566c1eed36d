package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/brokerbench/brokerbench/suite"
)

// searchFlags override the maxRate searches of `brokerbench run`
// (suite.SearchOptions), so `make run` can shorten the shipped ones.
type searchFlags struct {
	probe, budget time.Duration
	warmup        string
	repeat        int
}

func (f *searchFlags) register(fl *pflag.FlagSet) {
	fl.DurationVar(&f.probe, "probe-duration", 0, "maxRate searches: override each probe's measured length (maxRate.probe), e.g. 1s")
	fl.StringVar(&f.warmup, "probe-warmup", "", "maxRate searches: override each probe's warm-up (maxRate.warmup), e.g. 500ms or 0s")
	fl.DurationVar(&f.budget, "search-budget", 0, "maxRate searches: override each search's time budget (maxRate.budget), e.g. 20s")
	fl.IntVar(&f.repeat, "search-repeat", 0, "maxRate searches: override how many times each search runs (maxRate.repeat), for an interval on the found rate")
}

// options validates the flags into suite.SearchOptions.
func (f *searchFlags) options() (suite.SearchOptions, error) {
	o := suite.SearchOptions{Probe: f.probe, Budget: f.budget, Repeat: f.repeat}
	if f.warmup != "" {
		d, err := time.ParseDuration(f.warmup)
		if err != nil || d < 0 {
			return o, usagef("--probe-warmup %q: want a duration such as 500ms or 0s", f.warmup)
		}
		o.Warmup, o.WarmupSet = d, true
	}
	if f.probe < 0 || f.budget < 0 || f.repeat < 0 {
		return o, usagef("--probe-duration, --search-budget and --search-repeat must not be negative")
	}
	return o, nil
}

//go:build !linux

package e2e_test

import "errors"

// The floors measure thread CPU with getrusage(RUSAGE_THREAD) and map
// files with Linux system calls; BenchmarkBrokerEfficiency, their only
// user, runs on Linux only.

var errFloorLinux = errors.New("the machine floor is measured on Linux only")

func produceFloor(path string, bytes int64) (cpuTimes, error) {
	return cpuTimes{}, errFloorLinux
}

func consumeFloor(path string) (cpuTimes, error) { return cpuTimes{}, errFloorLinux }

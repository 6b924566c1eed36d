package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/brokerbench/brokerbench/workloads/runner"
)

// errInterrupted is returned after an interrupted run was written and the
// summary printed; it exits with exitInterrupted.
var errInterrupted = errors.New("interrupted")

// handleInterrupts turns the first SIGINT or SIGTERM into cancel (the
// current run stops, is written as interrupted and cleans up within
// seconds) and the second into exit(exitInterrupted) at once, after
// naming the topics still left on their systems. The returned function
// stops listening.
func handleInterrupts(stderr io.Writer, cancel context.CancelFunc, live *runner.Resources, exit func(int)) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "\nbrokerbench: interrupted: stopping the current run, writing it and cleaning up (interrupt again to exit at once)")
		cancel()
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "\nbrokerbench: interrupted again: exiting now")
		writeLeftBehind(stderr, live)
		exit(exitInterrupted)
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// writeLeftBehind names the topics runs created and did not delete.
func writeLeftBehind(w io.Writer, live *runner.Resources) {
	left := live.Live()
	if len(left) == 0 {
		fmt.Fprintln(w, "brokerbench: nothing left behind")
		return
	}
	fmt.Fprintf(w, "brokerbench: left behind (topics with their queues, streams or groups; delete them by hand):\n  %s\n", strings.Join(left, "\n  "))
}

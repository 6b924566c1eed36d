// Command brokerbench runs message-broker workloads and checks delivery
// guarantees. See README.md for the commands, and docs/ for the workload,
// result and adapter references.
//
// Exit codes: 0 success, 1 a run or check failed, 2 usage or input error,
// 130 interrupted (Ctrl-C: the current run is written as interrupted; a
// second Ctrl-C exits at once).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/brokerbench/brokerbench/suite/systems"
	"github.com/brokerbench/brokerbench/workloads/runner"
)

// Exit codes shared by every subcommand.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130 // 128 + SIGINT, as shells report it
)

// usageError marks errors caused by the user's input (flags, files); they
// exit with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errRunFailed is returned after results are written when a run failed; the
// details were already printed.
var errRunFailed = errors.New("one or more runs failed")

func main() {
	// brokerbench runs refbroker as its own subprocess by re-executing
	// itself (suite/systems.ServeRefbroker); that child stops here.
	if code, ok := systems.ServeRefbroker(); ok {
		os.Exit(code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	live := &runner.Resources{}
	stop := handleInterrupts(os.Stderr, cancel, live, os.Exit)
	code := executeWith(ctx, os.Args[1:], os.Stdout, os.Stderr, live)
	stop()
	cancel()
	os.Exit(code)
}

// execute runs the command line args and returns the exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return executeWith(ctx, args, stdout, stderr, &runner.Resources{})
}

// executeWith is execute recording the topics runs create in live, for
// the interrupt handler to name what an exit leaves behind.
func executeWith(ctx context.Context, args []string, stdout, stderr io.Writer, live *runner.Resources) int {
	root := newRootCmd(live)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Cobra validates the command name, flags and arguments before any
	// pre-run hook: an error before the hook ran is a usage error.
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "brokerbench:", err)
	if errors.Is(err, errInterrupted) {
		return exitInterrupted
	}
	if isUsage(err) || !started {
		return exitUsage
	}
	return exitFailed
}

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func newRootCmd(live *runner.Resources) *cobra.Command {
	root := &cobra.Command{
		Use:   "brokerbench",
		Short: "Benchmark message brokers and check their delivery guarantees",
		Long: `brokerbench runs the same workloads against Kafka, RabbitMQ, Redis Streams,
NATS JetStream and its own Kafka-protocol reference broker, measures
throughput and latency with HDR histograms on an open-loop schedule, and
counts lost, duplicated and reordered messages.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	// Cobra reports unknown flags and bad arguments through this hook;
	// they are usage errors.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(live), newValidateCmd(), newListCmd())
	root.AddCommand(newCheckCmd())
	root.AddCommand(newReportCmd(), newPlanCmd(), newMergeCmd())
	return root
}

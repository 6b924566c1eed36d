// Package e2e holds refbroker's end-to-end tests and performance
// benchmarks. It has no library code: everything lives in the external test
// package e2e_test, which drives a real refbroker (embedded through
// refbroker.Start, or the cmd/refbroker binary as a subprocess) with real
// franz-go clients, and compares it with franz-go's kfake.
//
// Test groups, one file each:
//   - group_test.go: consumer groups through kgo (rebalances with eager and
//     cooperative balancers, static membership restart, expiry and
//     fencing, offsets across a restart), with member_test.go holding the
//     instrumented group member;
//   - crash_test.go: kill -9 of the binary under an idempotent acks=all
//     producer;
//   - torn_test.go: recovery from a truncated and bit-flipped segment tail;
//   - diff_test.go: one scenario run against refbroker and kfake, observable
//     results compared;
//   - bench_test.go: produce and consume throughput, refbroker vs kfake
//     (figures in docs/performance.md).
//
// helpers_test.go and proc_test.go hold the shared helpers: embedded
// brokers, kgo clients, polling waits, and the cmd/refbroker subprocess
// (built once per test binary by TestMain's build cache).
//
// `go test -short` skips the subprocess tests (crash, torn write) and the
// long group scenarios. Set REFBROKER_TEST_LOG=1 to see embedded broker
// logs and E2E_KGO_LOG=1 for the group members' kgo logs.
package e2e

// Package e2e holds refbroker's end-to-end tests and performance
// benchmarks. It has no library code: everything lives in the external test
// package e2e_test, which drives a real refbroker (embedded through
// refbroker.Start, or the cmd/refbroker binary as a subprocess) with real
// franz-go clients, and compares it with franz-go's kfake.
//
// Test groups, one file each:
//   - group_test.go: consumer groups through kgo (rebalances with eager and
//     cooperative balancers, static membership, fencing, offsets across a
//     restart);
//   - crash_test.go: kill -9 of the binary under an idempotent acks=all
//     producer;
//   - torn_test.go: recovery from a truncated and bit-flipped segment tail;
//   - diff_test.go: one scenario run against refbroker and kfake, observable
//     results compared;
//   - bench_test.go: produce and consume throughput, refbroker vs kfake.
//
// `go test -short` skips the subprocess crash tests and the long group
// scenarios. Set REFBROKER_TEST_LOG=1 to see broker logs.
package e2e

// Package chaos injects faults into the systems brokerbench measures and
// runs them on a schedule, so that conformance workloads can check that a
// broker keeps its delivery promises while things break.
//
// The main types:
//
//   - [Spec] and [FaultSpec]: the declarative fault schedule of a workload
//     (the chaos: key of workloads.yaml, documented in docs/chaos.md), with
//     Default and Validate.
//   - [Network]: an embedded Toxiproxy that puts a proxy in front of every
//     broker address, per client role, and injects latency, bandwidth limits,
//     blackholes, connection resets and proxy outages. [Network.Dialer]
//     routes a client's connections (for Kafka, also those to brokers learned
//     from metadata) through the proxies.
//   - [Process]: a broker the suite starts itself as a subprocess in its
//     own process group, which it can kill -9 and restart on the same port
//     and data directory, or pause with SIGSTOP. Which brokers, and with
//     what command line, the system registry (suite/systems) declares.
//   - [Schedule]: runs the faults of a [Spec] on time against an [Injector]
//     (usually [Injectors], which routes each fault to a Network, a Process
//     or the runner's [ClientFaults]), always heals at the end, and reports
//     every fault start and stop as an [Event].
//
// Client faults (a consumer crashing without committing, a producer dropped
// mid-batch) are carried out by the runner through [ClientFaults]; this
// package only schedules them.
package chaos

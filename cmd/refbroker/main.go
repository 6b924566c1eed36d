// Command refbroker runs brokerbench's reference Kafka-protocol broker
// until SIGINT or SIGTERM, then shuts it down gracefully. See
// docs/refbroker.md for flags and behaviour; the flags live in
// refbroker/refbrokercli, which brokerbench also uses to run refbroker as
// its own subprocess.
//
// Exit codes: 0 after a clean shutdown, 1 if the broker failed to start or
// to close cleanly, 2 for invalid flags.
package main

import (
	"os"

	"github.com/brokerbench/brokerbench/refbroker/refbrokercli"
)

func main() {
	os.Exit(refbrokercli.Main(os.Args[1:], os.Stderr))
}

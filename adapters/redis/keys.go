package redis

import "strconv"

// keyLayout names the Redis keys of a topic. There are two layouts, chosen
// by the connection (Config.isCluster), never per topic:
//
//   - Single server (spread false): every key carries the hash tag
//     "{<topic>}" — streams "bb:{<topic>}:<p>", dead-letter streams
//     "bb:{<topic>}:dlq:<subscription>" — so a consumer reads all
//     partitions with one multi-stream XREADGROUP.
//   - Redis Cluster (spread true): each partition stream is its own tag,
//     "bb:{<topic>:<p>}", so a topic's partitions hash to different slots
//     and spread over the masters; that is what lets partitions add
//     server-side parallelism. Redis Cluster rejects a multi-key command
//     whose keys span slots, so consumers then read each partition with its
//     own XREADGROUP (consumer.go), and each partition has its own
//     dead-letter stream "bb:{<topic>:<p>}:dlq:<subscription>" in the same
//     slot, so that the XADD to it and the XACK of the original entry still
//     run in one MULTI/EXEC (queue.go).
//
// The metadata hash and the set of dead-letter subscriptions keep the
// topic's tag "{<topic>}" in both layouts: they are single-key commands.
type keyLayout struct{ spread bool }

// tag is the hash tag of partition p's keys.
func (l keyLayout) tag(topic string, p int) string {
	if l.spread {
		return "bb:{" + topic + ":" + strconv.Itoa(p) + "}"
	}
	return "bb:{" + topic + "}"
}

// stream is the stream of partition p.
func (l keyLayout) stream(topic string, p int) string {
	if l.spread {
		return l.tag(topic, p)
	}
	return l.tag(topic, p) + ":" + strconv.Itoa(p)
}

func (l keyLayout) streams(topic string, partitions int) []string {
	keys := make([]string, partitions)
	for p := range keys {
		keys[p] = l.stream(topic, p)
	}
	return keys
}

// dlq is the dead-letter stream that takes the rejected entries of partition
// p for subscription; on a single server all partitions share one.
func (l keyLayout) dlq(topic, subscription string, p int) string {
	return l.tag(topic, p) + ":dlq:" + subscription
}

// dlqs lists the distinct dead-letter streams of subscription: one on a
// single server, one per partition on a cluster.
func (l keyLayout) dlqs(topic, subscription string, partitions int) []string {
	if !l.spread {
		return []string{l.dlq(topic, subscription, 0)}
	}
	keys := make([]string, partitions)
	for p := range keys {
		keys[p] = l.dlq(topic, subscription, p)
	}
	return keys
}

func metaKey(topic string) string { return "bb:{" + topic + "}:meta" }

// dlqSetKey is the set of subscriptions that have a dead-letter stream, so
// that DeleteTopic can delete them without a SCAN.
func dlqSetKey(topic string) string { return "bb:{" + topic + "}:dlqs" }

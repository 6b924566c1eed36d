package refbroker

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// unsupportedFeatures lists, for every served API key, the request fields
// and behaviours refbroker ignores or refuses within the advertised
// versions. It is the checked-in source for the table in
// docs/refbroker.md (a test keeps the two identical and requires an entry
// for every registered key), so neither ApiVersions nor the docs can claim
// more than the code does. Keep each line short and factual.
var unsupportedFeatures = map[int16][]string{
	0: { // Produce
		"TransactionalID and transactional/control batches (UNSUPPORTED_FOR_MESSAGE_FORMAT)",
		"TimeoutMillis (no replication to wait for)",
		"magic 0/1 message sets (v0-2 are advertised for librdkafka's compression check; they must carry v2 batches)",
	},
	1: { // Fetch
		"fetch sessions (KIP-227): SessionID is always 0, non-zero IDs get FETCH_SESSION_ID_NOT_FOUND, ForgottenTopics ignored",
		"IsolationLevel read_committed has no effect (no transactions)",
		"Rack / PreferredReadReplica (always -1), LastFetchedEpoch, DivergingEpoch",
		"ReplicaID, ReplicaState, ReplicaDirectoryID (broker-to-broker fields)",
	},
	2: { // ListOffsets
		"timestamps -3 (max timestamp) and later specials (v7+ not advertised)",
		"v0 OldStyleOffsets / MaxNumOffsets",
		"timestamp lookups are batch-granular: the first batch whose max timestamp >= target",
	},
	3: { // Metadata
		"AuthorizedOperations (always INT32_MIN)",
		"racks (null) and OfflineReplicas (empty)",
	},
	8:  {"topic IDs (v10+ not advertised)"},                                     // OffsetCommit
	9:  {"topic IDs (v10+ not advertised)"},                                     // OffsetFetch
	10: {"transaction (1) and share (2) coordinator types: INVALID_REQUEST"},    // FindCoordinator
	11: {"KIP-848 protocol is separate (ConsumerGroupHeartbeat is not served)"}, // JoinGroup
	12: nil,                                                                     // Heartbeat
	13: nil,                                                                     // LeaveGroup
	14: nil,                                                                     // SyncGroup
	15: {"AuthorizedOperations (not computed)"},                                 // DescribeGroups
	16: nil,                                                                     // ListGroups
	18: { // ApiVersions
		"SupportedFeatures / FinalizedFeatures (KIP-584): none advertised",
	},
	19: { // CreateTopics
		"replication factor other than 1, replica assignments to other nodes",
		"topic configs other than retention.ms, retention.bytes, segment.bytes, max.message.bytes, cleanup.policy=delete, flush.messages=1 (INVALID_CONFIG)",
		"TimeoutMillis (creation is synchronous)",
	},
	20: {"TimeoutMillis (deletion is synchronous)"}, // DeleteTopics
	22: { // InitProducerID
		"TransactionalID (INVALID_REQUEST): no transactions",
		"KIP-360 epoch bump: a new producer ID is always returned",
		"TransactionTimeoutMillis",
	},
	32: { // DescribeConfigs
		"resource types other than TOPIC and BROKER (INVALID_REQUEST)",
		"synonyms and documentation",
	},
	37: {"TimeoutMillis (synchronous)"}, // CreatePartitions
	42: nil,                             // DeleteGroups
}

// Markers around the generated table in docs/refbroker.md.
const (
	apiTableBegin = "<!-- BEGIN GENERATED API TABLE: go test ./refbroker -run TestDocsAPITable -update -->"
	apiTableEnd   = "<!-- END GENERATED API TABLE -->"
)

// renderAPITable renders the served keys, their versions and their
// unsupported features as a Markdown table, for docs/refbroker.md.
func renderAPITable() string {
	var sb strings.Builder
	sb.WriteString("| key | API | versions | not supported |\n|---:|---|---|---|\n")
	for _, k := range sortedAPIKeys() {
		notes := unsupportedFeatures[k.key]
		cell := "none"
		if len(notes) > 0 {
			cell = strings.Join(notes, "; ")
		}
		fmt.Fprintf(&sb, "| %d | %s | v%d-v%d | %s |\n", k.key, kmsg.NameForKey(k.key), k.min, k.max, cell)
	}
	return sb.String()
}

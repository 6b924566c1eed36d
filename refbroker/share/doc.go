// Package share is the share-group coordinator of refbroker: KIP-932
// share groups ("queues for Kafka").
//
// A share group lets many consumers read the same partitions at once. The
// broker, not the consumer, tracks which records are in flight: every
// record of a share-partition is Available, Acquired (locked by one member
// for the lock duration), Acknowledged or Archived. ShareFetch acquires
// available records, ShareAcknowledge (or acknowledgements piggybacked on
// ShareFetch) accepts, releases, rejects or renews them. A released or
// expired record becomes available again until its delivery count reaches
// the limit, after which it is archived. The share-partition start offset
// (SPSO) advances over the contiguous prefix of finished (acknowledged or
// archived) records.
//
// The protocol server decodes each request with kmsg and calls one method
// of [Coordinator] (Heartbeat, Describe, StartFetch/Acquire, Acknowledge,
// AlterConfigs); responses are built from req.ResponseKind(). Partitions
// are resolved through the [Topics] interface, so this package does not
// depend on the broker's topic table or storage.
//
// Assignment: every member is assigned every partition of every topic it
// subscribes to, which is what KIP-932's simple assignor does while a
// group has no more members than partitions can share; records, not
// partitions, are divided between members.
//
// Durability: the state of every share-partition (SPSO, delivery counts,
// acknowledged and archived records) and every group config is written to
// an append-only log of CRC-framed records (store.go, over
// refbroker/internal/framelog) before the request that changed it is
// answered. Acquisition locks are not persisted: after
// a restart an acquired record is available again, with its delivery
// count kept, so a restart never loses an acknowledgement, never
// redelivers an acknowledged record and never resets a poison record's
// count.
//
// Concurrency: all state lives under one mutex and is changed by
// non-blocking transitions that take the current time. A single timer
// goroutine wakes at the earliest deadline (member session expiry or
// acquisition-lock expiry) and runs the same transitions. ShareFetch long
// polls wait outside the mutex on [Coordinator.Changed] and the
// partitions' logs.
package share

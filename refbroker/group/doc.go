// Package group is the classic consumer-group coordinator of refbroker.
//
// refbroker is a single-node broker and is always its own group
// coordinator. The protocol server decodes each group request with kmsg and
// calls one method of [Coordinator]; the method answers with a response built
// from req.ResponseKind(), so its version always matches the request.
//
// The coordinator implements the classic (pre-KIP-848) rebalance protocol:
// JoinGroup/SyncGroup rounds with generations, member and rebalance
// timeouts, MEMBER_ID_REQUIRED (KIP-394), static membership (KIP-345,
// KIP-814), and committed offsets persisted in an append-only file of
// CRC-framed records (see docs/groups.md).
//
// Concurrency: all group state lives under one mutex and is changed only by
// synchronous, non-blocking transitions that take the current time as an
// argument. JoinGroup and SyncGroup park the caller on a one-shot channel
// after releasing the mutex. A single timer goroutine wakes at the earliest
// deadline (session, join, sync or pending-member expiry) and runs the same
// transitions. There is no other goroutine and no other lock.
package group

package group

import "errors"

// ErrClosed is returned by Close when the coordinator was already closed.
var ErrClosed = errors.New("group coordinator closed")

// ErrInvalidConfig wraps every configuration error returned by New.
var ErrInvalidConfig = errors.New("invalid group coordinator config")

// ErrCorruptRecord marks an offsets-log frame whose length, checksum or body
// is invalid. Recovery treats the first such frame as the torn tail of the
// log and drops it together with everything after it.
var ErrCorruptRecord = errors.New("corrupt offsets record")

// ErrStoreBroken is returned for commits after a failed write could not be
// rolled back: appending after a half-written frame would hide every later
// record behind the torn frame on the next recovery, so the store refuses
// further writes until the coordinator is reopened.
var ErrStoreBroken = errors.New("offsets store unusable after failed rollback")

package framelog

import "errors"

// ErrCorrupt marks a frame that is short, has a length of 0 or above
// MaxPayload, or fails its checksum. Recovery treats the first such frame
// as the torn tail of the log.
var ErrCorrupt = errors.New("corrupt frame")

// ErrBroken is returned by every write after a failed write could not be
// rolled back, after a failed fsync (the page cache state is then unknown),
// or after a compaction that replaced the file could not reopen it. The
// log refuses further writes until it is reopened.
var ErrBroken = errors.New("frame log broken")

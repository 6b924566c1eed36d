// Package framelog is an append-only file of CRC-framed records with
// torn-tail recovery and compaction. It is the durable log under
// refbroker's group coordinator (offsets.log) and share coordinator
// (share-state.log); each of them owns only the encoding of its record
// payloads.
//
// A log is a sequence of frames:
//
//	uint32 big-endian  payload length (1..MaxPayload)
//	uint32 big-endian  CRC-32C (Castagnoli) of the payload
//	payload            opaque to this package
//
// The main type is [Log]: [Open] recovers the longest valid prefix of the
// file (a short, oversized or checksum-failing frame, or one the caller's
// replay function rejects, is the torn tail of an interrupted write and is
// dropped with everything after it), then rewrites the file compacted from
// the caller's snapshot. [Log.Append] writes whole frames (fsynced when
// [Options.Fsync] is set) and rolls a failed write back by truncating;
// when that is impossible the log is broken ([ErrBroken]) and refuses
// further writes, because a frame appended behind a half-written one would
// be lost on the next recovery. [AppendFrame], [ReadFrame] and [Scan] are
// the frame codec on its own.
package framelog

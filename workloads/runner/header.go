package runner

import "encoding/binary"

// HeaderSize is the size of the header every brokerbench message value
// starts with. workloads.MinMessageSize is at least this.
const HeaderSize = 32

// Header layout, big-endian:
//
//	0  2  magic "bB"
//	2  1  version (1)
//	3  1  flags (bit 0: readiness probe)
//	4  4  producer id (global over the shards of a distributed run, workloads.Split)
//	8  8  sequence number, per producer, from 0
//	16 8  intended send time, ns since the run's epoch
//	24 8  actual send time, ns since the run's epoch
//
// Both times are read off the one monotonic clock of the process that runs
// producers and consumers, so end-to-end latency has no clock skew.
const (
	magic0, magic1 = 'b', 'B'
	headerVersion  = 1
	flagProbe      = 1
)

// header is the decoded form of a message header.
type header struct {
	producer uint32
	seq      uint64
	intended int64
	sent     int64
	probe    bool
}

// putHeader writes h into the first HeaderSize bytes of b.
func putHeader(b []byte, h header) {
	_ = b[HeaderSize-1]
	b[0], b[1], b[2] = magic0, magic1, headerVersion
	b[3] = 0
	if h.probe {
		b[3] = flagProbe
	}
	binary.BigEndian.PutUint32(b[4:], h.producer)
	binary.BigEndian.PutUint64(b[8:], h.seq)
	binary.BigEndian.PutUint64(b[16:], uint64(h.intended))
	binary.BigEndian.PutUint64(b[24:], uint64(h.sent))
}

// parseHeader reads the header at the start of b; ok is false when b does
// not start with a brokerbench header (a message someone else produced).
func parseHeader(b []byte) (h header, ok bool) {
	if len(b) < HeaderSize || b[0] != magic0 || b[1] != magic1 || b[2] != headerVersion {
		return header{}, false
	}
	return header{
		producer: binary.BigEndian.Uint32(b[4:]),
		seq:      binary.BigEndian.Uint64(b[8:]),
		intended: int64(binary.BigEndian.Uint64(b[16:])),
		sent:     int64(binary.BigEndian.Uint64(b[24:])),
		probe:    b[3]&flagProbe != 0,
	}, true
}

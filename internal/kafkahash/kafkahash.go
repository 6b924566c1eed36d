// Package kafkahash is Kafka's key hash, murmur2, and the partition its
// default partitioner derives from it. The runner places keys with it and
// the Kafka adapter routes keyed messages without an explicit partition
// with it, so that both agree with each other and with a Java, franz-go or
// librdkafka ("murmur2_random") producer.
package kafkahash

// Murmur2 is Kafka's variant of MurmurHash2 with seed 0x9747b28c
// (org.apache.kafka.common.utils.Utils.murmur2). It reads b and keeps no
// reference to it; it is safe for concurrent use.
func Murmur2(b []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// Partition returns the partition in [0, n) that Kafka's default
// partitioner picks for key among n partitions: the positive part of
// Murmur2(key) modulo n, as Java's Utils.toPositive does. A nil key hashes
// like an empty one; Kafka clients spread nil keys by other means, which is
// the caller's business. n < 1 has no partition to pick and returns 0
// rather than dividing by zero.
func Partition(key []byte, n int) int32 {
	if n < 1 {
		return 0
	}
	return int32((Murmur2(key) & 0x7fffffff) % uint32(n))
}

package kafkahash

import "testing"

// TestMurmur2MatchesKafka uses Kafka's own test vectors
// (org.apache.kafka.common.utils.UtilsTest.testMurmur2), so keyed messages
// land on the same partitions as with a Java or franz-go producer.
func TestMurmur2MatchesKafka(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want int32
	}{
		{"21", -973932308},                                              // 2 bytes: tail only
		{"foobar", -790332482},                                          // one block and a 2-byte tail
		{"a-little-bit-long-string", -985981536},                        // whole blocks
		{"a-little-bit-longer-string", -1486304829},                     // 2-byte tail
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971}, // 1-byte tail
		{"abc", 479470107},                                              // 3-byte tail
	}
	for _, tt := range tests {
		if got := int32(Murmur2([]byte(tt.key))); got != tt.want {
			t.Errorf("Murmur2(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestPartition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		n    int
		want int32
	}{
		// Murmur2("21") = -973932308: positive part 1173551340.
		{"21", 1, 0}, // a single partition takes everything
		{"21", 7, 1173551340 % 7},
		{"21", 100, 1173551340 % 100},
		// Murmur2("abc") = 479470107 is already positive.
		{"abc", 3, 479470107 % 3},
		{"abc", 0, 0},  // no partitions: 0, not a division by zero
		{"abc", -4, 0}, // nonsense count: same
	}
	for _, tt := range tests {
		if got := Partition([]byte(tt.key), tt.n); got != tt.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
	for n := 1; n <= 64; n++ {
		if p := Partition([]byte("foobar"), n); p < 0 || int(p) >= n {
			t.Fatalf("Partition(foobar, %d) = %d, out of range", n, p)
		}
	}
}

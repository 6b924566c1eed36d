package reports

import (
	"fmt"
	"strconv"
	"strings"
)

// Unit is the unit a throughput is expressed in.
type Unit int

const (
	// UnitBytes: bytes per second (parsed from MB/s, MiB/s, GB/s, KB/s ...).
	UnitBytes Unit = iota
	// UnitMessages: messages per second (msg/s).
	UnitMessages
)

// Throughput is a rate with its unit: Value is bytes per second for
// UnitBytes and messages per second for UnitMessages.
type Throughput struct {
	Value float64
	Unit  Unit
	// Text is the input as the user wrote it, for reasoning lines.
	Text string
}

// multipliers of the accepted byte units: decimal (MB = 10^6 bytes, as in
// result files) and binary (MiB = 2^20 bytes).
var byteUnits = map[string]float64{
	"b/s": 1, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9,
	"kib/s": 1 << 10, "mib/s": 1 << 20, "gib/s": 1 << 30,
}

// ParseThroughput parses "500MB/s", "1.5 GiB/s", "200000 msg/s" or
// "20k msg/s". Byte units are decimal (KB, MB, GB = 10^3, 10^6, 10^9 bytes)
// or binary (KiB, MiB, GiB); message units are msg/s with an optional k or
// M multiplier. Errors wrap [ErrBadThroughput].
func ParseThroughput(s string) (Throughput, error) {
	text := strings.TrimSpace(s)
	compact := strings.ToLower(strings.ReplaceAll(text, " ", ""))
	i := strings.IndexFunc(compact, func(r rune) bool {
		return (r < '0' || r > '9') && r != '.' && r != 'e' && r != '+'
	})
	if i <= 0 {
		return Throughput{}, fmt.Errorf("%w %q: want a number and a unit, e.g. 500MB/s, 800MiB/s or 200000msg/s", ErrBadThroughput, s)
	}
	num, unit := compact[:i], compact[i:]
	// "Mb/s" is megabits to most readers; lower-casing it would read it as
	// megabytes, an eightfold error. Bytes are a capital B.
	if orig := strings.ReplaceAll(text, " ", "")[i:]; strings.Contains(orig, "b/s") && orig != "b/s" && !strings.Contains(strings.ToLower(orig), "msg") {
		return Throughput{}, fmt.Errorf("%w %q: %q looks like bits per second; write bytes with a capital B, e.g. 500MB/s or 800MiB/s", ErrBadThroughput, s, orig)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return Throughput{}, fmt.Errorf("%w %q: %q is not a positive number", ErrBadThroughput, s, num)
	}
	if m, ok := byteUnits[unit]; ok {
		return Throughput{Value: v * m, Unit: UnitBytes, Text: text}, nil
	}
	for prefix, m := range map[string]float64{"": 1, "k": 1e3, "m": 1e6} {
		if unit == prefix+"msg/s" || unit == prefix+"msgs/s" {
			return Throughput{Value: v * m, Unit: UnitMessages, Text: text}, nil
		}
	}
	return Throughput{}, fmt.Errorf("%w %q: unknown unit %q (use B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s or msg/s)", ErrBadThroughput, s, unit)
}

// String formats the throughput in MB/s or msg/s.
func (t Throughput) String() string {
	if t.Unit == UnitMessages {
		return fmtRate(t.Value) + " msg/s"
	}
	return fmt.Sprintf("%.2f MB/s", t.Value/1e6)
}

// fmtRate prints a msg/s figure without spurious decimals.
func fmtRate(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

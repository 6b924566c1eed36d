package metrics

import (
	"math"
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Quantiles are the percentiles every latency summary reports, matching the
// OpenMessaging Benchmark's result fields (50, 75, 95, 99, 99.9, 99.99) plus
// 90.
var Quantiles = [...]float64{50, 75, 90, 95, 99, 99.9, 99.99}

// Summary is the digest of one histogram, in milliseconds.
type Summary struct {
	// Count is the number of recorded values.
	Count int64 `json:"count"`
	// Min, Mean and Max in milliseconds.
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
	// P50 ... P9999 are percentiles in milliseconds.
	P50   float64 `json:"p50"`
	P75   float64 `json:"p75"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
}

// Summarize digests h, whose values are microseconds. An empty histogram
// gives a zero Summary with Count 0, which readers must not mistake for
// zero latency.
func Summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	v := h.ValueAtPercentiles(Quantiles[:])
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		Count: h.TotalCount(),
		Min:   ms(h.Min()),
		Mean:  h.Mean() / 1000,
		Max:   ms(h.Max()),
		P50:   ms(v[50]),
		P75:   ms(v[75]),
		P90:   ms(v[90]),
		P95:   ms(v[95]),
		P99:   ms(v[99]),
		P999:  ms(v[99.9]),
		P9999: ms(v[99.99]),
	}
}

// QuantileMap returns the latency in milliseconds at a fixed grid of
// percentiles (1..99 in steps of 1, then each further nine up to 99.999, and
// 100), keyed by the percentile as text ("99.9"), as OMB's
// aggregated*Quantiles maps are, so a percentile distribution can be drawn
// without decoding the histogram.
func QuantileMap(h *hdrhistogram.Histogram) map[string]float64 {
	out := make(map[string]float64)
	if h.TotalCount() == 0 {
		return out
	}
	grid := quantileGrid()
	vals := h.ValueAtPercentilesSlice(grid)
	for i, q := range grid {
		out[strconv.FormatFloat(q, 'f', -1, 64)] = float64(vals[i]) / 1000
	}
	return out
}

func quantileGrid() []float64 {
	grid := make([]float64, 0, 140)
	for q := 1; q <= 99; q++ {
		grid = append(grid, float64(q))
	}
	// 99.1..99.9, 99.91..99.99, 99.991..99.999: decimal steps built from
	// integers so that keys print exactly.
	for _, scale := range []float64{10, 100, 1000} {
		base := 100 - 1/scale*10
		for i := 1; i <= 9; i++ {
			grid = append(grid, math.Round((base+float64(i)/scale)*1e6)/1e6)
		}
	}
	return append(grid, 100)
}

// Encode returns the histogram in the HdrHistogram V2 compressed, base64
// form ("HISTFAAA..."), readable by every HdrHistogram implementation.
func Encode(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Decode parses a histogram written by Encode.
func Decode(s string) (*hdrhistogram.Histogram, error) {
	return hdrhistogram.Decode([]byte(s))
}

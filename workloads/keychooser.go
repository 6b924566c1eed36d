package workloads

import (
	"math"
	"math/rand/v2"
)

// KeyChooser picks the key index for each message, in [0, Keys). It is not
// safe for concurrent use: create one per producer. Next never allocates.
type KeyChooser interface {
	// Next returns the next key index; ok is false for NO_KEY, meaning the
	// message has no key.
	Next() (key int, ok bool)
}

// NewChooser returns a chooser for d whose sequence is fully determined by
// seed, so runs and tests are reproducible. Give each producer its own seed
// (for example base seed + producer index) so producers do not send the same
// key sequence in lockstep.
//
//   - NO_KEY: no key.
//   - KEY_ROUND_ROBIN: 0, 1, ..., Keys-1, 0, ... (OMB cycles through its
//     10,000 pre-generated keys the same way).
//   - RANDOM_NANO and UNIFORM: uniform over Keys. OMB's RANDOM_NANO picks a
//     random pre-generated key per message; here the randomness is seeded.
//   - ZIPF: P(k) ∝ (1+k)^-Exponent over Keys, so key 0 is the most frequent.
//   - HOT_KEY: key 0 with probability HotShare, otherwise uniform over the
//     other Keys-1 keys.
//
// NewChooser does not fail: parameters that Validate would reject are
// replaced by their defaults (an unknown kind by NO_KEY), so call Validate
// first if the distribution comes from input.
func (d KeyDistribution) NewChooser(seed int64) KeyChooser {
	d = d.sanitized()
	// Two different words for PCG's state; the constant is the 64-bit golden
	// ratio, a conventional way to derive a second word from one seed.
	r := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	switch d.Kind {
	case KeyRoundRobin:
		return &roundRobinChooser{n: d.Keys}
	case KeyRandomNano, KeyUniform:
		return &uniformChooser{r: r, n: d.Keys}
	case KeyZipf:
		return &zipfChooser{z: rand.NewZipf(r, d.Exponent, 1, uint64(d.Keys-1))}
	case KeyHot:
		return &hotKeyChooser{r: r, n: d.Keys, share: d.HotShare}
	default:
		return noKeyChooser{}
	}
}

// sanitized returns d with defaults in place of anything Validate rejects.
func (d KeyDistribution) sanitized() KeyDistribution {
	if len(d.validate()) == 0 {
		d.Default()
		return d
	}
	fixed := KeyDistribution{Kind: d.Kind}
	switch d.Kind {
	case KeyNone, KeyRandomNano, KeyRoundRobin, KeyZipf, KeyHot, KeyUniform:
	default:
		fixed.Kind = KeyNone
	}
	fixed.Default()
	if d.Keys >= 2 || (d.Keys == 1 && d.Kind != KeyHot) {
		fixed.Keys = d.Keys
	}
	if d.Exponent > 1 && !math.IsInf(d.Exponent, 1) {
		fixed.Exponent = d.Exponent
	}
	if d.HotShare > 0 && d.HotShare < 1 {
		fixed.HotShare = d.HotShare
	}
	if fixed.Kind != KeyZipf {
		fixed.Exponent = 0
	}
	if fixed.Kind != KeyHot {
		fixed.HotShare = 0
	}
	return fixed
}

type noKeyChooser struct{}

func (noKeyChooser) Next() (int, bool) { return 0, false }

type roundRobinChooser struct {
	n, next int
}

func (c *roundRobinChooser) Next() (int, bool) {
	k := c.next
	c.next++
	if c.next == c.n {
		c.next = 0
	}
	return k, true
}

type uniformChooser struct {
	r *rand.Rand
	n int
}

func (c *uniformChooser) Next() (int, bool) { return c.r.IntN(c.n), true }

type zipfChooser struct {
	z *rand.Zipf
}

func (c *zipfChooser) Next() (int, bool) { return int(c.z.Uint64()), true }

type hotKeyChooser struct {
	r     *rand.Rand
	n     int
	share float64
}

func (c *hotKeyChooser) Next() (int, bool) {
	if c.r.Float64() < c.share {
		return 0, true
	}
	return 1 + c.r.IntN(c.n-1), true
}

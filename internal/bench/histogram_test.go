package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// exactQuantile is the ceil(q·n)-th smallest value.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform 0-1s":         func() int64 { return rng.Int64N(1e9) },
		"lognormal around 5ms": func() int64 { return int64(math.Exp(rng.NormFloat64()*0.8) * 5e6) },
		"small values":         func() int64 { return rng.Int64N(300) },
		"bimodal":              func() int64 { return []int64{2e6, 3e9}[rng.IntN(2)] + rng.Int64N(1e5) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(len(vals)) {
				t.Fatalf("Count() = %d, want %d", h.Count(), len(vals))
			}
			if h.Max() != vals[len(vals)-1] {
				t.Errorf("Max() = %d, want %d", h.Max(), vals[len(vals)-1])
			}
			for _, q := range []float64{0.001, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				got, want := h.Quantile(q), exactQuantile(vals, q)
				if d := math.Abs(float64(got - want)); d > 0.01*float64(want) && d > 1 {
					t.Errorf("Quantile(%v) = %d, want %d within 1%% (off by %.3f%%)", q, got, want, 100*d/float64(want))
				}
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in the bucket whose bounds hold it, and bucket
	// widths stay within 1/128 of their values.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		v := rng.Uint64() >> rng.IntN(64)
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d, out of range", v, i)
		}
		lo, w := histBounds(i)
		if v < lo || v-lo >= w {
			t.Fatalf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		if lo >= 256 && float64(w)/float64(lo) > 1.0/128 {
			t.Fatalf("bucket %d: width %d at %d is wider than 1/128", i, w, lo)
		}
	}
	for v := range uint64(256) {
		if lo, w := histBounds(histIndex(v)); lo != v || w != 1 {
			t.Fatalf("value %d: bucket [%d, +%d), want exact", v, lo, w)
		}
	}
	if i := histIndex(math.MaxUint64); i != histBuckets-1 {
		t.Errorf("histIndex(MaxUint64) = %d, want %d", i, histBuckets-1)
	}
}

func TestHistogramEmptyNegativeAndMerge(t *testing.T) {
	var a, b Histogram
	if a.Quantile(0.99) != 0 || a.Max() != 0 || a.Count() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
	a.Record(-5) // a clock step: counts as 0
	if a.Quantile(1) != 0 {
		t.Errorf("negative value recorded as %d, want 0", a.Quantile(1))
	}
	for v := int64(1); v <= 1000; v++ {
		b.Record(v * 1000)
	}
	a.Merge(&b)
	if a.Count() != 1001 || a.Max() != 1e6 {
		t.Errorf("after Merge: count %d max %d, want 1001 and 1000000", a.Count(), a.Max())
	}
	if got := a.Quantile(0.5); math.Abs(float64(got-500_000)) > 5000 {
		t.Errorf("merged median = %d, want about 500000", got)
	}
}

func TestHistogramConcurrentRecords(t *testing.T) {
	s := newShardedHist(4)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10_000 {
				s.shard(g).Record(int64(i))
			}
		})
	}
	wg.Wait()
	h := s.merged()
	if h.Count() != 80_000 || h.Max() != 9999 {
		t.Errorf("count %d max %d, want 80000 and 9999", h.Count(), h.Max())
	}
}

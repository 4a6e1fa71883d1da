package bench

import (
	"math/bits"
	"sync/atomic"
)

// Histogram counts non-negative values (nanoseconds here) in log-linear
// buckets: values below 256 exactly, larger ones in buckets 1/128 of their
// power of two wide, so that a reported percentile is within 0.4 % of the
// true one. It takes concurrent Records (atomic adds) and never grows: its
// size is fixed (about 59 KiB), whatever the number of values.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Uint64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // sub-buckets per power of two
	histBuckets = histSub + (64-histSubBits)*histSub
)

// histIndex is the bucket of v.
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - histSubBits
	return histSub + shift*histSub + int(v>>uint(shift)) - histSub
}

// histBounds returns the smallest value of bucket i and its width.
func histBounds(i int) (lo, width uint64) {
	if i < histSub {
		return uint64(i), 1
	}
	shift := i/histSub - 1
	sub := uint64(i % histSub)
	return (histSub + sub) << uint(shift), 1 << uint(shift)
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	h.counts[histIndex(u)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if u <= m || h.max.CompareAndSwap(m, u) {
			return
		}
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			return
		}
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() int64 { return int64(h.max.Load()) }

// Quantile returns the value at quantile q (0 < q ≤ 1): the middle of the
// bucket holding the ceil(q·n)-th smallest value, never more than Max. It
// is 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999999)
	rank = max(rank, 1)
	rank = min(rank, n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := histBounds(i)
			v := lo + (w-1)/2
			return min(int64(v), h.Max())
		}
	}
	return h.Max()
}

// shardedHist spreads concurrent Records over several histograms, so that
// viewers on different cores do not fight over one cache line; Merged adds
// them up at the end.
type shardedHist struct{ shards []*Histogram }

func newShardedHist(n int) *shardedHist {
	s := &shardedHist{shards: make([]*Histogram, n)}
	for i := range s.shards {
		s.shards[i] = new(Histogram)
	}
	return s
}

func (s *shardedHist) shard(i int) *Histogram { return s.shards[i%len(s.shards)] }

func (s *shardedHist) merged() *Histogram {
	var h Histogram
	for _, sh := range s.shards {
		h.Merge(sh)
	}
	return &h
}

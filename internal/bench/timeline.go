package bench

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// slowLatency is the latency past which an op counts as slow in the
// timeline: the mission's p99 goal.
const slowLatency = 50 * time.Millisecond

// timeline counts recorded latencies by the second of the publish phase in
// which their op was published: how many, how many over slowLatency, and
// the largest. It shows when a run's tail happened: in a few bursts, or
// all along. Like Histogram it takes concurrent records and never grows.
type timeline struct {
	start *atomic.Int64 // the publish phase's start, Unix ns
	secs  []timeSlot
}

type timeSlot struct{ n, over, max atomic.Uint64 }

// newTimeline covers seconds seconds from *start (set later, when the
// publish phase begins).
func newTimeline(start *atomic.Int64, seconds int) *timeline {
	return &timeline{start: start, secs: make([]timeSlot, max(seconds, 1))}
}

// record counts an op published at ts (Unix ns) received lat ns later.
// Ops published outside the covered seconds count in the first or last.
func (tl *timeline) record(ts, lat int64) {
	i := min(max((ts-tl.start.Load())/int64(time.Second), 0), int64(len(tl.secs)-1))
	s := &tl.secs[i]
	s.n.Add(1)
	u := uint64(max(lat, 0))
	if u > uint64(slowLatency) {
		s.over.Add(1)
	}
	for {
		m := s.max.Load()
		if u <= m || s.max.CompareAndSwap(m, u) {
			return
		}
	}
}

// SecondStats is one second of the publish phase in the report.
type SecondStats struct {
	Second int     `json:"second"`
	Ops    uint64  `json:"ops"`
	Over   uint64  `json:"over_50ms"`
	MaxMS  float64 `json:"max_ms"`
}

// mergeTimelines adds up timelines of the same length, second by second.
func mergeTimelines(tls []*timeline) []SecondStats {
	if len(tls) == 0 {
		return nil
	}
	out := make([]SecondStats, len(tls[0].secs))
	for i := range out {
		out[i].Second = i
		var m uint64
		for _, tl := range tls {
			s := &tl.secs[i]
			out[i].Ops += s.n.Load()
			out[i].Over += s.over.Load()
			m = max(m, s.max.Load())
		}
		out[i].MaxMS = float64(m) / 1e6
	}
	return out
}

// slowSeconds describes the seconds with ops over slowLatency, in order,
// at most limit of them.
func slowSeconds(secs []SecondStats, limit int) string {
	var parts []string
	n := 0
	for _, s := range secs {
		if s.Over == 0 {
			continue
		}
		n++
		if len(parts) < limit {
			parts = append(parts, fmt.Sprintf("s%d: %d of %d (max %.0f ms)", s.Second, s.Over, s.Ops, s.MaxMS))
		}
	}
	switch {
	case n == 0:
		return "none"
	case n > limit:
		parts = append(parts, fmt.Sprintf("and %d more", n-limit))
	}
	return fmt.Sprintf("%d: ", n) + strings.Join(parts, ", ")
}

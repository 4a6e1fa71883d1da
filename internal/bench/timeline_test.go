package bench

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestTimeline: latencies land in the second their op was published (ops
// before or after the phase in its first or last second), slow ones are
// counted, shards add up, and the report line names the slow seconds.
func TestTimeline(t *testing.T) {
	var start atomic.Int64
	start.Store(1_000 * int64(time.Second))
	at := func(sec float64) int64 { return start.Load() + int64(sec*float64(time.Second)) }
	a, b := newTimeline(&start, 3), newTimeline(&start, 3)
	a.record(at(0.2), int64(2*time.Millisecond))
	b.record(at(-5), int64(3*time.Millisecond))
	a.record(at(1.5), int64(120*time.Millisecond))
	b.record(at(1.9), int64(51*time.Millisecond))
	b.record(at(1.1), int64(50*time.Millisecond)) // not over
	a.record(at(9), int64(70*time.Millisecond))
	got := mergeTimelines([]*timeline{a, b})
	want := []SecondStats{
		{Second: 0, Ops: 2, Over: 0, MaxMS: 3},
		{Second: 1, Ops: 3, Over: 2, MaxMS: 120},
		{Second: 2, Ops: 1, Over: 1, MaxMS: 70},
	}
	if len(got) != len(want) {
		t.Fatalf("%d seconds, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("second %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := slowSeconds(got, 1); s != "2: s1: 2 of 3 (max 120 ms), and 1 more" {
		t.Errorf("slowSeconds = %q", s)
	}
	if s := slowSeconds(got[:1], 10); s != "none" {
		t.Errorf("slowSeconds without slow ops = %q", s)
	}
}

package bench

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	p := newPacer(t0, 1000, 5000) // 1,000/s for 5 s
	steps := []struct {
		at   time.Duration
		want int64
	}{
		{-time.Millisecond, 0}, // before the start
		{0, 1},                 // event 0 is due at the start
		{500 * time.Microsecond, 0},
		{time.Millisecond, 1}, // event 1 at 1 ms
		{time.Millisecond, 0}, // asked twice: nothing new
		{10 * time.Millisecond, 9},
		{time.Second, 990},          // a late wake-up catches up (events 11 … 1000)
		{999 * time.Millisecond, 0}, // time going back gives nothing
		{4*time.Second + 999*time.Millisecond, 3999},
		{time.Hour, 0}, // never more than the limit
	}
	var total int64
	for _, s := range steps {
		got := p.due(at(s.at))
		total += got
		if got != s.want {
			t.Errorf("due(%v) = %d, want %d", s.at, got, s.want)
		}
	}
	if total != 5000 || !p.finished() {
		t.Errorf("handed out %d, finished %v; want 5000 and finished", total, p.finished())
	}
	if got := p.at(2500); !got.Equal(at(2500 * time.Millisecond)) {
		t.Errorf("at(2500) = %v, want start + 2.5 s", got.Sub(t0))
	}
}

// Asked at a coarse, jittery tick, the pacer hands out exactly the events
// due so far: the rate holds on average however the caller wakes.
func TestPacerHoldsTheRate(t *testing.T) {
	t0 := time.Unix(0, 0)
	p := newPacer(t0, 333, 1<<40)
	now := t0
	var total int64
	for i := range 10_000 {
		now = now.Add(time.Duration(1+i%7) * time.Millisecond)
		total += p.due(now)
		if want := int64(now.Sub(t0).Seconds()*333) + 1; total != want {
			t.Fatalf("after %v: %d events, want %d", now.Sub(t0), total, want)
		}
	}
}

func TestPacerZeroRate(t *testing.T) {
	p := newPacer(time.Unix(0, 0), 0, 10)
	if n := p.due(time.Unix(100, 0)); n != 0 {
		t.Errorf("due() = %d at rate 0, want 0", n)
	}
}

package bench

import "time"

// pacer schedules a fixed number of events at a steady rate: event i
// (from 0) is due at start + i/rate. Asked at any moment, it says how many
// more events are due since it was last asked, so that a caller that wakes
// late (a coarse ticker, a busy machine) catches up rather than falling
// behind the schedule.
type pacer struct {
	start time.Time
	rate  float64 // events per second
	limit int64   // events in all
	done  int64   // events handed out so far
}

func newPacer(start time.Time, rate float64, limit int64) *pacer {
	return &pacer{start: start, rate: rate, limit: limit}
}

// due returns the number of events that became due up to now and were not
// handed out yet, and marks them handed out.
func (p *pacer) due(now time.Time) int64 {
	if p.rate <= 0 || now.Before(p.start) {
		return 0
	}
	n := int64(now.Sub(p.start).Seconds()*p.rate) + 1
	n = min(n, p.limit)
	d := n - p.done
	if d <= 0 {
		return 0
	}
	p.done = n
	return d
}

// finished reports whether every event was handed out.
func (p *pacer) finished() bool { return p.done >= p.limit }

// at is the time event i is due.
func (p *pacer) at(i int64) time.Time {
	return p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
}

package live

import (
	"sync"
	"time"
)

// clock wakes every goroutine waiting on it once per period, with one
// timer for all of them: the writers' batching window and their pings use
// it instead of a timer per connection.
type clock struct {
	mu sync.Mutex
	ch chan struct{}
}

// run ticks until done is closed.
func (c *clock) run(period time.Duration, done <-chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			c.mu.Lock()
			close(c.ch)
			c.ch = make(chan struct{})
			c.mu.Unlock()
		}
	}
}

// next returns a channel closed at the next tick.
func (c *clock) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

func newClock() *clock { return &clock{ch: make(chan struct{})} }

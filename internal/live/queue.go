package live

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// kind is what a queued frame is, which decides how the writer treats it.
type kind uint8

const (
	// control frames (hello, replies) are always written.
	control kind = iota
	// snapshot frames start a stream's delivery at their offset.
	snapshot
	// op frames are written unless the viewer already holds their offset;
	// they may be conflated.
	op
	// start marks where a resumed stream's delivery begins; it writes
	// nothing.
	start
)

// item is one frame waiting to be written.
type item struct {
	data   []byte
	stream string
	offset uint64
	kind   kind
	high   bool
	at     int64       // op frames: publish time, Unix nanoseconds
	z      *compressed // frames over the threshold: their compressed form
}

// queue is a connection's bounded queue of frames, shared by the
// goroutines that fill it (reader, broker deliveries) and the writer.
//
// Overflow policy: when maxOps op frames are pending, all pending op frames
// are dropped and their streams marked for a resync: the writer sends each
// one fresh snapshot instead (conflation), so a slow viewer holds at most
// maxOps frames and still converges. Control frames are never dropped; past
// maxControl of them the connection is a slow consumer and is closed.
type queue struct {
	maxOps, maxControl int

	conflations prometheus.Counter

	mu        sync.Mutex
	items     []item
	ops, ctrl int
	high      bool            // a high-priority frame is pending
	resync    map[string]bool // streams to resend as a snapshot
	overflow  bool            // control frames past the limit

	// ready has a value when items are pending.
	ready chan struct{}
}

func newQueue(maxOps, maxControl int, conflations prometheus.Counter) *queue {
	return &queue{maxOps: maxOps, maxControl: maxControl, conflations: conflations, ready: make(chan struct{}, 1)}
}

// push queues it and reports whether the connection can go on: false when
// control frames overflowed.
func (q *queue) push(it item) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.overflow:
		return false
	case it.kind == op && q.ops >= q.maxOps:
		q.conflate(it.stream)
		return true
	case it.kind != op && q.ctrl >= q.maxControl:
		q.overflow = true
		q.signal()
		return false
	}
	if it.kind == op {
		q.ops++
	} else {
		q.ctrl++
	}
	q.high = q.high || it.high
	q.items = append(q.items, it)
	q.signal()
	return true
}

// conflate drops every pending op frame and marks their streams, and the
// stream of the op that did not fit, for a snapshot.
func (q *queue) conflate(stream string) {
	if q.resync == nil {
		q.resync = map[string]bool{}
	}
	q.resync[stream] = true
	kept := q.items[:0]
	for _, it := range q.items {
		if it.kind == op {
			q.resync[it.stream] = true
			continue
		}
		kept = append(kept, it)
	}
	clear(q.items[len(kept):]) // let the dropped frames be collected
	q.items, q.ops = kept, 0
	q.conflations.Inc()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take returns the pending frames, the streams to resync, whether a
// high-priority frame is among them, and whether control frames
// overflowed. It hands over buf, emptied, as the next items slice.
func (q *queue) take(buf []item) (items []item, resync map[string]bool, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, resync, overflow = q.items, q.resync, q.overflow
	q.items, q.resync = buf[:0], nil
	q.ops, q.ctrl, q.high = 0, 0, false
	return items, resync, overflow
}

// urgent reports whether the writer should write without waiting for the
// batching window: a high-priority frame is pending, or the queue
// overflowed.
func (q *queue) urgent() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.high || q.overflow
}

package live

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ashreports/ashreports/internal/websocket"
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
	// forget ends a stream's delivery (unsubscribed); it writes nothing.
	forget
)

// item is one frame waiting to be written.
type item struct {
	data   []byte
	stream string
	offset uint64
	kind   kind
	high   bool
	// ctl is the opcode of a WebSocket control frame (a pong) whose
	// payload is data; 0 for frames of the protocol.
	ctl websocket.OpCode
	at  int64       // op frames: publish time, Unix nanoseconds
	z   *compressed // frames over the threshold: their compressed form
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

	// writers counts the connection's writer goroutines (one at most).
	writers *sync.WaitGroup

	mu        sync.Mutex
	items     []item
	ops, ctrl int
	// urgentItem says a frame that must not wait for the batching window
	// is pending: a high-priority op, a reply or a snapshot.
	urgentItem bool
	resync     map[string]bool // streams to resend as a snapshot
	overflow   bool            // control frames past the limit
	pingDue    bool            // the hub asked for a ping
	writing    bool            // a writer goroutine runs
	closed     bool            // the connection is ending: no more writers

	// ready has a value when items are pending.
	ready chan struct{}
}

func newQueue(maxOps, maxControl int, conflations prometheus.Counter, writers *sync.WaitGroup) *queue {
	return &queue{maxOps: maxOps, maxControl: maxControl, conflations: conflations, writers: writers, ready: make(chan struct{}, 1)}
}

// push queues it. It reports whether the caller must start a writer
// goroutine, which a connection runs only while it has something to write
// (so that an idle connection holds one goroutine, its reader).
func (q *queue) push(it item) (startWriter bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed, q.overflow:
		return false
	case it.kind == op && q.ops >= q.maxOps:
		q.conflate(it.stream)
	case it.kind != op && q.ctrl >= q.maxControl:
		q.overflow = true
		q.signal()
	default:
		if it.kind == op {
			q.ops++
		} else {
			q.ctrl++
		}
		// Only normal-priority ops wait for the batching window (start and
		// forget write nothing, and change nothing of it).
		q.urgentItem = q.urgentItem || it.high || it.kind == control || it.kind == snapshot
		q.items = append(q.items, it)
		q.signal()
	}
	return q.wake()
}

// requestPing asks the writer for a ping; it reports whether the caller
// must start a writer.
func (q *queue) requestPing() (startWriter bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.pingDue = true
	q.signal()
	return q.wake()
}

// wake marks a writer as running if none is; q.mu must be held. The
// WaitGroup is counted under the lock, so that shutdown's Wait cannot miss
// a writer about to start.
func (q *queue) wake() bool {
	if q.writing || q.closed {
		return false
	}
	q.writing = true
	q.writers.Add(1)
	return true
}

// retire ends the writer if nothing is pending; false means there is work
// and the writer goes on.
func (q *queue) retire() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 || q.resync != nil || q.pingDue || q.overflow {
		return false
	}
	q.writing = false
	return true
}

// shutdown stops new writers from starting and drops what is pending.
func (q *queue) shutdown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	clear(q.items)
	q.items, q.resync = nil, nil
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

// take returns the pending frames, the streams to resync, whether control
// frames overflowed and whether a ping is due. It hands over buf, emptied,
// as the next items slice.
func (q *queue) take(buf []item) (items []item, resync map[string]bool, overflow, ping bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, resync, overflow, ping = q.items, q.resync, q.overflow, q.pingDue
	q.items, q.resync = buf[:0], nil
	q.ops, q.ctrl, q.urgentItem, q.pingDue = 0, 0, false, false
	return items, resync, overflow, ping
}

// urgent reports whether the writer should write without waiting for the
// batching window: a high-priority op, a reply or a snapshot is pending,
// or the queue overflowed.
func (q *queue) urgent() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.urgentItem || q.overflow
}

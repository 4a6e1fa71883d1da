package live

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ashreports/ashreports/internal/websocket"
)

// buffers are the readers' scratch space, and msgBufs the writers',
// shared so that an idle connection holds none.
var (
	buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	msgBufs = sync.Pool{New: func() any { return new(msgBuf) }}
)

// msgBuf is where a writer builds a message: the frame header's room,
// then the frames, and the header writer that fills that room in.
type msgBuf struct {
	bytes.Buffer
	hw websocket.HeaderWriter
}

// writeState is what writePending did.
type writeState uint8

const (
	nothing writeState = iota // nothing was pending
	wrote                     // it wrote what was pending
	blocked                   // the socket was full; the rest waits in c.rest
	ended                     // the connection is ending; the writer stops
)

// flush writes what is pending without waiting for the socket, on the
// calling goroutine, which is the connection's writer until it returns.
// What cannot be written now (the socket's buffer is full, frames came
// meanwhile) it hands to a writer goroutine.
func (c *conn) flush() {
	switch c.writePending(true) {
	case ended:
		c.writers.Done()
	case blocked:
		go c.writeLoop(false)
	default:
		if c.q.retire() {
			c.writers.Done()
			return
		}
		go c.writeLoop(true)
	}
}

// writeLoop is a writer goroutine. It writes what is pending, then waits
// for more, letting normal-priority frames gather for up to the batching
// window (first, when wait is true); it ends when nothing is pending (on a
// socket that flush can write to) or at a tick of the hub's idle clock
// that finds nothing to do, or when the connection ends.
func (c *conn) writeLoop(wait bool) {
	defer c.writers.Done()
	if wait && !c.batchWindow() {
		return
	}
	idle := c.hub.idle.next()
	for {
		switch c.writePending(false) {
		case ended:
			return
		case wrote:
			if c.raw != nil && c.q.retire() {
				return
			}
			idle = c.hub.idle.next()
			continue
		}
		select {
		case <-c.q.ready:
			if !c.batchWindow() {
				return
			}
		case <-idle:
			if c.q.retire() {
				return
			}
			idle = c.hub.idle.next()
		case <-c.done:
			return
		}
	}
}

// writePending writes the rest of a message cut short, a ping if one is
// due, and the pending frames. With nonblock it never waits for the
// socket.
func (c *conn) writePending(nonblock bool) writeState {
	if c.closing.Load() {
		return ended
	}
	state := nothing
	if !nonblock {
		switch n, err := c.writeRest(); {
		case err != nil:
			c.close(websocket.StatusInternalError, "write failed")
			return ended
		case n > 0:
			state = wrote
		}
	}
	// take hands spare to the queue and returns the queue's array, which
	// is this writer's until the next take.
	items, resync, overflow, ping := c.q.take(c.spare)
	c.spare = items[:0]
	if overflow {
		c.end(nonblock, websocket.StatusPolicyViolation, "slow consumer: too many frames pending")
		return ended
	}
	if ping {
		// No timer of its own: the hub's watchdog drops a connection
		// whose ping goes unanswered past PingTimeout; the reader clears
		// pingingSince when the pong comes.
		c.pingingSince.CompareAndSwap(0, time.Now().UnixNano())
		full, err := c.writeMsg(websocket.AppendFrame(nil, websocket.OpPing, nil), nonblock)
		if err != nil {
			c.end(nonblock, websocket.StatusInternalError, "write failed")
			return ended
		}
		state = max(state, wrote)
		if full {
			state = blocked
		}
	}
	if len(items) > 0 || len(resync) > 0 {
		c.hub.cfg.Metrics.QueueDepth.Observe(float64(len(items)))
		full, err := c.writeBatch(items, resync, nonblock)
		if err != nil {
			// Unless the watchdog dropped it already (and said why).
			c.end(nonblock, websocket.StatusInternalError, "write failed")
			return ended
		}
		clear(items)
		if cap(c.spare) > 1024 {
			c.spare = nil // a burst is over; do not keep its array
		}
		state = max(state, wrote)
		if full {
			state = blocked
		}
	}
	return state
}

// end closes the connection from its writer. A writer that must not wait
// for the socket (nonblock: it is delivering to other viewers too) leaves
// the close, which writes a close frame, to a goroutine of its own.
func (c *conn) end(nonblock bool, code websocket.StatusCode, reason string) {
	if !nonblock {
		c.close(code, reason)
		return
	}
	c.closing.Store(true) // no more writes meanwhile
	go c.close(code, reason)
}

// batchWindow waits until the next tick of the batching clock, unless a
// frame is urgent; false when the connection ended meanwhile.
//
// Only a connection that wrote within the last window waits: the first
// frame after a quiet spell has nothing to share a message with, and goes
// at once.
func (c *conn) batchWindow() bool {
	if !c.inWindow() {
		return true
	}
	for !c.q.urgent() {
		select {
		case <-c.hub.batch.next():
			return true
		case <-c.q.ready:
		case <-c.done:
			return false
		}
	}
	return true
}

// disconnect is why a connection ended, as the disconnects metric names
// it (String).
type disconnect uint8

// The reasons a connection ends.
const (
	disconnectError disconnect = iota
	disconnectClient
	disconnectShutdown
	disconnectSlow
	disconnectPing
)

var disconnectNames = [...]string{"error", "client", "shutdown", "slow_consumer", "ping_timeout"}

func (d disconnect) String() string { return disconnectNames[d] }

// disconnectReason is the reason of a close with code and reason.
func disconnectReason(code websocket.StatusCode, reason string) disconnect {
	switch {
	case code == websocket.StatusGoingAway:
		return disconnectShutdown
	case code == websocket.StatusNormalClosure:
		return disconnectClient
	case strings.HasPrefix(reason, "slow consumer"):
		return disconnectSlow
	case strings.HasPrefix(reason, "ping"):
		return disconnectPing
	}
	return disconnectError
}

// writeBatch writes the snapshots of conflated streams, then the queued
// frames, joined by newlines into messages of at most MaxBatchBytes (a
// larger frame goes alone). With nonblock it never waits for the socket
// and reports full when the socket took only part.
func (c *conn) writeBatch(items []item, resync map[string]bool, nonblock bool) (full bool, err error) {
	sent := &c.sent
	mb := msgBufs.Get().(*msgBuf)
	buf := &mb.Buffer
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			msgBufs.Put(mb)
		}
	}()
	// Each message is built after room for its frame header.
	var room [websocket.MaxServerHeader]byte
	const maxHeader = websocket.MaxServerHeader
	buf.Reset()
	buf.Write(room[:])
	m := c.hub.cfg.Metrics
	frames := 0
	opcode := websocket.OpText
	if c.binary {
		opcode = websocket.OpBinary
	}
	flush := func() error {
		m.BatchFrames.Observe(float64(frames))
		frames = 0
		b := buf.Bytes()
		f, err := c.writeMsg(mb.hw.Frame(b, opcode), nonblock)
		if err != nil {
			return err
		}
		full = full || f
		m.Messages.Inc()
		m.BytesOut.Add(float64(len(b) - maxHeader))
		buf.Reset()
		buf.Write(room[:])
		return nil
	}
	add := func(it item) error {
		if it.ctl != 0 {
			// A control frame (pong) goes alone, between messages.
			if buf.Len() > maxHeader {
				if err := flush(); err != nil {
					return err
				}
			}
			f, err := c.writeMsg(websocket.AppendFrame(nil, it.ctl, it.data), nonblock)
			full = full || f
			return err
		}
		data, flags := it.data, byte(0)
		if c.binary && it.z != nil {
			data, flags = it.z.get(it.data, m), flagDeflate
		}
		if buf.Len() > maxHeader && buf.Len()-maxHeader+1+len(data) > c.hub.cfg.MaxBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		switch {
		case c.binary:
			appendRecord(buf, flags, data)
		case buf.Len() > maxHeader:
			buf.WriteByte('\n')
			buf.Write(data)
		default:
			buf.Write(data)
		}
		frames++
		return nil
	}
	for stream := range resync {
		if it, ok := c.hub.resnapshot(c, stream); ok {
			sent.set(stream, it.offset)
			m.Snapshots.Inc()
			if err := add(it); err != nil {
				return full, err
			}
		}
	}
	now := time.Now().UnixNano()
	for _, it := range items {
		switch it.kind {
		case start:
			sent.set(it.stream, it.offset)
			continue
		case forget:
			sent.remove(it.stream)
			continue
		case snapshot:
			sent.set(it.stream, it.offset)
			m.Snapshots.Inc()
		case op:
			if it.offset <= sent.get(it.stream) {
				continue
			}
			sent.set(it.stream, it.offset)
			m.UpdatesOut.Inc()
			if it.at > 0 {
				m.Latency.Observe(float64(now-it.at) / 1e9)
			}
		}
		if err := add(it); err != nil {
			return full, err
		}
	}
	if buf.Len() == maxHeader {
		return full, nil
	}
	return full, flush()
}

// writeMsg writes b, which holds whole frames, after any rest. With
// nonblock it writes what the socket takes now and keeps the remainder in
// c.rest (full is then true); otherwise it waits, with no timer of its
// own: the hub's watchdog closes a connection whose write blocks past
// WriteTimeout.
func (c *conn) writeMsg(b []byte, nonblock bool) (full bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing.Load() {
		return false, errors.New("connection closing")
	}
	if nonblock {
		if len(c.rest) == 0 {
			n, err := c.raw.write(b)
			if err != nil {
				return false, err
			}
			if n == len(b) {
				c.lastWrite.Store(time.Now().UnixNano())
				return false, nil
			}
			b = b[n:]
		}
		c.rest = append(c.rest, b...)
		return true, nil
	}
	if err := c.blockingWrite(c.rest); err != nil {
		return false, err
	}
	c.rest = nil
	return false, c.blockingWrite(b)
}

// writeRest writes what a non-blocking write left, waiting for the socket.
func (c *conn) writeRest() (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := len(c.rest)
	if n == 0 {
		return 0, nil
	}
	err := c.blockingWrite(c.rest)
	c.rest = nil
	return n, err
}

// blockingWrite writes b; c.wmu must be held.
func (c *conn) blockingWrite(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	c.writingSince.Store(time.Now().UnixNano())
	_, err := c.nc.Write(b)
	c.writingSince.Store(0)
	c.lastWrite.Store(time.Now().UnixNano())
	return err
}

// offsets maps stream ids to offsets in a slice.
type offsets []streamOffset

type streamOffset struct {
	stream string
	offset uint64
}

func (o offsets) get(stream string) uint64 {
	for _, so := range o {
		if so.stream == stream {
			return so.offset
		}
	}
	return 0
}

func (o *offsets) remove(stream string) {
	*o = slices.DeleteFunc(*o, func(so streamOffset) bool { return so.stream == stream })
}

func (o *offsets) set(stream string, offset uint64) {
	for i := range *o {
		if (*o)[i].stream == stream {
			(*o)[i].offset = offset
			return
		}
	}
	*o = append(*o, streamOffset{stream, offset})
}

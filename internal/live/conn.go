package live

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/websocket"
)

// ProtocolVersion is the live protocol version (docs/protocol.md).
const ProtocolVersion = 1

// closeTimeout is how long a close waits for a blocked write to give up
// and for the peer's close frame.
const closeTimeout = 2 * time.Second

type conn struct {
	hub *Hub
	nc  net.Conn
	br  *bufio.Reader
	// raw writes without waiting for the socket; nil when the socket is
	// not plain TCP, and every write goes through a writer goroutine.
	raw *rawWriter
	id  string
	q   *queue
	// rx checks and assembles the client's frames; only the read
	// goroutine uses it.
	rx websocket.Receiver
	// binary is the connection's format: binary records, with large
	// frames compressed, rather than JSON lines.
	binary bool
	// reason is why the connection ended, for the disconnects metric.
	reason disconnect
	// pingSlot is the second of the ping interval at which the hub pings
	// this connection.
	pingSlot int32

	// writers counts the goroutine that is the connection's writer, one
	// at most: a writer goroutine, or a goroutine that delivered a frame
	// and writes it itself (flush).
	writers sync.WaitGroup
	// done is closed when the connection ends; a running writer stops.
	done chan struct{}

	closeOnce sync.Once
	closing   atomic.Bool   // a close has begun
	closed    chan struct{} // closed once the close frame is sent, or the socket closed

	// whoMu guards who, whoGen, roomDash and the charts of subs, which
	// Recheck reads from elsewhere.
	whoMu sync.Mutex
	who   access.Subject
	// whoGen counts Recheck's updates of who: a subscribe authorized
	// before one is checked again once its chart is recorded.
	whoGen uint64
	// roomDash is the dashboard whose room the connection is in.
	roomDash string
	// roomLast is when the connection last sent a focus, a filter, and a
	// join or leave message; only the read goroutine uses it.
	roomLast [3]int64

	// subs are the streams the connection subscribes to, with their
	// charts; only the read goroutine changes it (under whoMu) and reads
	// it without the lock, until run's cleanup. A slice rather than a map:
	// a connection holds few streams, and a map costs several times more
	// memory per idle connection.
	subs []subscription
	// sent is the offset of each stream the viewer holds, to skip op
	// frames that a snapshot already covers; spare is the writer's array
	// for the next take. Only the writer uses them.
	sent  offsets
	spare []item

	// wmu serializes writes to the socket: the writer's and the close
	// frame. rest, guarded by it, is what a write that would have blocked
	// left unwritten; it goes before anything else.
	wmu  sync.Mutex
	rest []byte

	// writingSince is when the blocking write in progress began (Unix
	// nanoseconds, 0 when none), for the hub's watchdog; lastWrite when
	// the last one ended, for the batching window.
	writingSince, lastWrite atomic.Int64
	// pingingSince is when the unanswered ping was sent (0 when none).
	pingingSince atomic.Int64
}

// subscription is one of a connection's: a stream and its chart.
type subscription struct{ stream, chart string }

// checkStalled drops the connection if a write has blocked for longer
// than WriteTimeout or a ping has gone unanswered for longer than
// PingTimeout; the hub's watchdog calls it.
func (c *conn) checkStalled(now int64) {
	if c.closing.Load() {
		return // a close under way ends any write; never wait for it here
	}
	// Dropping the socket ends the blocked write.
	if since := c.writingSince.Load(); since != 0 && time.Duration(now-since) >= c.hub.cfg.WriteTimeout {
		c.abort("slow consumer: write timed out")
	}
	if since := c.pingingSince.Load(); since != 0 && time.Duration(now-since) >= c.hub.cfg.PingTimeout {
		c.abort("ping timeout")
	}
}

func newConn(h *Hub, nc net.Conn, br *bufio.Reader) *conn {
	var id [8]byte
	_, _ = rand.Read(id[:])
	c := &conn{hub: h, nc: nc, br: br, raw: newRawWriter(nc), id: hex.EncodeToString(id[:]), done: make(chan struct{}), closed: make(chan struct{}),
		rx: websocket.NewServerReceiver(16 * h.cfg.MaxMessageBytes)}
	c.q = newQueue(h.cfg.MaxPendingOps, h.cfg.MaxPendingControl, h.cfg.Metrics.Conflations, &c.writers)
	return c
}

// push queues a frame and sees that it is written: at once on the calling
// goroutine when it can (see enqueue), else by a writer goroutine. It
// never waits for the socket. Past the queue's limits, op frames are
// conflated; too many control frames make the writer close the
// connection.
func (c *conn) push(it item) {
	if c.enqueue(it) {
		c.flush()
	}
}

// enqueue queues a frame; true means the caller is now the connection's
// writer and must call flush, once it holds no lock.
//
// A frame is written by the goroutine that delivers it when no writer runs
// and the socket is plain TCP, unless it is a normal-priority op within
// the batching window of the last write: then a writer goroutine waits
// out the window, so that the ops arriving meanwhile share one message.
func (c *conn) enqueue(it item) (flush bool) {
	if !c.q.push(it) {
		return false
	}
	if c.raw != nil && (it.high || it.kind != op || !c.inWindow()) {
		return true
	}
	// Only a normal-priority op waits out the batching window; replies,
	// snapshots and high-priority ops go at once on every socket.
	go c.writeLoop(!it.high && it.kind != control && it.kind != snapshot)
	return false
}

// inWindow reports whether the last write was within the batching window.
func (c *conn) inWindow() bool {
	w := c.hub.cfg.BatchWindow
	return w > 0 && time.Duration(time.Now().UnixNano()-c.lastWrite.Load()) < w
}

// ping asks the writer to ping the peer.
func (c *conn) ping() {
	if !c.q.requestPing() {
		return
	}
	if c.raw != nil {
		c.flush()
		return
	}
	go c.writeLoop(false)
}

// send queues a control frame.
func (c *conn) send(frame []byte) { c.push(item{data: frame, kind: control}) }

// close sends a close frame with the first code and reason given, once,
// and waits until it is sent; the reader then ends when the peer answers,
// or after closeTimeout, and run closes the socket.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.reason = disconnectReason(code, reason)
		// A write blocked on a peer that does not read gives up by this
		// deadline, and so does the close frame.
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeTimeout))
		c.wmu.Lock()
		// Finish a message cut short, so that the close frame is a frame.
		if _, err := c.nc.Write(c.rest); err == nil {
			_, _ = c.nc.Write(websocket.AppendFrame(nil, websocket.OpClose, websocket.ClosePayload(code, reason)))
		}
		c.rest = nil
		c.wmu.Unlock()
		_ = c.nc.SetReadDeadline(time.Now().Add(closeTimeout))
		close(c.closed)
	})
	<-c.closed
}

// abort closes the socket at once, without the close handshake, for a peer
// that does not answer: waiting for its close frame would only hold the
// connection open longer.
func (c *conn) abort(reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.reason = disconnectReason(websocket.StatusPolicyViolation, reason)
		_ = c.closeSocket()
		close(c.closed)
	})
	<-c.closed
}

// closeSocket closes the socket; a second close only fails.
func (c *conn) closeSocket() error {
	if c.raw != nil {
		return c.raw.close()
	}
	return c.nc.Close()
}

// run serves the connection on the calling goroutine, which reads; a
// writer runs only while there is something to write.
func (c *conn) run() {
	format := "json"
	if c.binary {
		format = "binary"
	}
	// Queued before reading starts, so that hello is the first frame.
	hello, _ := json.Marshal(map[string]any{"type": "hello", "v": ProtocolVersion, "conn": c.id, "format": format})
	c.send(hello)
	c.readLoop()
	// The peer went away or closed first, or this waits for the close
	// under way (shutdown, slow consumer).
	c.close(websocket.StatusNormalClosure, "")
	c.q.shutdown()
	close(c.done)
	c.writers.Wait()
	_ = c.closeSocket()
	c.leave()
	for _, s := range c.subs {
		c.hub.unsubscribe(c, s.stream)
		c.hub.cfg.Streams.Release(s.stream)
	}
	c.hub.cfg.Metrics.Subscriptions.Sub(float64(len(c.subs)))
	c.hub.cfg.Metrics.Disconnects.WithLabelValues(c.reason.String()).Inc()
}

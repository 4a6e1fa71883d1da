package live

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/engine"
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

	// writers counts the goroutine that is the connection's writer, one
	// at most: a writer goroutine, or a goroutine that delivered a frame
	// and writes it itself (flush).
	writers sync.WaitGroup
	// done is closed when the connection ends; a running writer stops.
	done chan struct{}

	closeOnce sync.Once
	closing   atomic.Bool   // a close has begun
	closed    chan struct{} // closed once the close frame is sent, or the socket closed
	reason    string        // why, for the disconnects metric

	// whoMu guards who, whoGen and charts, which Recheck reads from
	// elsewhere.
	whoMu sync.Mutex
	who   Identity
	// whoGen counts Recheck's updates of who: a subscribe authorized
	// before one is checked again once its chart is recorded.
	whoGen uint64
	// charts are the charts of subs, in the same order.
	charts []string
	// roomDash is the dashboard whose room the connection is in.
	roomDash string
	// room is the connection's place in roomDash's room, and roomLast
	// when it last sent a focus, a filter, and a join or leave message;
	// only the read goroutine uses them until run's cleanup.
	room     RoomHandle
	roomLast [3]int64

	// subs are the streams the connection subscribes to; only the read
	// goroutine uses it until run's cleanup. Slices rather than maps: a
	// connection holds few streams, and a map costs several times more
	// memory per idle connection.
	subs []string
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

	// pingSlot is the second of the ping interval at which the hub pings
	// this connection.
	pingSlot int
}

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
	go c.writeLoop(true)
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
	for _, id := range c.subs {
		c.hub.unsubscribe(c, id)
		c.hub.cfg.Streams.Release(id)
	}
	c.hub.cfg.Metrics.Subscriptions.Sub(float64(len(c.subs)))
	c.hub.cfg.Metrics.Disconnects.WithLabelValues(c.reason).Inc()
}

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

// disconnectReason is the metric label of a close.
func disconnectReason(code websocket.StatusCode, reason string) string {
	switch {
	case code == websocket.StatusGoingAway:
		return "shutdown"
	case code == websocket.StatusNormalClosure:
		return "client"
	case strings.HasPrefix(reason, "slow consumer"):
		return "slow_consumer"
	case strings.HasPrefix(reason, "ping"):
		return "ping_timeout"
	}
	return "error"
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

// readLoop reads client messages until the peer closes the connection, it
// breaks, or the peer breaks the protocol (closed with the matching code).
func (c *conn) readLoop() {
	limit := c.hub.cfg.MaxMessageBytes
	for {
		buf := buffers.Get().(*bytes.Buffer)
		buf.Reset()
		ok := c.readMessage(buf, limit)
		if buf.Cap() <= 64<<10 {
			buffers.Put(buf)
		}
		if !ok {
			return
		}
	}
}

// readMessage reads and handles one client message, answering the control
// frames before it; false when the connection ended.
func (c *conn) readMessage(buf *bytes.Buffer, limit int64) bool {
	typ, size, err := c.rx.ReadMessage(c.br, buf, limit+1, c.control)
	if err != nil {
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
			c.close(ce.Code, ce.Reason)
		}
		return false
	}
	switch {
	case size > limit:
		c.reply(refOf(buf.Bytes()), nil, apperr.Errorf(apperr.TooLarge, "message larger than %d bytes", limit))
	case typ != websocket.OpText:
		c.reply("", nil, apperr.Errorf(apperr.Invalid, "binary frames are not supported by protocol version %d", ProtocolVersion))
	case !utf8.Valid(buf.Bytes()):
		c.close(websocket.StatusInvalidPayload, "text message is not UTF-8")
		return false
	default:
		// Handled on a goroutine of its own, waited for: handling (JSON,
		// subscribe) needs a deep stack, which would stay with the reader,
		// idle most of its life, if it ran there.
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.handle(buf.Bytes())
		}()
		<-done
	}
	return true
}

// control answers a ping with its pong and notes a pong.
func (c *conn) control(op websocket.OpCode, payload []byte) {
	switch op {
	case websocket.OpPing:
		c.push(item{data: bytes.Clone(payload), kind: control, ctl: websocket.OpPong})
	case websocket.OpPong:
		c.pingingSince.Store(0)
	}
}

// refOf finds the ref of a message that could not be decoded whole (it may
// be cut short), so that the error reply can carry it: the value of the
// top-level "ref" key if it comes before the point where decoding stops;
// "" otherwise.
func refOf(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "ref" {
			v, err := dec.Token()
			if s, ok := v.(string); err == nil && ok && len(s) <= 64 {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// clientMsg is any client message; which fields apply depends on Type.
type clientMsg struct {
	Ref     string            `json:"ref"`
	Type    string            `json:"type"`
	Chart   string            `json:"chart,omitempty"`
	Filters map[string]string `json:"filters,omitempty"`
	Stream  string            `json:"stream,omitempty"`
	Op      json.RawMessage   `json:"op,omitempty"`
	// Offset and Epoch, on subscribe, resume a stream where the client
	// left it.
	Offset *uint64 `json:"offset,omitempty"`
	Epoch  string  `json:"epoch,omitempty"`
	// Priority, on publish: "high" or "normal" (the default).
	Priority string `json:"priority,omitempty"`
	// Dashboard, on join, names the room.
	Dashboard string `json:"dashboard,omitempty"`
	// Editing, on focus, says the focused chart is being edited.
	Editing bool `json:"editing,omitempty"`
}

// decodeMessage parses a client message, refusing unknown fields.
func decodeMessage(data []byte) (clientMsg, error) {
	var m clientMsg
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		m.Ref = refOf(data)
		return m, messageError(err)
	}
	if dec.More() {
		return m, apperr.Errorf(apperr.Invalid, "malformed message: more than one JSON value")
	}
	switch {
	case m.Ref == "":
		return m, &apperr.Error{Code: apperr.Invalid, Field: "ref", Message: "required"}
	case len(m.Ref) > 64:
		ref := m.Ref
		m.Ref = ""
		return m, &apperr.Error{Code: apperr.Invalid, Field: "ref", Message: fmt.Sprintf("longer than 64 bytes (%d)", len(ref))}
	}
	return m, nil
}

// messageError describes a decoding error in the terms of the protocol,
// not of the Go types behind it.
func messageError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return apperr.Errorf(apperr.Invalid, "malformed message: not JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		want := "a string"
		if strings.HasPrefix(te.Field, "filters") {
			want = "an object of string values"
		}
		return &apperr.Error{Code: apperr.Invalid, Field: te.Field, Message: fmt.Sprintf("malformed message: want %s, got JSON %s", want, te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Errorf(apperr.Invalid, "malformed message: the JSON ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apperr.Error{Code: apperr.Invalid, Field: name, Message: "malformed message: unknown field"}
	}
	return apperr.Errorf(apperr.Invalid, "malformed message: not a JSON object")
}

func (c *conn) handle(data []byte) {
	m, err := decodeMessage(data)
	if err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	switch m.Type {
	case "subscribe":
		c.subscribe(m)
	case "unsubscribe":
		c.unsubscribe(m)
	case "publish":
		c.publish(m)
	case "ping":
		c.reply(m.Ref, nil, nil)
	case "join":
		c.join(m)
	case "focus", "filter", "leave":
		c.roomMessage(m)
	case "":
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "type", Message: "required"})
	default:
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "type", Message: fmt.Sprintf("unknown message type %q (want subscribe, unsubscribe, publish, ping, join, focus, filter or leave)", m.Type)})
	}
}

func (c *conn) subscribe(m clientMsg) {
	if m.Chart == "" {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "chart", Message: "required"})
		return
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, 15*time.Second)
	defer cancel()
	c.whoMu.Lock()
	sub, gen := c.who.Subject, c.whoGen
	c.whoMu.Unlock()
	if err := c.hub.authorize(ctx, sub, access.ViewCharts, m.Chart); err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	s, err := c.hub.cfg.Streams.Acquire(ctx, m.Chart, m.Filters)
	if err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	again := slices.Contains(c.subs, s.ID)
	if again {
		c.hub.cfg.Streams.Release(s.ID) // one hold per stream per connection
	} else if len(c.subs) >= c.hub.cfg.MaxSubscriptions {
		c.hub.cfg.Streams.Release(s.ID)
		c.reply(m.Ref, nil, apperr.Errorf(apperr.Invalid, "a connection holds at most %d subscriptions", c.hub.cfg.MaxSubscriptions))
		return
	}
	var from *resume
	if m.Offset != nil {
		from = &resume{epoch: m.Epoch, offset: *m.Offset}
	}
	resumed, err := c.hub.subscribe(c, s, again, from)
	if err != nil {
		if !again {
			c.hub.cfg.Streams.Release(s.ID)
		}
		c.reply(m.Ref, nil, err)
		return
	}
	if !again {
		c.hub.cfg.Metrics.Subscriptions.Inc()
	}
	if !again {
		c.subs = append(c.subs, s.ID)
		c.whoMu.Lock()
		c.charts = append(c.charts, s.ChartID)
		c.whoMu.Unlock()
	}
	// A Recheck that ran meanwhile did not see this chart: check it with
	// the subject that Recheck left.
	c.whoMu.Lock()
	moved, sub := c.whoGen != gen, c.who.Subject
	c.whoMu.Unlock()
	if moved {
		if err := c.hub.authorize(ctx, sub, access.ViewCharts, m.Chart); err != nil {
			go c.close(websocket.StatusPolicyViolation, "access changed")
			return
		}
	}
	c.reply(m.Ref, map[string]any{"stream": s.ID, "resumed": resumed}, nil)
}

func (c *conn) unsubscribe(m clientMsg) {
	i := slices.Index(c.subs, m.Stream)
	if i < 0 {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.NotFound, Field: "stream", Message: fmt.Sprintf("not subscribed to stream %q", m.Stream)})
		return
	}
	c.subs = slices.Delete(c.subs, i, i+1)
	c.whoMu.Lock()
	c.charts = slices.Delete(c.charts, i, i+1)
	c.whoMu.Unlock()
	c.hub.cfg.Metrics.Subscriptions.Dec()
	c.hub.unsubscribe(c, m.Stream)
	c.push(item{stream: m.Stream, kind: forget})
	c.hub.cfg.Streams.Release(m.Stream)
	c.reply(m.Ref, nil, nil)
}

func (c *conn) publish(m clientMsg) {
	if m.Chart == "" {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "chart", Message: "required"})
		return
	}
	if len(m.Op) == 0 {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "op", Message: "required"})
		return
	}
	pri, err := engine.ParsePriority(m.Priority)
	if err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	op, err := chart.ParseOp(m.Op)
	if err != nil {
		c.reply(m.Ref, nil, underOp(err))
		return
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, 10*time.Second)
	defer cancel()
	if err := c.hub.authorize(ctx, c.identity().Subject, access.PublishData, m.Chart); err != nil {
		c.reply(m.Ref, nil, err)
		return
	}
	s, off, err := c.hub.cfg.Streams.Apply(ctx, m.Chart, op, pri)
	if err != nil {
		c.reply(m.Ref, nil, underOp(err))
		return
	}
	c.reply(m.Ref, map[string]any{"stream": s.ID, "offset": off}, nil)
}

// underOp places a chart validation error's field under "op".
func underOp(err error) error {
	var fe *chart.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	f := "op"
	if fe.Field != "" {
		f += "." + fe.Field
	}
	return &apperr.Error{Code: apperr.Invalid, Field: f, Message: fe.Message}
}

// reply queues the reply to a client message: ok with extra fields, or
// the error in the protocol's error shape.
func (c *conn) reply(ref string, fields map[string]any, err error) {
	msg := map[string]any{"type": "reply", "ref": ref, "ok": err == nil}
	for k, v := range fields {
		msg[k] = v
	}
	if err != nil {
		if apperr.CodeOf(err) == apperr.Internal {
			c.hub.cfg.Logger.Error("live message", "conn", c.id, "err", err)
		}
		msg["error"] = apperr.BodyOf(err)
	}
	b, _ := json.Marshal(msg)
	c.send(b)
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

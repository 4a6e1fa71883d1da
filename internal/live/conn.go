package live

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/engine"
)

// ProtocolVersion is the live protocol version (docs/protocol.md).
const ProtocolVersion = 1

type conn struct {
	hub *Hub
	ws  *websocket.Conn
	id  string
	q   *queue
	// binary is the connection's format: binary records, with large
	// frames compressed, rather than JSON lines.
	binary bool

	writers sync.WaitGroup
	// done is closed when the connection ends; a running writer stops.
	done chan struct{}

	closeOnce sync.Once
	closing   atomic.Bool   // a close has begun
	closed    chan struct{} // closed once the socket is closed
	reason    string        // why, for the disconnects metric

	// subs are the streams the connection subscribes to; only the read
	// goroutine uses it until run's cleanup. Slices rather than maps: a
	// connection holds few streams, and a map costs several times more
	// memory per idle connection.
	subs []string
	// sent is the offset of each stream the viewer holds, to skip op
	// frames that a snapshot already covers; only the writer uses it.
	sent offsets

	// writingSince is when the write in progress began (Unix nanoseconds,
	// 0 when none), for the hub's watchdog; lastWrite when the last one
	// ended, for the batching window.
	writingSince, lastWrite atomic.Int64
	// pingingSince is when the ping in progress was sent (0 when none).
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
		return // a close under way ends any write or ping; never wait for it here
	}
	// Dropping the socket ends the blocked write or ping.
	if since := c.writingSince.Load(); since != 0 && time.Duration(now-since) >= c.hub.cfg.WriteTimeout {
		c.abort("slow consumer: write timed out")
	}
	if since := c.pingingSince.Load(); since != 0 && time.Duration(now-since) >= c.hub.cfg.PingTimeout {
		c.abort("ping timeout")
	}
}

func newConn(h *Hub, ws *websocket.Conn) *conn {
	var id [8]byte
	_, _ = rand.Read(id[:])
	c := &conn{hub: h, ws: ws, id: hex.EncodeToString(id[:]), done: make(chan struct{}), closed: make(chan struct{})}
	c.q = newQueue(h.cfg.MaxPendingOps, h.cfg.MaxPendingControl, h.cfg.Metrics.Conflations, &c.writers)
	return c
}

// push queues a frame without blocking, starting the writer if none runs.
// Past the queue's limits, op frames are conflated; too many control
// frames make the writer close the connection.
func (c *conn) push(it item) {
	if c.q.push(it) {
		go c.writeLoop()
	}
}

// ping asks the writer to ping the peer.
func (c *conn) ping() {
	if c.q.requestPing() {
		go c.writeLoop()
	}
}

// send queues a control frame.
func (c *conn) send(frame []byte) { c.push(item{data: frame, kind: control}) }

// close closes the socket once, with the first code and reason given, and
// waits until it is closed. Closing unblocks the reader.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.reason = disconnectReason(code, reason)
		_ = c.ws.Close(code, reason)
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
		_ = c.ws.CloseNow()
		close(c.closed)
	})
	<-c.closed
}

// run serves the connection on the calling goroutine, which reads; a
// writer goroutine runs only while there is something to write.
func (c *conn) run() {
	format := "json"
	if c.binary {
		format = "binary"
	}
	// Queued before reading starts, so that hello is the first frame.
	hello, _ := json.Marshal(map[string]any{"type": "hello", "v": ProtocolVersion, "conn": c.id, "format": format})
	c.send(hello)
	c.readLoop()
	// The peer went away first, or this waits for the close under way
	// (shutdown, slow consumer).
	c.close(websocket.StatusNormalClosure, "")
	c.q.shutdown()
	close(c.done)
	c.writers.Wait()
	for _, id := range c.subs {
		c.hub.unsubscribe(c, id)
		c.hub.cfg.Streams.Release(id)
	}
	c.hub.cfg.Metrics.Subscriptions.Sub(float64(len(c.subs)))
	c.hub.cfg.Metrics.Disconnects.WithLabelValues(c.reason).Inc()
}

// buffers are the writers' and readers' scratch space, shared so that an
// idle connection holds none.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeLoop is the only writer to the socket. It writes what is pending,
// then waits for more, letting normal-priority frames gather for up to the
// batching window; it ends at a tick of the hub's idle clock that finds
// nothing to do, or when the connection ends.
func (c *conn) writeLoop() {
	defer c.writers.Done()
	var spare []item
	idle := c.hub.idle.next()
	for {
		// take hands spare to the queue and returns the queue's array,
		// which is this writer's until the next take.
		items, resync, overflow, ping := c.q.take(spare)
		spare = items[:0]
		if overflow {
			c.close(websocket.StatusPolicyViolation, "slow consumer: too many frames pending")
			return
		}
		if ping {
			// No timer of its own: the hub's watchdog drops a connection
			// whose ping goes unanswered past PingTimeout, which ends Ping.
			c.pingingSince.Store(time.Now().UnixNano())
			err := c.ws.Ping(context.Background())
			c.pingingSince.Store(0)
			if err != nil {
				c.abort("ping timeout")
				return
			}
			// Woken only to ping: retire now rather than linger, so that a
			// second's pings do not hold a second's worth of stacks.
			if len(items) == 0 && len(resync) == 0 && c.q.retire() {
				return
			}
		}
		if len(items) > 0 || len(resync) > 0 {
			c.hub.cfg.Metrics.QueueDepth.Observe(float64(len(items)))
			if err := c.writeBatch(items, resync); err != nil {
				// Unless the watchdog dropped it already (and said why).
				c.close(websocket.StatusInternalError, "write failed")
				return
			}
			clear(items)
			if cap(spare) > 1024 {
				spare = nil // a burst is over; do not keep its array
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

// batchWindow waits until the next tick of the batching clock, unless a
// frame is urgent; false when the connection ended meanwhile.
//
// Only a connection that wrote within the last window waits: the first
// frame after a quiet spell has nothing to share a message with, and goes
// at once.
func (c *conn) batchWindow() bool {
	if c.hub.cfg.BatchWindow <= 0 || time.Since(time.Unix(0, c.lastWrite.Load())) >= c.hub.cfg.BatchWindow {
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
// larger frame goes alone).
func (c *conn) writeBatch(items []item, resync map[string]bool) error {
	sent := &c.sent
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	buf.Reset()
	m := c.hub.cfg.Metrics
	frames := 0
	flush := func() error {
		m.BatchFrames.Observe(float64(frames))
		frames = 0
		if err := c.write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
		return nil
	}
	add := func(it item) error {
		frame, flags := it.data, byte(0)
		if c.binary && it.z != nil {
			frame, flags = it.z.get(it.data, m), flagDeflate
		}
		if buf.Len() > 0 && buf.Len()+1+len(frame) > c.hub.cfg.MaxBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		switch {
		case c.binary:
			appendRecord(buf, flags, frame)
		case buf.Len() > 0:
			buf.WriteByte('\n')
			buf.Write(frame)
		default:
			buf.Write(frame)
		}
		frames++
		return nil
	}
	for stream := range resync {
		if it, ok := c.hub.resnapshot(c, stream); ok {
			sent.set(stream, it.offset)
			m.Snapshots.Inc()
			if err := add(it); err != nil {
				return err
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
			return err
		}
	}
	if buf.Len() == 0 {
		return nil
	}
	return flush()
}

// write writes one message. It sets no timer of its own: the hub's
// watchdog closes a connection whose write blocks past WriteTimeout.
func (c *conn) write(msg []byte) error {
	typ := websocket.MessageText
	if c.binary {
		typ = websocket.MessageBinary
	}
	c.writingSince.Store(time.Now().UnixNano())
	err := c.ws.Write(context.Background(), typ, msg)
	now := time.Now().UnixNano()
	c.writingSince.Store(0)
	c.lastWrite.Store(now)
	if err != nil {
		return err
	}
	c.hub.cfg.Metrics.Messages.Inc()
	c.hub.cfg.Metrics.BytesOut.Add(float64(len(msg)))
	return nil
}

func (c *conn) readLoop() {
	limit := c.hub.cfg.MaxMessageBytes
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			// The peer closed, the connection broke, or a message was over
			// the hard read limit (closed with 1009 "message too big").
			return
		}
		if !c.readMessage(typ, r, limit) {
			return
		}
	}
}

// readMessage reads and handles one client message; false when the
// connection broke.
func (c *conn) readMessage(typ websocket.MessageType, r io.Reader, limit int64) bool {
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	buf.Reset()
	n, err := io.Copy(buf, io.LimitReader(r, limit+1))
	if err != nil {
		return false
	}
	switch {
	case n > limit:
		// Drain the rest, so the connection stays usable, and say why.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return false
		}
		c.reply(refOf(buf.Bytes()), nil, apperr.Errorf(apperr.TooLarge, "message larger than %d bytes", limit))
	case typ != websocket.MessageText:
		c.reply("", nil, apperr.Errorf(apperr.Invalid, "binary frames are not supported by protocol version %d", ProtocolVersion))
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
	case "":
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "type", Message: "required"})
	default:
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "type", Message: fmt.Sprintf("unknown message type %q (want subscribe, unsubscribe, publish or ping)", m.Type)})
	}
}

func (c *conn) subscribe(m clientMsg) {
	if m.Chart == "" {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.Invalid, Field: "chart", Message: "required"})
		return
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, 15*time.Second)
	defer cancel()
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

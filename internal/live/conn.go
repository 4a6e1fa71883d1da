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
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
)

// ProtocolVersion is the live protocol version (docs/protocol.md).
const ProtocolVersion = 1

type conn struct {
	hub *Hub
	ws  *websocket.Conn
	id  string
	out chan []byte

	kickOnce sync.Once
	kick     chan struct{} // closed when the queue overflowed

	// subs maps stream id to chart id; only the read goroutine uses it
	// until run's cleanup.
	subs map[string]string
}

func newConn(h *Hub, ws *websocket.Conn) *conn {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &conn{hub: h, ws: ws, id: hex.EncodeToString(id[:]), out: make(chan []byte, h.cfg.QueueSize), kick: make(chan struct{}), subs: map[string]string{}}
}

// send queues a frame without blocking; a full queue marks the
// connection as a slow consumer, which the writer then closes.
func (c *conn) send(frame []byte) {
	select {
	case c.out <- frame:
	default:
		c.kickOnce.Do(func() { close(c.kick) })
	}
}

func (c *conn) run(hubCtx context.Context) {
	ctx, cancel := context.WithCancel(hubCtx)
	defer cancel()
	// Queued before the reader starts, so that hello is the first frame.
	hello, _ := json.Marshal(map[string]any{"type": "hello", "v": ProtocolVersion, "conn": c.id})
	c.send(hello)
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer cancel() // the peer went away: stop the writer
		c.readLoop()
	}()
	code, reason := c.writeLoop(ctx)
	// Close unblocks the reader; when the peer closed first it returns
	// at once.
	_ = c.ws.Close(code, reason)
	reader.Wait()
	for id := range c.subs {
		c.hub.unsubscribe(c, id)
		c.hub.cfg.Streams.Release(id)
	}
}

func (c *conn) writeLoop(ctx context.Context) (websocket.StatusCode, string) {
	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case frame := <-c.out:
			if err := c.write(ctx, frame); err != nil {
				return websocket.StatusInternalError, "write failed"
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, c.hub.cfg.PingTimeout)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil {
				return websocket.StatusPolicyViolation, "ping timeout"
			}
		case <-c.kick:
			return websocket.StatusPolicyViolation, "slow consumer: send queue full"
		case <-ctx.Done():
			if c.hub.ctx.Err() != nil {
				return websocket.StatusGoingAway, "server shutting down"
			}
			return websocket.StatusNormalClosure, ""
		}
	}
}

func (c *conn) write(ctx context.Context, frame []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, frame)
}

func (c *conn) readLoop() {
	limit := c.hub.cfg.MaxMessageBytes
	buf := bytes.NewBuffer(nil)
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			// The peer closed, the connection broke, or a message was over
			// the hard read limit (closed with 1009 "message too big").
			return
		}
		buf.Reset()
		n, err := io.Copy(buf, io.LimitReader(r, limit+1))
		if err != nil {
			return
		}
		if n > limit {
			// Drain the rest, so the connection stays usable, and say why.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			c.reply(refOf(buf.Bytes()), nil, apperr.Errorf(apperr.TooLarge, "message larger than %d bytes", limit))
			continue
		}
		if typ != websocket.MessageText {
			c.reply("", nil, apperr.Errorf(apperr.Invalid, "binary frames are not supported by protocol version %d", ProtocolVersion))
			continue
		}
		c.handle(buf.Bytes())
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
	_, again := c.subs[s.ID]
	if again {
		c.hub.cfg.Streams.Release(s.ID) // one hold per stream per connection
	} else if len(c.subs) >= c.hub.cfg.MaxSubscriptions {
		c.hub.cfg.Streams.Release(s.ID)
		c.reply(m.Ref, nil, apperr.Errorf(apperr.Invalid, "a connection holds at most %d subscriptions", c.hub.cfg.MaxSubscriptions))
		return
	}
	if err := c.hub.subscribe(c, s, again); err != nil {
		if !again {
			c.hub.cfg.Streams.Release(s.ID)
		}
		c.reply(m.Ref, nil, err)
		return
	}
	c.subs[s.ID] = s.ChartID
	c.reply(m.Ref, map[string]any{"stream": s.ID}, nil)
}

func (c *conn) unsubscribe(m clientMsg) {
	if _, ok := c.subs[m.Stream]; !ok {
		c.reply(m.Ref, nil, &apperr.Error{Code: apperr.NotFound, Field: "stream", Message: fmt.Sprintf("not subscribed to stream %q", m.Stream)})
		return
	}
	delete(c.subs, m.Stream)
	c.hub.unsubscribe(c, m.Stream)
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
	op, err := chart.ParseOp(m.Op)
	if err != nil {
		c.reply(m.Ref, nil, underOp(err))
		return
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, 10*time.Second)
	defer cancel()
	s, off, err := c.hub.cfg.Streams.Apply(ctx, m.Chart, op)
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

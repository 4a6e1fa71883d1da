package live

import (
	"bytes"
	"errors"
	"unicode/utf8"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/websocket"
)

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

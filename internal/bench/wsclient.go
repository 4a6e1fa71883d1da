package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/ashreports/ashreports/internal/websocket"
)

// The viewers' WebSocket client, on the project's one WebSocket
// implementation (package websocket). The bench shares the machine with
// the server it measures, so its viewers must cost little CPU. On Linux a
// few pollers read every viewer's socket with epoll (wsclient_linux.go),
// and a viewer's goroutine only dials, waits for its session to end and
// reconnects; elsewhere each connection has a reader goroutine
// (wsclient_other.go). Either way the bytes go through feed.

// maxServerMessage bounds a message from the server (a snapshot of a large
// chart is the largest).
const maxServerMessage = 64 << 20

// closeError is a connection the server closed with a close frame.
type closeError struct{ code int }

func (e *closeError) Error() string {
	return "closed by the server with status " + strconv.Itoa(e.code)
}

// wsConn is one viewer connection.
type wsConn struct {
	sock // the socket, as this system's reader has it
	v    *viewer
	done chan error // the session's end, sent once

	mu       sync.Mutex // guards the fields below and writes to the socket
	closed   bool       // the socket is closed
	paused   bool       // not read while a slow viewer does not read
	onResume func()     // called when a pause ends

	// Only the reader (or, before registration, the dialing goroutine)
	// uses these.
	rx   websocket.Receiver
	in   []byte // received bytes short of a whole frame
	frag []byte // a fragmented message so far
}

// dialWS opens a WebSocket connection with d, sending token (when not
// empty) as a bearer token, and returns it unregistered, with the bytes
// the server sent after the handshake.
func dialWS(ctx context.Context, d *net.Dialer, rawURL, token string) (*wsConn, []byte, error) {
	var h http.Header
	if token != "" {
		h = http.Header{"Authorization": {"Bearer " + token}}
	}
	nc, rest, err := websocket.Dial(ctx, d.DialContext, rawURL, h)
	if err != nil {
		return nil, nil, err
	}
	s, err := newSock(nc)
	if err != nil {
		return nil, nil, err
	}
	return &wsConn{sock: s, done: make(chan error, 1), rx: newClientReceiver()}, rest, nil
}

func newClientReceiver() websocket.Receiver { return websocket.NewClientReceiver(maxServerMessage) }

// write sends one masked frame.
func (c *wsConn) write(op websocket.OpCode, payload []byte) error {
	b := websocket.AppendClientFrame(nil, op, payload)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	return c.send(b)
}

// shutdown ends the connection as a lost network would, without a close
// frame; its reader then sees the end.
func (c *wsConn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.shutdownSock()
	}
	c.resumeLocked()
}

// resume ends a pause: the connection is read again.
func (c *wsConn) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumeLocked()
}

func (c *wsConn) resumeLocked() {
	if !c.paused {
		return
	}
	c.paused = false
	c.unpause()
	if c.onResume != nil {
		c.onResume()
	}
}

// end closes the connection and reports err as the session's end; only the
// reader calls it (or the dialer, before registration).
func (c *wsConn) end(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.closeSock()
	c.mu.Unlock()
	c.done <- err
}

// feed handles received bytes: every whole frame in c.in+data; false when
// the connection ended.
func (c *wsConn) feed(data []byte, now int64) bool {
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	i := 0
	for {
		h, n, err := c.rx.Parse(data[i:])
		if err == nil && h.Length > maxServerMessage {
			err = fmt.Errorf("protocol: a frame of %d bytes, more than a message may have (%d)", h.Length, maxServerMessage)
		} else if errors.Is(err, websocket.ErrShort) || (err == nil && int64(len(data)-i-n) < h.Length) {
			break // the rest of the frame is still to come
		}
		if err == nil {
			err = c.frame(h, data[i+n:i+n+int(h.Length)], now)
			i += n + int(h.Length)
		}
		if err != nil {
			c.end(err)
			return false
		}
	}
	switch {
	case i == len(data):
		if cap(c.in) > 1<<20 {
			c.in = nil
		} else {
			c.in = c.in[:0]
		}
	case len(c.in) > 0:
		c.in = c.in[:copy(c.in, data[i:])]
	default:
		c.in = append(c.in, data[i:]...)
	}
	return true
}

// frame handles one server frame, whose header Parse read.
func (c *wsConn) frame(h websocket.Header, payload []byte, now int64) error {
	op, last, err := c.rx.Frame(h)
	if err != nil {
		return err
	}
	switch op {
	case websocket.OpClose: // answer it, then the session ends
		code, _, err := websocket.CheckClose(payload)
		if err != nil {
			return err
		}
		_ = c.write(websocket.OpClose, payload[:min(2, len(payload))])
		return &closeError{int(code)}
	case websocket.OpPing:
		return c.write(websocket.OpPong, payload)
	case websocket.OpPong:
		return nil
	}
	if !last {
		c.frag = append(c.frag, payload...)
		return nil
	}
	if len(c.frag) > 0 {
		payload = append(c.frag, payload...)
		c.frag = c.frag[:0]
	}
	return c.v.message(c, op, payload, now)
}

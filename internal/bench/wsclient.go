package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ashreports/ashreports/internal/live"
)

// The viewers' WebSocket client. The bench shares the machine with the
// server it measures, so its viewers must cost little CPU: a goroutine
// per viewer blocked in a read costs a wake-up, a failed read and a
// scheduling round per message, as much as the read itself. Here a few
// pollers read every viewer's socket with epoll (level-triggered), one
// read per ready socket, and the viewer's goroutine only dials, waits for
// its session to end and reconnects. Server frames are not masked; the
// client masks its own (RFC 6455).

// closeError is a connection the server closed with a close frame.
type closeError struct{ code int }

func (e *closeError) Error() string {
	return "closed by the server with status " + strconv.Itoa(e.code)
}

// wsConn is one viewer connection, owned by a poller once registered.
type wsConn struct {
	fd   int
	v    *viewer
	p    *poller
	done chan error // the session's end, sent once

	mu       sync.Mutex // guards the fields below and writes to fd
	closed   bool       // fd is closed
	paused   bool       // off the poller while a slow viewer does not read
	armed    bool       // in the poller's epoll set
	onResume func()     // called when a pause ends

	// Only the poller (or, before registration, the dialing goroutine)
	// uses these.
	in   []byte // received bytes short of a whole frame
	frag []byte // a fragmented message so far
	fop  byte   // its opcode
}

// dialWS opens a WebSocket connection, sending token (when not empty) as
// a bearer token, and returns it unregistered, with the bytes the server
// sent after the handshake.
func dialWS(ctx context.Context, d *net.Dialer, rawURL, token string) (*wsConn, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, nil, err
	}
	defer nc.Close() // the connection lives on in a duplicate descriptor
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + auth + "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, nil, fmt.Errorf("handshake: %s: %s", resp.Status, body)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != live.AcceptKey(key) {
		return nil, nil, errors.New("handshake: wrong Sec-WebSocket-Accept")
	}
	rest, _ := br.Peek(br.Buffered())
	rest = append([]byte(nil), rest...)
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) }); err != nil {
		return nil, nil, err
	}
	if derr != nil {
		return nil, nil, derr
	}
	// The duplicate shares the original's file status: non-blocking.
	return &wsConn{fd: fd, done: make(chan error, 1)}, rest, nil
}

func dupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(nfd)
	return nfd, nil
}

// write sends one masked frame; the socket is non-blocking, so a full
// send buffer is waited out in short sleeps (client frames are small).
func (c *wsConn) write(op byte, payload []byte) error {
	var key [4]byte
	_, _ = rand.Read(key[:])
	b := make([]byte, 0, 14+len(payload))
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i&3]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for len(b) > 0 {
		if c.closed {
			return net.ErrClosed
		}
		n, err := syscall.Write(c.fd, b)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			if time.Now().After(deadline) {
				return errors.New("write timed out")
			}
			c.mu.Unlock()
			time.Sleep(time.Millisecond)
			c.mu.Lock()
			continue
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}

// shutdown ends the connection as a lost network would, without a close
// frame; the poller then sees the end and closes the descriptor.
func (c *wsConn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
	c.resumeLocked()
}

// resume ends a pause: the poller reads the connection again.
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
	c.arm()
	if c.onResume != nil {
		c.onResume()
	}
}

// arm adds the connection to its poller's epoll set; c.mu must be held.
func (c *wsConn) arm() {
	if c.closed || c.armed || c.p == nil {
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)}
	if syscall.EpollCtl(c.p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev) == nil {
		c.armed = true
	}
}

// pause takes the connection off its poller for d: a slow viewer that
// stops reading. It returns at once; fn runs when reading resumes.
func (c *wsConn) pause(d time.Duration, fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.armed {
		return
	}
	_ = syscall.EpollCtl(c.p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	c.armed, c.paused, c.onResume = false, true, fn
	time.AfterFunc(d, c.resume)
}

// end closes the connection and reports err as the session's end; only the
// poller calls it (or the dialer, before registration).
func (c *wsConn) end(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.p != nil {
		c.p.forget(c)
	}
	_ = syscall.Close(c.fd) // also leaves the epoll set
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
		h, n, ok := serverFrame(data[i:])
		if !ok {
			break
		}
		payload := data[i+h : i+h+n]
		op, fin := data[i]&0x0F, data[i]&0x80 != 0
		i += h + n
		if err := c.frame(op, fin, payload, now); err != nil {
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

// serverFrame returns the header and payload lengths of the frame at the
// start of b, if b holds all of it.
func serverFrame(b []byte) (h, n int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	h, n = 2, int(b[1]&0x7F)
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, 0, false
		}
		h, n = 4, int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0, 0, false
		}
		h, n = 10, int(binary.BigEndian.Uint64(b[2:]))
	}
	if b[1]&0x80 != 0 {
		h += 4 // a masked server frame is a protocol error, found in frame
	}
	return h, n, len(b)-h >= n
}

// frame handles one server frame.
func (c *wsConn) frame(op byte, fin bool, payload []byte, now int64) error {
	switch op {
	case 0x8: // close: answer it, then the session ends
		code := 1005
		if len(payload) >= 2 {
			code = int(binary.BigEndian.Uint16(payload))
		}
		_ = c.write(0x8, payload[:min(2, len(payload))])
		return &closeError{code}
	case 0x9:
		return c.write(0xA, payload)
	case 0xA:
		return nil
	case 0x0:
		if c.fop == 0 {
			return errors.New("protocol: continuation outside a message")
		}
		c.frag = append(c.frag, payload...)
		if !fin {
			return nil
		}
		op, payload = c.fop, c.frag
		c.fop, c.frag = 0, c.frag[:0]
	default:
		if c.fop != 0 {
			return errors.New("protocol: new message inside a fragmented one")
		}
		if !fin {
			c.fop, c.frag = op, append(c.frag[:0], payload...)
			return nil
		}
	}
	return c.v.message(c, op, payload, now)
}

// poller reads the sockets of many connections on one goroutine.
type poller struct {
	epfd    int
	mu      sync.Mutex
	conns   map[int]*wsConn
	stopped atomic.Bool
	wg      sync.WaitGroup
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{epfd: fd, conns: map[int]*wsConn{}}
	p.wg.Go(p.loop)
	return p, nil
}

// register hands c to the poller, after feeding it the bytes that came
// with the handshake; false when c ended meanwhile.
func (p *poller) register(c *wsConn, rest []byte) bool {
	c.p = p
	if len(rest) > 0 && !c.feed(rest, time.Now().UnixNano()) {
		return false
	}
	p.mu.Lock()
	p.conns[c.fd] = c
	p.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		c.arm()
	}
	return true
}

func (p *poller) forget(c *wsConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[c.fd] == c {
		delete(p.conns, c.fd)
	}
}

// pollerNap is how long a poller sleeps when no socket is ready, rather
// than block in epoll_wait: a blocked poller must be woken by the
// server's every write, a cost the server's CPU pays. It adds at most
// this much to the latency measured.
const pollerNap = 500 * time.Microsecond

func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 512)
	buf := make([]byte, 256<<10)
	for !p.stopped.Load() {
		n, err := syscall.EpollWait(p.epfd, events, 0)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		if n == 0 {
			time.Sleep(pollerNap)
			continue
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.conns[int(ev.Fd)]
			p.mu.Unlock()
			if c == nil {
				continue
			}
			c.drain(buf)
		}
	}
}

// drain reads what c's socket holds, with one read: the poller reports a
// socket again while it holds data (level-triggered). What it read was
// received when the read returned, not when the poller woke: the sockets
// before it in the poller's batch count in its latency.
func (c *wsConn) drain(buf []byte) {
	m, err := syscall.Read(c.fd, buf)
	switch {
	case err == syscall.EINTR || err == syscall.EAGAIN:
	case err != nil:
		c.end(err)
	case m == 0:
		c.end(io.EOF)
	default:
		c.feed(buf[:m], time.Now().UnixNano())
	}
}

// close stops the poller and ends the connections it still holds.
func (p *poller) close() {
	p.stopped.Store(true)
	p.wg.Wait()
	p.mu.Lock()
	conns := make([]*wsConn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.end(net.ErrClosed)
	}
	_ = syscall.Close(p.epfd)
}

// pollers spreads connections over a few pollers.
type pollers struct {
	ps   []*poller
	next atomic.Uint64
}

func newPollers(n int) (*pollers, error) {
	out := &pollers{}
	for range n {
		p, err := newPoller()
		if err != nil {
			out.close()
			return nil, err
		}
		out.ps = append(out.ps, p)
	}
	return out, nil
}

func (ps *pollers) pick() *poller { return ps.ps[ps.next.Add(1)%uint64(len(ps.ps))] }

func (ps *pollers) close() {
	for _, p := range ps.ps {
		p.close()
	}
}

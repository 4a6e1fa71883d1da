//go:build !linux || portable

package bench

import (
	"io"
	"net"
	"sync"
	"time"
)

// Off Linux each connection has a reader goroutine of its own, blocked in
// a read: simpler than Linux's epoll pollers (wsclient_linux.go), and
// costlier in CPU at many viewers, which the bench's figures then include.

// sock is a connection and what its reader waits on while paused.
type sock struct {
	nc      net.Conn
	p       *poller
	resumed chan struct{} // has a value when a pause ends
}

func newSock(nc net.Conn) (sock, error) {
	return sock{nc: nc, resumed: make(chan struct{}, 1)}, nil
}

// send writes b; c.mu is held.
func (c *wsConn) send(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// shutdownSock shuts the connection down both ways; the reader then sees
// the end and closes it. c.mu is held.
func (c *wsConn) shutdownSock() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.CloseRead()
		_ = tc.CloseWrite()
	}
}

// unpause wakes the paused reader; c.mu is held.
func (c *wsConn) unpause() {
	select {
	case c.resumed <- struct{}{}:
	default:
	}
}

// pause stops reading the connection for d: a slow viewer. It returns at
// once; fn runs when reading resumes.
func (c *wsConn) pause(d time.Duration, fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.paused {
		return
	}
	c.paused, c.onResume = true, fn
	time.AfterFunc(d, c.resume)
}

// closeSock closes the connection, which ends its reader; c.mu is held.
func (c *wsConn) closeSock() {
	if c.p != nil {
		c.p.forget(c)
	}
	_ = c.nc.Close()
	c.unpause() // a paused reader sees the end
}

// read is the connection's reader goroutine.
func (c *wsConn) read() {
	buf := make([]byte, 64<<10)
	for {
		c.mu.Lock()
		paused, closed := c.paused, c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		if paused {
			<-c.resumed
			continue
		}
		n, err := c.nc.Read(buf)
		if n > 0 && !c.feed(buf[:n], time.Now().UnixNano()) {
			return
		}
		if err != nil {
			if err == io.EOF {
				c.end(io.EOF)
			} else {
				c.end(err)
			}
			return
		}
	}
}

// poller keeps the connections whose readers it started.
type poller struct {
	mu    sync.Mutex
	conns map[*wsConn]struct{}
	wg    sync.WaitGroup
}

func newPoller() (*poller, error) { return &poller{conns: map[*wsConn]struct{}{}}, nil }

// register starts c's reader, after feeding it the bytes that came with
// the handshake; false when c ended meanwhile.
func (p *poller) register(c *wsConn, rest []byte) bool {
	c.p = p
	if len(rest) > 0 && !c.feed(rest, time.Now().UnixNano()) {
		return false
	}
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	p.wg.Go(c.read)
	return true
}

func (p *poller) forget(c *wsConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// close ends the connections the poller still holds and waits for their
// readers.
func (p *poller) close() {
	p.mu.Lock()
	conns := make([]*wsConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.end(net.ErrClosed)
	}
	p.wg.Wait()
}

//go:build linux && !portable

package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// On Linux a few pollers read every viewer's socket with epoll
// (level-triggered), one read per ready socket: a goroutine per viewer
// blocked in a read would cost a wake-up, a failed read and a scheduling
// round per message, as much as the read itself.

// sock is a connection's descriptor, a duplicate of the dialed one's, and
// the poller that reads it.
type sock struct {
	fd    int
	p     *poller
	armed bool // in the poller's epoll set; guarded by wsConn.mu
}

// newSock takes nc's socket as a descriptor of its own and closes nc.
func newSock(nc net.Conn) (sock, error) {
	defer nc.Close() // the connection lives on in the duplicate
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return sock{}, fmt.Errorf("bench viewers speak plain TCP, not %T", nc)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return sock{}, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) }); err != nil {
		return sock{}, err
	}
	if derr != nil {
		return sock{}, derr
	}
	// The duplicate shares the original's file status: non-blocking.
	return sock{fd: fd}, nil
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

// send writes b; c.mu is held. The socket is non-blocking, so a full send
// buffer is waited out in short sleeps (client frames are small).
func (c *wsConn) send(b []byte) error {
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

// shutdownSock shuts the socket down both ways; the poller then sees the
// end and closes the descriptor. c.mu is held.
func (c *wsConn) shutdownSock() { _ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR) }

// unpause puts the connection back in its poller's set; c.mu is held.
func (c *wsConn) unpause() { c.arm() }

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

// closeSock closes the descriptor, which also leaves the epoll set; c.mu
// is held.
func (c *wsConn) closeSock() {
	if c.p != nil {
		c.p.forget(c)
	}
	_ = syscall.Close(c.fd)
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

package edge

import (
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ashreports/ashreports/internal/ratelimit"
)

// Caps are the most connections a Listener keeps open.
type Caps struct {
	// Total is the most open connections in all.
	Total int
	// PerAddr is the most open connections of one client address (IPv6
	// by its /64).
	PerAddr int
}

// Listener accepts connections within its caps and closes the others at
// once, before reading a byte of them.
type Listener struct {
	net.Listener
	caps    Caps
	refused *prometheus.CounterVec // by reason: per_addr, total

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

// Limit returns ln with caps. refused counts the connections closed at
// accept, by the reason label "per_addr" or "total".
func Limit(ln net.Listener, caps Caps, refused *prometheus.CounterVec) *Listener {
	return &Listener{Listener: ln, caps: caps, refused: refused, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps. A connection past
// them is closed and counted, and Accept waits for the next.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrOf(c)
		if reason := l.admit(key); reason != "" {
			l.refused.WithLabelValues(reason).Inc()
			_ = c.Close()
			continue
		}
		release := sync.OnceFunc(func() { l.leave(key) })
		if tc, ok := c.(*net.TCPConn); ok {
			// Kept whole, so that its methods (SetWriteBuffer,
			// SyscallConn, ReadFrom) stay at hand of who holds it.
			return &tcpConn{TCPConn: tc, release: release}, nil
		}
		return &conn{Conn: c, release: release}, nil
	}
}

func addrOf(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return ratelimit.AddrKey(host)
}

// admit counts a connection of key in, or says which cap refuses it.
func (l *Listener) admit(key string) (refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.caps.Total:
		return "total"
	case l.byAddr[key] >= l.caps.PerAddr:
		return "per_addr"
	}
	l.total++
	l.byAddr[key]++
	return ""
}

func (l *Listener) leave(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[key]--; l.byAddr[key] == 0 {
		delete(l.byAddr, key)
	}
}

type conn struct {
	net.Conn
	release func()
}

func (c *conn) Close() error {
	defer c.release()
	return c.Conn.Close()
}

type tcpConn struct {
	*net.TCPConn
	release func()
}

func (c *tcpConn) Close() error {
	defer c.release()
	return c.TCPConn.Close()
}

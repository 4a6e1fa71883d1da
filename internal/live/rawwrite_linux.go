//go:build linux && !portable

package live

import (
	"net"
	"sync"
	"syscall"
)

// rawWrites says frames may be written by the goroutine that delivers
// them, without waiting for the socket.
const rawWrites = true

// rawWriter writes to a socket without ever waiting for it, with write(2)
// on its descriptor: net's RawConn would re-arm the poller on every call,
// for writes that never wait. It is Linux's fast path; elsewhere
// newRawWriter returns nil and every frame goes through a writer
// goroutine (rawwrite_other.go).
type rawWriter struct {
	nc net.Conn
	fd int
	// mu is held for reading by writes and for writing by close, so that
	// the descriptor is not closed, and its number not reused, under a
	// write.
	mu     sync.RWMutex
	closed bool
}

// newRawWriter returns the non-blocking writer of nc, or nil when nc is
// not a plain TCP socket (TLS, a test pipe): its frames then always go
// through the writer goroutine.
func newRawWriter(nc net.Conn) *rawWriter {
	// A TCP socket, or one that keeps its methods (the server's
	// connection-counting wrapper).
	tc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{nc: nc, fd: -1}
	if rc.Control(func(fd uintptr) { w.fd = int(fd) }) != nil || w.fd < 0 {
		return nil
	}
	return w
}

// write writes as much of b as the socket takes now; n < len(b) with a nil
// error means the send buffer is full. The descriptor is non-blocking, as
// net leaves it.
func (w *rawWriter) write(b []byte) (n int, err error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return 0, net.ErrClosed
	}
	for n < len(b) {
		m, err := syscall.Write(w.fd, b[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return n, nil
		case err != nil:
			return n, err
		}
		n += m
	}
	return n, nil
}

// close closes the socket once no write is under way.
func (w *rawWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return w.nc.Close()
}

//go:build !linux || portable

package live

import "net"

// rawWriter is Linux's non-blocking socket writer (rawwrite_linux.go).
// Elsewhere there is none: newRawWriter returns nil, and every frame is
// written by the connection's writer goroutine, which waits for the
// socket, as on TLS connections.
type rawWriter struct{}

const rawWrites = false

func newRawWriter(net.Conn) *rawWriter { return nil }

func (*rawWriter) write([]byte) (int, error) { return 0, net.ErrClosed }

func (*rawWriter) close() error { return nil }

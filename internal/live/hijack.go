package live

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// Buffer sizes of a live connection. net/http hands a hijacked connection
// 4 KiB read and write buffers, which the WebSocket library keeps for the
// connection's life: 8 KiB for each idle viewer. Client messages are small
// and rare, and a server frame larger than the write buffer goes straight
// to the socket, so smaller buffers cost little.
const (
	readBufferSize  = 256
	writeBufferSize = 512
)

// smallBuffers is a ResponseWriter whose Hijack gives the connection small
// buffers instead of net/http's, and a bounded kernel send buffer.
type smallBuffers struct {
	http.ResponseWriter
	// sendBuffer is the socket's send buffer size; 0 leaves the kernel's
	// autotuning.
	sendBuffer int
}

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Linux grows a socket's send buffer up to 4 MiB for a reader that
	// lags: frames there are out of reach of conflation, and a viewer
	// that reads again would first wade through seconds of stale ops.
	if tc, ok := nc.(*net.TCPConn); ok && w.sendBuffer > 0 {
		_ = tc.SetWriteBuffer(w.sendBuffer)
	}
	// Bytes the client sent after the handshake and net/http already read.
	pending, _ := brw.Reader.Peek(brw.Reader.Buffered())
	r := io.Reader(nc)
	if len(pending) > 0 {
		r = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), nc)
	}
	return nc, bufio.NewReadWriter(bufio.NewReaderSize(r, readBufferSize), bufio.NewWriterSize(nc, writeBufferSize)), nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

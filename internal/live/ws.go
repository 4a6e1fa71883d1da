package live

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The hub speaks WebSocket (RFC 6455) itself rather than through a
// library: it owns the socket, so a frame can be written straight from
// the goroutine that delivers it, without a write that could block
// (docs/architecture.md, "Write path"). Only what a server needs is here:
// the handshake, reading masked client frames, writing unmasked frames.
// No extension is negotiated.

// Opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// statusCode is a close status code (RFC 6455, section 7.4).
type statusCode uint16

const (
	statusNormalClosure   statusCode = 1000
	statusGoingAway       statusCode = 1001
	statusProtocolError   statusCode = 1002
	statusInvalidPayload  statusCode = 1007
	statusPolicyViolation statusCode = 1008
	statusMessageTooBig   statusCode = 1009
	statusInternalError   statusCode = 1011
)

// maxHeader is the longest frame header the server writes (no mask).
const maxHeader = 10

// putHeader writes the header of an unmasked final frame with payload
// length n into the end of dst[:maxHeader] and returns where it starts.
func putHeader(dst []byte, op byte, n int) int {
	switch {
	case n <= 125:
		dst[8], dst[9] = 0x80|op, byte(n)
		return 8
	case n <= 0xFFFF:
		dst[6], dst[7] = 0x80|op, 126
		binary.BigEndian.PutUint16(dst[8:], uint16(n))
		return 6
	default:
		dst[0], dst[1] = 0x80|op, 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
		return 0
	}
}

// frame appends a whole unmasked frame to dst.
func frame(dst []byte, op byte, payload []byte) []byte {
	var hdr [maxHeader]byte
	i := putHeader(hdr[:], op, len(payload))
	return append(append(dst, hdr[i:]...), payload...)
}

// closePayload is the body of a close frame: the code and a reason cut to
// fit a control frame.
func closePayload(code statusCode, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(b, reason...)
}

// errProtocol is a client frame that breaks RFC 6455.
type errProtocol struct {
	code statusCode
	msg  string
}

func (e *errProtocol) Error() string { return e.msg }

// frameHeader is a client frame's header.
type frameHeader struct {
	fin    bool
	op     byte
	length int64
	mask   [4]byte
}

// readHeader reads a client frame's header. Client frames must be masked
// and use no extension bits.
func readHeader(r *bufio.Reader) (frameHeader, error) {
	var h frameHeader
	b0, err := r.ReadByte()
	if err != nil {
		return h, err
	}
	b1, err := r.ReadByte()
	if err != nil {
		return h, err
	}
	h.fin, h.op = b0&0x80 != 0, b0&0x0F
	if b0&0x70 != 0 {
		return h, &errProtocol{statusProtocolError, "reserved bits set without an extension"}
	}
	if b1&0x80 == 0 {
		return h, &errProtocol{statusProtocolError, "client frame not masked"}
	}
	switch n := b1 & 0x7F; n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return h, err
		}
		u := binary.BigEndian.Uint64(ext[:])
		if u > 1<<62 {
			return h, &errProtocol{statusProtocolError, "frame length out of range"}
		}
		h.length = int64(u)
	default:
		h.length = int64(n)
	}
	if _, err := io.ReadFull(r, h.mask[:]); err != nil {
		return h, err
	}
	switch {
	case h.op >= opClose && h.op <= opPong:
		if !h.fin || h.length > 125 {
			return h, &errProtocol{statusProtocolError, "control frame fragmented or longer than 125 bytes"}
		}
	case h.op > opBinary:
		return h, &errProtocol{statusProtocolError, fmt.Sprintf("unknown opcode %d", h.op)}
	}
	return h, nil
}

// unmask unmasks b, the part of a payload that starts at byte pos.
func unmask(b []byte, key [4]byte, pos int64) {
	for i := range b {
		b[i] ^= key[(pos+int64(i))&3]
	}
}

// readPayload reads a frame's payload, appending its first keep bytes,
// unmasked, to buf and discarding the rest.
func readPayload(r *bufio.Reader, h frameHeader, buf *bytes.Buffer, keep int64) error {
	start := buf.Len()
	_, err := io.CopyN(buf, r, keep)
	if err == nil {
		_, err = io.CopyN(io.Discard, r, h.length-keep)
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	unmask(buf.Bytes()[start:], h.mask, 0)
	return nil
}

// errOrigin is a browser request from an origin that may not connect.
var errOrigin = errors.New("origin not allowed")

// checkOrigin allows requests without an Origin (not from a browser), from
// the request's own host, and from hosts matching a pattern (path.Match,
// case-insensitive).
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: Origin %q is not a URL with a host", errOrigin, origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return nil
		}
	}
	return fmt.Errorf("%w: Origin %q may not connect to %q", errOrigin, origin, r.Host)
}

// headerHas reports whether a comma-separated header holds token,
// case-insensitively.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// AcceptKey is the Sec-WebSocket-Accept answering a Sec-WebSocket-Key
// (RFC 6455, section 4.2.2); the bench's client checks it too.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// handshakeTimeout bounds writing the handshake response.
const handshakeTimeout = 10 * time.Second

// accept completes the opening handshake: it checks the request, writes
// the HTTP error itself when it refuses one, and otherwise hijacks the
// connection and answers 101. The reader holds bytes the client sent
// after the request.
func accept(w http.ResponseWriter, r *http.Request, patterns []string, sendBuffer int) (net.Conn, *bufio.Reader, error) {
	fail := func(status int, msg string) (net.Conn, *bufio.Reader, error) {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, msg, status)
		return nil, nil, errors.New(msg)
	}
	switch {
	case r.Method != http.MethodGet:
		return fail(http.StatusMethodNotAllowed, "a WebSocket handshake is a GET request")
	case !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "websocket"):
		return fail(http.StatusUpgradeRequired, "this address serves WebSocket connections only")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return fail(http.StatusUpgradeRequired, "unsupported WebSocket version (want 13)")
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return fail(http.StatusBadRequest, "invalid Sec-WebSocket-Key")
	}
	if err := checkOrigin(r, patterns); err != nil {
		return fail(http.StatusForbidden, err.Error())
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fail(http.StatusInternalServerError, "cannot take over the connection: "+err.Error())
	}
	// Linux grows a socket's send buffer up to 4 MiB for a reader that
	// lags: frames there are out of reach of conflation, and a viewer
	// that reads again would first wade through seconds of stale ops.
	if tc, ok := nc.(*net.TCPConn); ok && sendBuffer > 0 {
		_ = tc.SetWriteBuffer(sendBuffer)
	}
	// Bytes the client sent after the handshake, which net/http read.
	rd := io.Reader(nc)
	if n := brw.Reader.Buffered(); n > 0 {
		pending, _ := brw.Reader.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), nc)
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + AcceptKey(key) + "\r\n\r\n"
	_ = nc.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, err := io.WriteString(nc, resp); err != nil {
		nc.Close()
		return nil, nil, err
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return nc, bufio.NewReaderSize(rd, readBufferSize), nil
}

// readBufferSize is a connection's read buffer. Client messages are small
// and rare; net/http's 4 KiB would be kept for each idle viewer.
const readBufferSize = 256

// rawWriter writes to a socket without ever waiting for it, with write(2)
// on its descriptor: net's RawConn would re-arm the poller on every call,
// for writes that never wait.
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
	tc, ok := nc.(*net.TCPConn)
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

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gobwas/ws"
)

// ErrOrigin is in the chain of Accept's error for a browser request from
// an origin that may not connect.
var ErrOrigin = errors.New("origin not allowed")

// CheckOrigin allows requests without an Origin (not from a browser), from
// the request's own host, and from hosts matching a pattern (path.Match,
// case-insensitive).
func CheckOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: Origin %q is not a URL with a host", ErrOrigin, origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return nil
		}
	}
	return fmt.Errorf("%w: Origin %q may not connect to %q", ErrOrigin, origin, r.Host)
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

// AcceptOptions are the settings of a server's handshake.
type AcceptOptions struct {
	// Origins are the hosts, besides the request's own, from which
	// browsers may connect (see CheckOrigin).
	Origins []string
	// ReadBuffer is the size of the returned reader's buffer; 4096 when
	// zero.
	ReadBuffer int
	// Timeout bounds writing the handshake response; 10s when zero.
	Timeout time.Duration
}

// Accept completes a server's opening handshake (RFC 6455, section 4.2):
// it checks the request, writes the HTTP error itself when it refuses one
// (405 for a method other than GET, 426 for a request that is not a
// WebSocket handshake of version 13, 400 for a bad key, 403 for a foreign
// origin), and otherwise hijacks the connection and answers 101 through
// gobwas/ws. Connection and Upgrade are read as lists, every line and
// every token. The reader holds the bytes the client sent after its
// request; no extension is negotiated.
func Accept(w http.ResponseWriter, r *http.Request, o AcceptOptions) (net.Conn, *bufio.Reader, error) {
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
	if k, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key")); err != nil || len(k) != 16 {
		return fail(http.StatusBadRequest, "invalid Sec-WebSocket-Key")
	}
	if err := CheckOrigin(r, o.Origins); err != nil {
		return fail(http.StatusForbidden, err.Error())
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	// The checks above read every line and every token of Connection and
	// Upgrade, as RFC 9110 lists are; gobwas/ws reads the first line only
	// and wants Upgrade to be exactly websocket. The request passed ours:
	// it gets the canonical values, so that both agree.
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	nc, rw, _, err := ws.HTTPUpgrader{Timeout: timeout}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, nil, fmt.Errorf("websocket handshake: %w", err)
	}
	// Bytes the client sent after the handshake, which net/http read; its
	// buffer is not kept, so that an idle connection holds only ReadBuffer.
	rd := io.Reader(nc)
	if n := rw.Reader.Buffered(); n > 0 {
		pending, _ := rw.Reader.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), nc)
	}
	size := o.ReadBuffer
	if size == 0 {
		size = 4096
	}
	return nc, bufio.NewReaderSize(rd, size), nil
}

// Dial opens a client connection to rawURL (ws://host:port/path): a TCP
// connection made by dial, then the opening handshake through gobwas/ws,
// with header's fields added to the request. It returns the connection and
// the bytes the server sent after its response. A refused handshake is an
// error with the response's status and the start of its body.
func Dial(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), rawURL string, header http.Header) (net.Conn, []byte, error) {
	var refused error
	d := ws.Dialer{
		NetDial: dial,
		OnStatusError: func(status int, reason []byte, r io.Reader) {
			refused = fmt.Errorf("handshake: %d %s", status, reason)
			// The body says why, within its length: the connection stays
			// open after it.
			if resp, err := http.ReadResponse(bufio.NewReader(r), nil); err == nil {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				refused = fmt.Errorf("handshake: %d %s: %s", status, reason, bytes.TrimSpace(body))
			}
		},
	}
	if len(header) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	nc, br, _, err := d.Dial(ctx, rawURL)
	if err != nil {
		if refused != nil {
			return nil, nil, refused
		}
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	var rest []byte
	if br != nil {
		rest, _ = br.Peek(br.Buffered())
		rest = bytes.Clone(rest)
		ws.PutReader(br)
	}
	return nc, rest, nil
}

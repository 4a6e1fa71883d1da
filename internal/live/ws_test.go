package live

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/telemetry"
	"github.com/ashreports/ashreports/internal/websocket"
)

func wsHub(t *testing.T) *httptest.Server {
	t.Helper()
	h := NewHub(HubConfig{
		Streams: &fakeStreams{},
		Broker:  &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}},
		Metrics: telemetry.Discard(),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	return srv
}

// The opcodes, as the raw client writes them.
const (
	opContinuation = byte(websocket.OpContinuation)
	opText         = byte(websocket.OpText)
	opClose        = byte(websocket.OpClose)
	opPing         = byte(websocket.OpPing)
	opPong         = byte(websocket.OpPong)
)

// rawClient is a WebSocket client that writes frames by hand.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, srv *httptest.Server) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	c := &rawClient{t: t, nc: nc, br: br}
	if op, p := c.read(); op != opText || !strings.Contains(string(p), `"hello"`) {
		t.Fatalf("first frame: op %d %q, want hello", op, p)
	}
	return c
}

// send writes one frame; masked as a client must unless told otherwise.
func (c *rawClient) send(b0 byte, payload []byte, masked bool) {
	b := []byte{b0, byte(len(payload))}
	if len(payload) > 125 {
		b = binary.BigEndian.AppendUint16([]byte{b0, 126}, uint16(len(payload)))
	}
	key := [4]byte{1, 2, 3, 4}
	if masked {
		b[1] |= 0x80
		b = append(b, key[:]...)
	}
	start := len(b)
	b = append(b, payload...)
	if masked {
		for i := range payload {
			b[start+i] ^= key[i&3]
		}
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() (op byte, payload []byte) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		_, _ = io.ReadFull(c.br, ext[:])
		n = int(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, _ = io.ReadFull(c.br, ext[:])
		n = int(binary.BigEndian.Uint64(ext[:]))
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		c.t.Fatalf("read payload: %v", err)
	}
	return h[0] & 0x0F, payload
}

// closeCode reads frames up to a close frame and returns its code.
func (c *rawClient) closeCode() int {
	for {
		op, p := c.read()
		if op == opClose {
			if len(p) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

func TestFramesFromTheClient(t *testing.T) {
	srv := wsHub(t)
	t.Run("fragmented message is reassembled", func(t *testing.T) {
		c := dialRaw(t, srv)
		msg := `{"type":"ping","ref":"r1"}`
		c.send(opText, []byte(msg[:10]), true)
		c.send(0x80|opContinuation, []byte(msg[10:]), true)
		op, p := c.read()
		if op != opText || !strings.Contains(string(p), `"ref":"r1"`) || !strings.Contains(string(p), `"ok":true`) {
			t.Errorf("reply: op %d %s", op, p)
		}
	})
	t.Run("ping gets its pong", func(t *testing.T) {
		c := dialRaw(t, srv)
		c.send(0x80|opPing, []byte("abc"), true)
		if op, p := c.read(); op != opPong || string(p) != "abc" {
			t.Errorf("got op %d %q, want pong abc", op, p)
		}
	})
	t.Run("ping between the frames of a message", func(t *testing.T) {
		c := dialRaw(t, srv)
		msg := `{"type":"ping","ref":"r2"}`
		c.send(opText, []byte(msg[:10]), true)
		c.send(0x80|opPing, []byte("mid"), true)
		c.send(0x80|opContinuation, []byte(msg[10:]), true)
		if op, p := c.read(); op != opPong || string(p) != "mid" {
			t.Errorf("got op %d %q, want pong mid", op, p)
		}
		if op, p := c.read(); op != opText || !strings.Contains(string(p), `"ref":"r2"`) {
			t.Errorf("reply: op %d %s", op, p)
		}
	})
	for _, tc := range []struct {
		name   string
		b0     byte
		data   []byte
		masked bool
		want   int
	}{
		{"unmasked frame", 0x80 | opText, []byte(`{}`), false, 1002},
		{"reserved bit", 0xC0 | opText, []byte(`{}`), true, 1002},
		{"unknown opcode", 0x80 | 0x3, nil, true, 1002},
		{"stray continuation", 0x80 | opContinuation, []byte(`{}`), true, 1002},
		{"not UTF-8", 0x80 | opText, []byte{0xff, 0xfe}, true, 1007},
		{"client close", 0x80 | opClose, []byte{0x03, 0xe8}, true, 1000},
		{"close without a code", 0x80 | opClose, nil, true, 1000},
		{"close with an application code", 0x80 | opClose, []byte{0x0f, 0xa0, 'b', 'y', 'e'}, true, 1000},
		{"close with a 1-byte body", 0x80 | opClose, []byte{0x03}, true, 1002},
		{"close reason not UTF-8", 0x80 | opClose, []byte{0x03, 0xe8, 0xff}, true, 1007},
		{"ping longer than 125 bytes", 0x80 | opPing, make([]byte, 126), true, 1002},
		{"fragmented ping", opPing, []byte("x"), true, 1002},
		{"reserved control opcode", 0x80 | 0xB, nil, true, 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv)
			c.send(tc.b0, tc.data, tc.masked)
			if code := c.closeCode(); code != tc.want {
				t.Errorf("close code %d, want %d", code, tc.want)
			}
		})
	}
}

// TestInvalidCloseCodes: a close frame with a code that no endpoint may
// send (RFC 6455 section 7.4; the Autobahn cases 7.9.x) is answered with
// 1002, and one with a code that may be sent with a normal close.
func TestInvalidCloseCodes(t *testing.T) {
	srv := wsHub(t)
	var invalid []uint16
	for code := range uint16(1000) {
		if code%97 == 0 || code == 999 {
			invalid = append(invalid, code)
		}
	}
	invalid = append(invalid, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)
	for _, code := range invalid {
		t.Run(strconv.Itoa(int(code)), func(t *testing.T) {
			c := dialRaw(t, srv)
			c.send(0x80|opClose, binary.BigEndian.AppendUint16(nil, code), true)
			if got := c.closeCode(); got != 1002 {
				t.Errorf("close %d answered with %d, want 1002", code, got)
			}
		})
	}
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		t.Run(strconv.Itoa(int(code)), func(t *testing.T) {
			c := dialRaw(t, srv)
			c.send(0x80|opClose, binary.BigEndian.AppendUint16(nil, code), true)
			if got := c.closeCode(); got != 1000 {
				t.Errorf("close %d answered with %d, want 1000", code, got)
			}
		})
	}
}

// TestFanOutOverTCP delivers ops to more viewers than one goroutine writes
// to (flushChunk), over real sockets: every viewer gets its snapshot and
// then every op, in order, written by the delivering goroutines and the
// writers they hand over to.
func TestFanOutOverTCP(t *testing.T) {
	const viewers, ops = 2*flushChunk + 100, 20
	streams := &fakeStreams{SnapshotFn: func(string) ([]byte, uint64, error) { return []byte("snap"), 0, nil }}
	broker := &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}
	h := NewHub(HubConfig{Streams: streams, Broker: broker, Metrics: telemetry.Discard()})
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := engine.Stream{ID: "c", ChartID: "c", Subject: "ash.chart.c._"}
	conns := make([]*conn, viewers)
	clients := make([]*rawClient, viewers)
	for i := range conns {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_ = cc.SetDeadline(time.Now().Add(20 * time.Second))
		clients[i] = &rawClient{t: t, nc: cc, br: bufio.NewReader(cc)}
		conns[i] = newConn(h, sc, bufio.NewReader(sc))
		if rawWrites && conns[i].raw == nil {
			t.Fatal("a TCP connection has no raw writer")
		}
		if _, err := h.subscribe(conns[i], s, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	deliver := broker.handler(s.Subject)
	for i := uint64(1); i <= ops; i++ {
		deliver(i, []byte("op "+strconv.FormatUint(i, 10)), false, 0, false)
	}
	for v, c := range clients {
		var got []string
		for len(got) < ops+1 {
			op, p := c.read()
			if op != opText {
				t.Fatalf("viewer %d: frame opcode %d", v, op)
			}
			got = append(got, strings.Split(string(p), "\n")...)
		}
		if got[0] != "snap" {
			t.Fatalf("viewer %d: first frame %q, want the snapshot", v, got[0])
		}
		for i, f := range got[1:] {
			if want := "op " + strconv.Itoa(i+1); f != want {
				t.Fatalf("viewer %d: frame %d is %q, want %q", v, i+1, f, want)
			}
		}
	}
	for i, c := range conns {
		h.unsubscribe(c, s.ID)
		c.q.shutdown()
		close(c.done)
		c.writers.Wait()
		_ = c.closeSocket()
		clients[i].nc.Close()
	}
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends (the server end may be closed before).
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// TestHeldOpsLeaveTogether: ops that the broker reports as arriving
// together (more waiting) reach a viewer in one WebSocket message, at most
// maxHeld ops to a message, even with the batching window off.
func TestHeldOpsLeaveTogether(t *testing.T) {
	if !rawWrites {
		t.Skip("without raw writes a writer goroutine writes what is queued when it runs, held or not")
	}
	streams := &fakeStreams{SnapshotFn: func(string) ([]byte, uint64, error) { return []byte("snap"), 0, nil }}
	broker := &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}
	h := NewHub(HubConfig{Streams: streams, Broker: broker, Metrics: telemetry.Discard(), BatchWindow: -1})
	defer h.Close()
	cc, sc := tcpPair(t)
	_ = cc.SetDeadline(time.Now().Add(20 * time.Second))
	client := &rawClient{t: t, nc: cc, br: bufio.NewReader(cc)}
	c := newConn(h, sc, bufio.NewReader(sc))
	s := engine.Stream{ID: "c", ChartID: "c", Subject: "ash.chart.c._"}
	if _, err := h.subscribe(c, s, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, p := client.read(); string(p) != "snap" {
		t.Fatalf("first message %q, want the snapshot", p)
	}
	deliver := broker.handler(s.Subject)
	const ops = maxHeld + 6
	for i := uint64(1); i <= ops; i++ {
		deliver(i, []byte("op "+strconv.FormatUint(i, 10)), false, 0, i < ops)
	}
	for _, want := range [][2]int{{1, maxHeld}, {maxHeld + 1, ops}} {
		_, p := client.read()
		var lines []string
		for i := want[0]; i <= want[1]; i++ {
			lines = append(lines, "op "+strconv.Itoa(i))
		}
		if got := string(p); got != strings.Join(lines, "\n") {
			t.Fatalf("message %q, want ops %d to %d in one message", got, want[0], want[1])
		}
	}
	h.unsubscribe(c, s.ID)
	c.q.shutdown()
	close(c.done)
	c.writers.Wait()
	_ = c.closeSocket()
}

// TestControlFloodClosesAsSlowConsumer: a viewer that does not read while
// more replies than MaxPendingControl pile up is closed with 1008 once the
// blocked write ends, and counted as a slow consumer.
func TestControlFloodClosesAsSlowConsumer(t *testing.T) {
	m := telemetry.Discard()
	h := NewHub(HubConfig{Streams: &fakeStreams{}, Broker: &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}},
		Metrics: m, MaxPendingControl: 4, SendBuffer: 4096})
	defer h.Close()
	cc, sc := tcpPair(t)
	_ = cc.(*net.TCPConn).SetReadBuffer(4096)
	_ = sc.(*net.TCPConn).SetWriteBuffer(4096)
	c := newConn(h, sc, bufio.NewReader(sc))
	big := []byte(strings.Repeat("x", 64<<10))
	for range 10 {
		c.send(big) // the first fills the socket; the rest wait, past the limit
	}
	_ = cc.SetDeadline(time.Now().Add(20 * time.Second))
	client := &rawClient{t: t, nc: cc, br: bufio.NewReader(cc)}
	if code := client.closeCode(); code != int(websocket.StatusPolicyViolation) {
		t.Errorf("close code %d, want %d", code, websocket.StatusPolicyViolation)
	}
	c.q.shutdown()
	close(c.done)
	c.writers.Wait()
	_ = c.closeSocket()
	if c.reason != disconnectSlow {
		t.Errorf("disconnect reason %s, want slow_consumer", c.reason)
	}
}

package live

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/telemetry"
	"github.com/ashreports/ashreports/internal/websocket"
)

// pipeClient is a client of a hub over net.Pipe, whose handshake is taken
// as done: within a synctest bubble its reads and writes block durably,
// so that the bubble's clock moves on while they wait.
type pipeClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	rx websocket.Receiver
	// pongs says whether the client answers pings; pings counts them.
	pongs bool
	pings atomic.Int32
	lines []string
	wmu   sync.Mutex
}

// dialPipe connects a client to h as a signed-in user's connection.
func dialPipe(t *testing.T, h *Hub, pongs bool) *pipeClient {
	t.Helper()
	client, server := net.Pipe()
	h.conns.Add(1)
	go h.serve(server, bufio.NewReaderSize(server, readBufferSize), access.Subject{Kind: access.User, ID: "u", OrgID: "o"}, false)
	c := &pipeClient{t: t, nc: client, br: bufio.NewReader(client), rx: websocket.NewClientReceiver(1 << 20), pongs: pongs}
	if f := c.next(); !strings.Contains(f, `"hello"`) {
		t.Fatalf("first frame %s, want hello", f)
	}
	return c
}

func (c *pipeClient) write(op websocket.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(websocket.AppendClientFrame(nil, op, payload))
	return err
}

// message reads the next data message, answering pings (when the client
// does) on the way.
func (c *pipeClient) message() (string, error) {
	var buf bytes.Buffer
	_, _, err := c.rx.ReadMessage(c.br, &buf, 1<<20, func(op websocket.OpCode, p []byte) {
		if op == websocket.OpPing {
			c.pings.Add(1)
			if c.pongs {
				_ = c.write(websocket.OpPong, p)
			}
		}
	})
	return buf.String(), err
}

// next returns the next protocol frame (a message may hold several, a
// line each).
func (c *pipeClient) next() string {
	c.t.Helper()
	for len(c.lines) == 0 {
		m, err := c.message()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		c.lines = strings.Split(m, "\n")
	}
	f := c.lines[0]
	c.lines = c.lines[1:]
	return f
}

// request sends a client message and returns its reply's error code ("" for
// ok).
func (c *pipeClient) request(msg string) string {
	c.t.Helper()
	if err := c.write(websocket.OpText, []byte(msg)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	for {
		var r struct {
			Type  string `json:"type"`
			OK    bool   `json:"ok"`
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(c.next()), &r); err != nil {
			c.t.Fatal(err)
		}
		if r.Type == "reply" {
			return r.Error.Code
		}
	}
}

// TestDeadConnectionIsClosedByPing: with the default ping interval (25 s)
// and timeout (10 s), a client that reads but never answers pings is
// closed and counted as a ping timeout, while a client that answers stays,
// ping after ping.
func TestDeadConnectionIsClosedByPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := telemetry.Discard()
		h := NewHub(HubConfig{Streams: &fakeStreams{}, Broker: &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}, Metrics: m})
		dead, alive := dialPipe(t, h, false), dialPipe(t, h, true)
		ended := make(chan error, 2)
		for _, c := range []*pipeClient{dead, alive} {
			go func() {
				for {
					if _, err := c.message(); err != nil {
						ended <- err
						return
					}
				}
			}()
		}
		// Two ping intervals and a timeout: the dead client has had a ping
		// it did not answer, the alive one three it answered.
		time.Sleep(2*25*time.Second + 10*time.Second + 2*time.Second)
		synctest.Wait()
		if n := testutil.ToFloat64(m.Disconnects.WithLabelValues("ping_timeout")); n != 1 {
			t.Errorf("%v connections closed for ping timeout, want the dead one", n)
		}
		select {
		case err := <-ended:
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("the dead client's end: %v", err)
			}
		default:
			t.Error("the dead client is still connected")
		}
		if n := alive.pings.Load(); n < 2 || len(ended) != 0 {
			t.Errorf("the alive client got %d pings and is connected: %v; want it kept past 2 pings", n, len(ended) == 0)
		}
		if n := testutil.ToFloat64(m.Connections); n != 1 {
			t.Errorf("%v connections open, want 1", n)
		}
		h.Close()
		<-ended
		dead.nc.Close()
		alive.nc.Close()
	})
}

// fakeRooms is a Rooms that takes every message.
type fakeRooms struct{}

func (fakeRooms) Join(context.Context, access.Subject, string, string, func([]byte)) error {
	return nil
}
func (fakeRooms) Leave(string)                                                      {}
func (fakeRooms) Allowed(context.Context, access.Subject, string) error             { return nil }
func (fakeRooms) Focus(context.Context, access.Subject, string, string, bool) error { return nil }
func (fakeRooms) Filtered(context.Context, access.Subject, string, map[string]string) error {
	return nil
}

// TestRoomMessagesArePaced: a connection may say what it focuses on once
// per 100 ms, set its filters once a second, and join or leave once a
// second; sooner is refused (rate_limited) and later is taken.
func TestRoomMessagesArePaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHub(HubConfig{Streams: &fakeStreams{}, Broker: &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}}, Rooms: fakeRooms{}})
		c := dialPipe(t, h, true)
		for _, step := range []struct {
			wait time.Duration
			msg  string
			want string
		}{
			{0, `{"ref":"j1","type":"join","dashboard":"ops"}`, ""},
			{0, `{"ref":"j2","type":"join","dashboard":"ops"}`, "rate_limited"},
			{0, `{"ref":"f1","type":"focus","chart":"orders"}`, ""},
			{0, `{"ref":"f2","type":"focus","chart":"orders"}`, "rate_limited"},
			{99 * time.Millisecond, `{"ref":"f3","type":"focus","chart":"orders"}`, "rate_limited"},
			{time.Millisecond, `{"ref":"f4","type":"focus","chart":"orders"}`, ""},
			{0, `{"ref":"l1","type":"filter","filters":{"region":"EU"}}`, ""},
			{999 * time.Millisecond, `{"ref":"l2","type":"filter","filters":{"region":"US"}}`, "rate_limited"},
			{time.Millisecond, `{"ref":"l3","type":"filter","filters":{"region":"US"}}`, ""},
			{time.Second, `{"ref":"j3","type":"leave"}`, ""},
		} {
			time.Sleep(step.wait)
			if got := c.request(step.msg); got != step.want {
				t.Errorf("%s after %s: %q, want %q", step.msg, step.wait, got, step.want)
			}
		}
		h.Close()
		c.nc.Close()
	})
}

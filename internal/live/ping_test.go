package live

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ashreports/ashreports/internal/telemetry"
)

// TestDeadConnectionIsClosedByPing connects a client that never reads, so
// it never answers pings: the hub must close it within the ping timeout
// and count it, while a client that reads stays connected.
func TestDeadConnectionIsClosedByPing(t *testing.T) {
	m := telemetry.Discard()
	h := NewHub(HubConfig{
		Streams:      &fakeStreams{},
		Broker:       &fakeBroker{handlers: map[string]func(uint64, []byte, bool, int64, bool){}},
		Metrics:      m,
		PingInterval: time.Second,
		PingTimeout:  2 * time.Second, // a loaded machine may stall the alive client's pong for a while
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	ctx := context.Background()
	dead, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.CloseNow()
	var pings atomic.Int32
	alive, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	// A reader answers pings; the dead client has none.
	aliveDone := make(chan struct{})
	go func() {
		defer close(aliveDone)
		for {
			if _, _, err := alive.Read(ctx); err != nil {
				return
			}
		}
	}()
	defer func() {
		alive.CloseNow()
		<-aliveDone
	}()

	// Four pings, a second apart, outlast the ping timeout since the
	// first: the alive client survives by its pongs, not by luck.
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(m.Disconnects.WithLabelValues("ping_timeout")) < 1 || pings.Load() < 4 {
		select {
		case <-aliveDone:
			t.Fatalf("the connection that answers pings was closed after %d pings", pings.Load())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %v connections closed for ping timeout, the alive client got %d pings; want the dead one closed and 4 pings",
				testutil.ToFloat64(m.Disconnects.WithLabelValues("ping_timeout")), pings.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := testutil.ToFloat64(m.Disconnects.WithLabelValues("ping_timeout")); n != 1 {
		t.Errorf("%v connections closed for ping timeout, want only the dead one", n)
	}
	// The disconnect is counted before the connection's gauge goes down.
	deadline = time.Now().Add(20 * time.Second)
	for n := testutil.ToFloat64(m.Connections); n != 1; n = testutil.ToFloat64(m.Connections) {
		if time.Now().After(deadline) {
			t.Fatalf("%v connections open, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package live

import (
	"context"
	"net/http/httptest"
	"strings"
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
		PingTimeout:  300 * time.Millisecond,
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
	alive, _, err := websocket.Dial(ctx, url, nil)
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

	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(m.Disconnects.WithLabelValues("ping_timeout")) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the connection that does not answer pings was not closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := testutil.ToFloat64(m.Disconnects.WithLabelValues("ping_timeout")); n != 1 {
		t.Errorf("%v connections closed for ping timeout, want only the dead one", n)
	}
	select {
	case <-aliveDone:
		t.Error("the connection that answers pings was closed")
	default:
	}
	if n := testutil.ToFloat64(m.Connections); n != 1 {
		t.Errorf("%v connections open, want 1", n)
	}
}

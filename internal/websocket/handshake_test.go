package websocket

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAcceptAndDial: a client dialed with Dial and a server that accepted
// with Accept exchange frames both ways; the request's extra header
// arrives, and bytes the server sent right after its response come back
// from Dial.
func TestAcceptAndDial(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		nc, br, err := Accept(w, r, AcceptOptions{ReadBuffer: 64})
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = nc.Write(AppendFrame(nil, OpText, []byte("hello")))
		rx := NewServerReceiver(1 << 10)
		var buf bytes.Buffer
		if _, _, err := rx.ReadMessage(br, &buf, 1<<10, func(OpCode, []byte) {}); err != nil {
			return
		}
		_, _ = nc.Write(AppendFrame(nil, OpText, append([]byte("echo "), buf.Bytes()...)))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, rest, err := Dial(ctx, d.DialContext, "ws"+strings.TrimPrefix(srv.URL, "http")+"/live", http.Header{"Authorization": {"Bearer x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if a := <-got; a != "Bearer x" {
		t.Errorf("Authorization %q", a)
	}
	if _, err := nc.Write(AppendClientFrame(nil, OpText, []byte("ping"))); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	in := rest
	var msgs []string
	rx := NewClientReceiver(1 << 10)
	for len(msgs) < 2 {
		h, n, err := rx.Parse(in)
		if err == nil && int64(len(in)-n) >= h.Length {
			if _, _, err := rx.Frame(h); err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, string(in[n:n+int(h.Length)]))
			in = in[n+int(h.Length):]
			continue
		}
		b := make([]byte, 512)
		m, err := nc.Read(b)
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, msgs)
		}
		in = append(in, b[:m]...)
	}
	if msgs[0] != "hello" || msgs[1] != "echo ping" {
		t.Errorf("messages %q", msgs)
	}
}

// TestHandshakeRefusals: Accept answers what is not a WebSocket handshake
// it takes with an HTTP error, and Dial reports the status and the body
// without waiting for the connection to close.
func TestHandshakeRefusals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if nc, _, err := Accept(w, r, AcceptOptions{Origins: []string{"*.good.example"}}); err == nil {
			nc.Close()
		}
	}))
	defer srv.Close()
	upgrade := func(r *http.Request) {
		r.Header.Set("Connection", "keep-alive, Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	for _, tc := range []struct {
		name   string
		method string
		edit   func(*http.Request)
		want   int
	}{
		{"POST", http.MethodPost, upgrade, http.StatusMethodNotAllowed},
		{"plain GET", http.MethodGet, func(*http.Request) {}, http.StatusUpgradeRequired},
		{"version 8", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Sec-WebSocket-Version", "8") }, http.StatusUpgradeRequired},
		{"bad key", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Sec-WebSocket-Key", "short") }, http.StatusBadRequest},
		{"foreign origin", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Origin", "https://evil.example") }, http.StatusForbidden},
		{"allowed origin", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Origin", "https://a.good.example") }, http.StatusSwitchingProtocols},
		{"same origin", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Origin", "http://"+r.Host) }, http.StatusSwitchingProtocols},
		// Header lists as RFC 9110 allows them, which a proxy may split.
		{"Connection on two lines", http.MethodGet, func(r *http.Request) {
			upgrade(r)
			r.Header["Connection"] = []string{"keep-alive", "Upgrade"}
		}, http.StatusSwitchingProtocols},
		{"Upgrade among others", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Upgrade", "h2c, websocket") }, http.StatusSwitchingProtocols},
		{"Upgrade on two lines", http.MethodGet, func(r *http.Request) {
			upgrade(r)
			r.Header["Upgrade"] = []string{"h2c", "WebSocket"}
		}, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL, nil)
			tc.edit(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusSwitchingProtocols && resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Errorf("Sec-WebSocket-Accept %q", resp.Header.Get("Sec-WebSocket-Accept"))
			}
		})
	}
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"sign in"}`, http.StatusUnauthorized)
	}))
	defer refusing.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	start := time.Now()
	_, _, err := Dial(ctx, d.DialContext, "ws"+strings.TrimPrefix(refusing.URL, "http"), nil)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), `{"error":"sign in"}`) {
		t.Errorf("refused dial: %v", err)
	}
	if ctx.Err() != nil {
		t.Errorf("the refused dial waited %s, until its deadline", time.Since(start))
	}
}

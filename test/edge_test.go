package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/access"
)

// fromAddr is a cookie client whose connections leave from the loopback
// address ip (127.0.0.x), as another client's would.
func fromAddr(t *testing.T, ip string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestSignInFloodIsBounded: 60 sign-ins at once with unknown emails, from
// six addresses (within the sign-in rate limits), run at most one hash at
// a time: the process's peak memory grows by far less than the 60 × 19
// MiB they would take at once, the ones that wait too long get 429 with
// Retry-After and a message on the form, the refusals are counted, and a
// signed-in user is served meanwhile.
func TestSignInFloodIsBounded(t *testing.T) {
	s := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemo: true,
		Edge: ashreports.Edge{PasswordHashes: 1, PasswordHashWait: 200 * time.Millisecond}}).start(t)
	addUser(t, s, "ann@example.com", "ann's long password", access.Viewer)
	ann := cookieClient(t)
	signIn(t, s, ann, "ann@example.com", "ann's long password")

	const addrs, perAddr = 6, 10
	type attempt struct {
		c     *http.Client
		token string
	}
	var attempts []attempt
	for a := range addrs {
		for range perAddr {
			c := fromAddr(t, fmt.Sprintf("127.0.0.%d", 2+a))
			_, _, token := page(t, c, s.URL+"/login")
			attempts = append(attempts, attempt{c, token})
		}
	}
	// 60 hashes at once would hold 60 × 19 MiB = 1,140 MiB.
	const ceiling = 256 << 20
	resetPeakMemory(t)
	before := procMemory(t, "self", "VmHWM")
	start := make(chan struct{})
	type result struct {
		status     int
		retryAfter string
		body       string
		err        error
	}
	results := make(chan result, len(attempts))
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Go(func() {
			<-start
			form := url.Values{"csrf_token": {a.token}, "email": {fmt.Sprintf("nobody%d@example.com", i)}, "password": {"a guess of some length"}}
			resp, err := a.c.PostForm(s.URL+"/login", form)
			if err != nil {
				results <- result{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
		})
	}
	close(start)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/dashboards", nil)
	if got := do(t, ann, req); got != http.StatusOK {
		t.Errorf("a signed-in user's request during the flood: %d, want 200", got)
	}
	wg.Wait()
	close(results)
	grown := procMemory(t, "self", "VmHWM") - before

	var wrong, busy int
	for r := range results {
		switch {
		case r.err != nil:
			t.Errorf("sign-in: %v", r.err)
		case r.status == http.StatusUnauthorized:
			wrong++
		case r.status == http.StatusTooManyRequests:
			busy++
			if r.retryAfter != "1" || !strings.Contains(r.body, "The server is busy signing others in") {
				t.Errorf("429 with Retry-After %q and a form without the busy message", r.retryAfter)
			}
		default:
			t.Errorf("sign-in: status %d, want 401 or 429", r.status)
		}
	}
	t.Logf("%d refused as wrong, %d told to retry; peak RSS grew by %d MiB", wrong, busy, grown>>20)
	if busy == 0 {
		t.Error("no sign-in was told to retry (429)")
	}
	if grown > ceiling {
		t.Errorf("peak RSS grew by %d MiB during the flood, want under %d MiB", grown>>20, ceiling>>20)
	}
	if got := metric(t, s.URL, "ashreports_password_hashes_refused_total"); got != float64(busy) {
		t.Errorf("ashreports_password_hashes_refused_total = %v, want %d", got, busy)
	}
}

// TestTricklingBodiesAreBounded: connections that send their headers and
// then trickle the body are closed once the body deadline passes; past
// the per-address cap a new connection of that address is closed at once
// and counted; /healthz and a signed-in user are answered throughout.
func TestTricklingBodiesAreBounded(t *testing.T) {
	const perAddr = 20
	s := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemo: true,
		Edge: ashreports.Edge{MaxConnsPerAddr: perAddr, BodyTimeout: 2 * time.Second}}).start(t)
	addUser(t, s, "ann@example.com", "ann's long password", access.Viewer)
	ann := cookieClient(t)
	signIn(t, s, ann, "ann@example.com", "ann's long password")
	served := func(when string) {
		t.Helper()
		for _, p := range []struct {
			c    *http.Client
			path string
		}{{http.DefaultClient, "/healthz"}, {ann, "/api/v1/dashboards"}} {
			req, _ := http.NewRequest(http.MethodGet, s.URL+p.path, nil)
			if got := do(t, p.c, req); got != http.StatusOK {
				t.Errorf("%s %s: %d, want 200", when, p.path, got)
			}
		}
	}
	host := strings.TrimPrefix(s.URL, "http://")
	dial := func() (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return d.Dial("tcp", host)
	}

	// Each trickler sends its headers, then a byte of its 1,000-byte body
	// every 50 ms for at most 10 s, until the server closes the
	// connection; closed reports whether it did so within those 10 s.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	closed := make(chan bool, perAddr)
	for range perAddr {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(c, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=", host); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			for range 200 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, bufio.NewReader(c))
			ne, timedOut := err.(net.Error)
			closed <- !(timedOut && ne.Timeout())
		})
	}
	defer wg.Wait()

	// The address's next connection is closed before any request.
	c, err := dial()
	if err == nil {
		_, _ = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, rerr := io.ReadAll(c)
		c.Close()
		if ne, ok := rerr.(net.Error); (ok && ne.Timeout()) || len(b) > 0 {
			t.Errorf("connection past the per-address cap: read %q, %v; want it closed at once", b, rerr)
		}
	}
	if got := metric(t, s.URL, `ashreports_connections_refused_total{reason="per_addr"}`); got < 1 {
		t.Errorf(`ashreports_connections_refused_total{reason="per_addr"} = %v, want at least 1`, got)
	}
	served("during the flood")
	for range perAddr {
		if !<-closed {
			t.Error("a trickling connection was still open after 10 s")
		}
	}
	served("after the flood")
}

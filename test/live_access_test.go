package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/authz"
	"github.com/ashreports/ashreports/internal/wait"
)

// TestLiveSocketAccess: the socket needs credentials; each subscription
// and publish is authorized; a user of no role on a dashboard learns
// nothing of it.
func TestLiveSocketAccess(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "vera@example.com", pw, access.Viewer)
	addUser(t, s, "nora@example.com", pw, "")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/live", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous socket: %v, %v; want 401", err, resp)
	}

	vera := signedIn(t, s, "Vera", "vera@example.com", pw)
	vc, _, err := dialAs(t, s, vera.c)
	if err != nil {
		t.Fatal(err)
	}
	vc.subscribe("1", "orders", nil)
	// Refused each time, over the socket and over HTTP alike; audited the
	// first few times only, so that a loop of them neither floods the log
	// nor keeps the store busy.
	for i := range 10 {
		if i%2 == 1 {
			if code, b := vera.send(t, http.MethodPost, s.URL+"/api/v1/charts/orders/updates", `{"op":"append","rows":[["x",1]]}`); code != http.StatusForbidden {
				t.Errorf("a viewer's publish over HTTP: %d %s, want 403", code, b)
			}
		} else if r := vc.request(fmt.Sprint("p", i), map[string]any{"type": "publish", "chart": "orders", "op": json.RawMessage(`{"op":"append","rows":[["x",1]]}`)}); r.OK || r.Error == nil || r.Error.Code != "forbidden" {
			t.Errorf("a viewer's publish: %+v, want forbidden", r)
		}
	}
	entries := s.auditLog(t, auth.DefaultOrg)
	denied := 0
	for _, e := range entries {
		if e.Action == "denied" && e.Target == "orders" && strings.HasPrefix(e.Detail, "publish_data") {
			denied++
		}
	}
	if denied != authz.DenialBurst {
		t.Errorf("10 refused publishes, over the socket and HTTP, made %d audit entries, want %d", denied, authz.DenialBurst)
	}

	_, nc := signedInSocket(t, s, "nora@example.com", pw)
	if r := nc.request("1", map[string]any{"type": "subscribe", "chart": "orders"}); r.OK || r.Error == nil || r.Error.Code != "not_found" {
		t.Errorf("subscribe without a role: %+v, want not_found", r)
	}
}

// TestRevokedRoleStopsUpdates: taking a viewer's role away (as the
// command line does, from another connection to the database) closes
// their socket within about a second, and they cannot subscribe again;
// signing out closes the session's sockets at once.
func TestRevokedRoleStopsUpdates(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	u := addUser(t, s, "vera@example.com", pw, access.Viewer)
	vera, vc := signedInSocket(t, s, "vera@example.com", pw)
	vc.subscribe("1", "orders", nil)

	db := s.db(t)
	start := time.Now()
	if err := db.SetMembership(context.Background(), auth.DefaultOrg, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	code, reason := closedWith(t, vc)
	if code != websocket.StatusPolicyViolation || reason != "access changed" {
		t.Fatalf("closed with %d %q, want 1008 access changed", code, reason)
	}
	t.Logf("socket closed %v after the role was taken away", time.Since(start))
	again, _, err := dialAs(t, s, vera)
	if err != nil {
		t.Fatal(err)
	}
	if r := again.request("1", map[string]any{"type": "subscribe", "chart": "orders"}); r.OK || r.Error == nil || r.Error.Code != "not_found" {
		t.Errorf("subscribe after the role was taken away: %+v", r)
	}

	// Sign-out ends the session's sockets.
	if err := db.SetMembership(context.Background(), auth.DefaultOrg, u.ID, access.Viewer); err != nil {
		t.Fatal(err)
	}
	// A role given takes effect when the server sees the change (within
	// about half a second).
	var third *client
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, _, err := dialAs(t, s, vera)
		if err != nil {
			t.Fatal(err)
		}
		if r := c.request("1", map[string]any{"type": "subscribe", "chart": "orders"}); r.OK {
			third = c
			break
		}
		c.ws.Close(websocket.StatusNormalClosure, "")
		if time.Now().After(deadline) {
			t.Fatal("the role given back does not let her subscribe")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _, csrf := page(t, vera, s.URL+"/")
	if r := postForm(t, vera, s.URL+"/logout", url.Values{"csrf_token": {csrf}}, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.StatusCode)
	}
	if code, reason := closedWith(t, third); code != websocket.StatusPolicyViolation || reason != "signed out" {
		t.Errorf("after sign-out: closed with %d %q, want 1008 signed out", code, reason)
	}
}

// TestSessionConnectionLimit: a session holds at most its limit of live
// sockets; the next is refused with a reason.
func TestSessionConnectionLimit(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "vera@example.com", pw, access.Viewer)
	vera := cookieClient(t)
	signIn(t, s, vera, "vera@example.com", pw)
	var open []*client
	for range 10 { // the default limit
		c, _, err := dialAs(t, s, vera)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	_, resp, err := dialAs(t, s, vera)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("eleventh socket: %v, %v; want 429", err, resp)
	}
	open[0].ws.Close(websocket.StatusNormalClosure, "")
	wait.For(t, 5*time.Second, 50*time.Millisecond, func() error {
		if _, _, err := dialAs(t, s, vera); err != nil {
			return fmt.Errorf("a socket closed, but a new one is still refused: %v", err)
		}
		return nil
	})
}

// TestRevokedTokenClosesItsSocket: a machine's socket closes when its
// token is revoked, and the token is refused afterwards.
func TestRevokedTokenClosesItsSocket(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	db := s.db(t)
	secret, hash := auth.NewToken()
	if err := db.CreateToken(ctx, auth.Token{ID: "tok_viewer", OrgID: auth.DefaultOrg, Name: "wall screen", SecretHash: hash, Scopes: []access.Permission{access.ViewCharts}}); err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Authorization": {"Bearer " + secret}}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/live", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	c.read() // hello
	c.subscribe("1", "orders", nil)
	if r := c.request("2", map[string]any{"type": "publish", "chart": "orders", "op": json.RawMessage(`{"op":"append","rows":[["x",1]]}`)}); r.OK || r.Error == nil || r.Error.Code != "forbidden" {
		t.Errorf("publish with a view-only token: %+v, want forbidden", r)
	}
	if err := db.RevokeToken(ctx, auth.DefaultOrg, "tok_viewer"); err != nil {
		t.Fatal(err)
	}
	if code, reason := closedWith(t, c); code != websocket.StatusPolicyViolation || reason != "access changed" {
		t.Errorf("closed with %d %q, want 1008 access changed", code, reason)
	}
	dctx, cancel = context.WithTimeout(ctx, 5*time.Second) // a dial of its own
	defer cancel()
	_, resp, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/live", &websocket.DialOptions{HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a revoked token's socket: %v, %v; want 401", err, resp)
	}
}

// TestGoAPIActsForAUser: Go API calls made As a user are checked like the
// user's own requests; calls without As are the embedding program's.
func TestGoAPIActsForAUser(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	const pw = "a long enough password"
	viewer := addUser(t, s, "vera@example.com", pw, access.Viewer)
	editor := addUser(t, s, "ed@example.com", pw, access.Editor)
	nobody := addUser(t, s, "nora@example.com", pw, "")
	op, err := chart.ParseOp([]byte(seedOp))
	if err != nil {
		t.Fatal(err)
	}
	as := func(u auth.User) ashreports.UpdateOption {
		return ashreports.As(ashreports.Principal{OrgID: auth.DefaultOrg, UserID: u.ID})
	}
	if _, err := s.BroadcastChartUpdate(ctx, "orders", op, as(viewer)); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("update as a viewer: %v, want forbidden", err)
	}
	if _, err := s.BroadcastChartUpdate(ctx, "orders", op, as(nobody)); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("update as a member without role: %v, want not_found", err)
	}
	if _, err := s.BroadcastChartUpdate(ctx, "orders", op, ashreports.As(ashreports.Principal{OrgID: "globex", UserID: editor.ID})); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("update as a user in an organization they are not in: %v, want not_found", err)
	}
	if _, err := s.BroadcastChartUpdate(ctx, "orders", op, as(editor)); err != nil {
		t.Errorf("update as an editor: %v", err)
	}
	if _, err := s.BroadcastChartUpdate(ctx, "orders", op); err != nil {
		t.Errorf("update as the program: %v", err)
	}
	if _, err := s.StartFilteredStream(ctx, "product-performance", map[string]string{"region": "Europe"}, as(nobody)); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("filtered stream as a member without role: %v, want not_found", err)
	}
	fs, err := s.StartFilteredStream(ctx, "product-performance", map[string]string{"region": "Europe"}, as(viewer))
	if err != nil {
		t.Fatalf("filtered stream as a viewer: %v", err)
	}
	fs.Stop()
}

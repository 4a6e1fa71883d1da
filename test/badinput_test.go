package test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/leaktest"
)

const seedOp = `{"op":"replace","data":{"columns":[{"name":"t","type":"string"},{"name":"n","type":"number"}],"rows":[["a",1]]}}`

// badOps are wrong updates, each refused with a code and the field at
// fault, over HTTP and over the socket alike.
var badOps = []struct {
	name      string
	chart     string
	body      string
	status    int
	code      string
	field     string
	inMessage string
}{
	{"malformed JSON", "orders", `{"op":"append","rows":[["b",2]]`, 400, "invalid", "", "malformed JSON"},
	{"not an object", "orders", `[1,2]`, 400, "invalid", "", "object"},
	{"unknown chart", "no-such-chart", `{"op":"append","rows":[["b",2]]}`, 404, "not_found", "", "no-such-chart"},
	{"wrong column type", "orders", `{"op":"append","rows":[["b","two"]]}`, 400, "invalid", "rows[0][1]", "number"},
	{"wrong row length", "orders", `{"op":"append","rows":[["b"]]}`, 400, "invalid", "rows[0]", "want 2"},
	{"unknown op", "orders", `{"op":"merge","rows":[["b",2]]}`, 400, "invalid", "op", "unknown op"},
	{"unknown field", "orders", `{"op":"append","rows":[["b",2]],"priority":"high"}`, 400, "invalid", "priority", "unknown field"},
	{"replace not fitting the config", "orders", `{"op":"replace","data":{"columns":[{"name":"x","type":"number"}],"rows":[]}}`, 400, "invalid", "data.columns", "no column"},
	{"config with bad colour", "orders", `{"op":"config","config":{"type":"line","title":"Orders","encoding":{"x":"t","y":"n"},"colors":["red"]}}`, 400, "invalid", "config.colors[0]", "hex colour"},
	{"remove on chart without key", "errors", `{"op":"remove","keys":[["x"]]}`, 400, "invalid", "keys", "key"},
}

func TestBadUpdatesOverHTTPLeaveStateUnchanged(t *testing.T) {
	s := startServer(t)
	if code, body := post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(seedOp)); code != 200 {
		t.Fatalf("seed: %d %v", code, body)
	}
	wantOff, wantState := getState(t, s.URL, "orders")

	cases := append(badOps[:len(badOps):len(badOps)], struct {
		name, chart, body string
		status            int
		code, field       string
		inMessage         string
	}{"oversized body", "orders", `{"op":"append","rows":[["` + strings.Repeat("x", 1<<20) + `",1]]}`, 413, "too_large", "", "1048576"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, s.URL+"/api/v1/charts/"+tc.chart+"/updates", "application/json", []byte(tc.body))
			checkError(t, code, body["error"], tc.status, tc.code, tc.field, tc.inMessage)
			off, st := getState(t, s.URL, "orders")
			if off != wantOff || cmp.Diff(wantState, st) != "" {
				t.Errorf("state changed: offset %d→%d, diff %s", wantOff, off, cmp.Diff(wantState, st))
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		code, body := post(t, s.URL+"/api/v1/charts/orders/updates", "text/plain", []byte(`{"op":"append","rows":[["b",2]]}`))
		checkError(t, code, body["error"], 415, "unsupported_media_type", "", "text/plain")
	})
	t.Run("no content type", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/charts/orders/updates", strings.NewReader(`{"op":"append","rows":[["b",2]]}`))
		req.Header = bearer()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		checkError(t, resp.StatusCode, body["error"], 415, "unsupported_media_type", "", "not application/json")
		if off, _ := getState(t, s.URL, "orders"); off != wantOff {
			t.Errorf("offset %d after a refused update, want %d", off, wantOff)
		}
	})
	t.Run("push to a query chart", func(t *testing.T) {
		code, body := post(t, s.URL+"/api/v1/charts/product-performance/updates", "application/json", []byte(`{"op":"append","rows":[["x",1]]}`))
		checkError(t, code, body["error"], 400, "invalid", "", "SQL query")
	})
}

func TestBadMessagesOverSocketGetErrorReplies(t *testing.T) {
	s := startServer(t)
	c := dial(t, s.URL)
	c.send(`{"ref":"seed","type":"publish","chart":"orders","op":` + seedOp + `}`)
	if r := c.read(); !r.OK {
		t.Fatalf("seed publish: %+v", r)
	}
	wantOff, wantState := getState(t, s.URL, "orders")

	for i, tc := range badOps {
		t.Run(tc.name, func(t *testing.T) {
			ref := "r" + string(rune('a'+i))
			if tc.name == "malformed JSON" {
				// The whole message is then malformed; the reply still finds its ref.
				c.send(`{"ref":"` + ref + `","type":"publish","chart":"orders","op":{"op":"append"`)
				r := c.read()
				checkSocketError(t, r, ref, "invalid", "", "malformed")
				return
			}
			c.send(`{"ref":"` + ref + `","type":"publish","chart":"` + tc.chart + `","op":` + tc.body + `}`)
			r := c.read()
			field := tc.field
			if tc.code == "invalid" {
				field = strings.TrimSuffix("op."+field, ".")
			}
			checkSocketError(t, r, ref, tc.code, field, tc.inMessage)
			off, st := getState(t, s.URL, "orders")
			if off != wantOff || cmp.Diff(wantState, st) != "" {
				t.Errorf("state changed: offset %d→%d", wantOff, off)
			}
		})
	}

	protocol := []struct {
		name, msg, ref, code, field, inMessage string
	}{
		{"not JSON", `hello`, "", "invalid", "", "malformed"},
		{"missing ref", `{"type":"ping"}`, "", "invalid", "ref", "required"},
		{"unknown type", `{"ref":"u1","type":"shout"}`, "u1", "invalid", "type", "unknown message type"},
		{"unknown field", `{"ref":"u2","type":"ping","loud":true}`, "u2", "invalid", "loud", "unknown field"},
		{"subscribe unknown chart", `{"ref":"u3","type":"subscribe","chart":"nope"}`, "u3", "not_found", "", "nope"},
		{"subscribe unknown filter", `{"ref":"u4","type":"subscribe","chart":"product-performance","filters":{"colour":"red"}}`, "u4", "invalid", "filters.colour", "no filter"},
		{"unsubscribe unknown stream", `{"ref":"u5","type":"unsubscribe","stream":"orders"}`, "u5", "not_found", "stream", "not subscribed"},
		{"publish without op", `{"ref":"u6","type":"publish","chart":"orders"}`, "u6", "invalid", "op", "required"},
		{"oversized message", `{"ref":"u7","type":"publish","chart":"orders","op":{"op":"append","rows":[["` + strings.Repeat("x", 1<<20) + `",1]]}}`, "u7", "too_large", "", "larger than"},
	}
	for _, tc := range protocol {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.msg)
			checkSocketError(t, c.read(), tc.ref, tc.code, tc.field, tc.inMessage)
		})
	}
	// The connection still works after every refusal.
	c.send(`{"ref":"last","type":"ping"}`)
	if r := c.read(); r.Ref != "last" || !r.OK {
		t.Fatalf("ping after errors: %+v", r)
	}
}

func checkError(t *testing.T, status int, e any, wantStatus int, code, field, inMessage string) {
	t.Helper()
	b, _ := json.Marshal(e)
	var body struct{ Code, Message, Field string }
	_ = json.Unmarshal(b, &body)
	if status != wantStatus || body.Code != code || body.Field != field || !strings.Contains(body.Message, inMessage) {
		t.Errorf("got %d %s, want %d code %q field %q message containing %q", status, b, wantStatus, code, field, inMessage)
	}
}

func checkSocketError(t *testing.T, r frame, ref, code, field, inMessage string) {
	t.Helper()
	if r.Type != "reply" || r.Ref != ref || r.OK || r.Error == nil {
		t.Fatalf("got %+v, want an error reply to ref %q", r, ref)
	}
	if r.Error.Code != code || r.Error.Field != field || !strings.Contains(r.Error.Message, inMessage) {
		t.Errorf("error = %+v, want code %q field %q message containing %q", *r.Error, code, field, inMessage)
	}
}

// TestShutdownLeavesNoGoroutines runs a server with a connected viewer,
// the demo generator and a query loop, shuts it down and checks that every
// goroutine it started has ended and the viewer was told.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	s := prepare(t, ashreports.Config{DemoRate: 50, DemoOrg: auth.DefaultOrg}).start(t)
	c := dial(t, s.URL)
	c.subscribe("1", "live-order-rate", nil)
	s.Close() // the server's shutdown, as a signal starts it, then Close
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	for {
		if _, _, err := c.ws.Read(rctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Errorf("viewer saw %v, want close status going away", err)
			}
			break
		}
	}
	leaktest.Verify(t, before)
}

package ashreports_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/leaktest"
	"github.com/ashreports/ashreports/internal/store"
)

func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m)
}

// examples holds the example dashboards of charts without a query
// ("orders", "errors"), which the tests push to.
const examples = "examples/dashboards"

type testServer struct {
	*ashreports.Server
	URL     string
	DataDir string
	cfg     ashreports.Config
	stop    func()
	store   *store.Store // see db
}

// startServer starts a real server on a random loopback port, with the
// demo (generator off) and the push dashboard, both in the default
// organization, where addUser puts users. It stops when the test ends.
func startServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{cfg: ashreports.Config{DataDir: t.TempDir(), DashboardsDir: examples, NoDemoGenerator: true, DemoOrg: "default"}}
	s.DataDir = s.cfg.DataDir
	grantTestToken(t, s.DataDir)
	s.start(t, "127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

// start runs the server on addr.
func (s *testServer) start(t *testing.T, addr string) {
	t.Helper()
	ctx := context.Background()
	srv, err := ashreports.New(ctx, s.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// A restart listens on the port it had; meanwhile another process
	// may hold it briefly, as the local end of a connection.
	var ln net.Listener
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ln, err = net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	var once sync.Once
	s.Server, s.URL = srv, "http://"+ln.Addr().String()
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
			srv.Close()
		})
	}
}

// Stop shuts the server down; it may be called more than once.
func (s *testServer) Stop() { s.stop() }

// db returns the server's store, opened beside it on first use, for a
// test to read or change what the server keeps; it is closed when the
// test ends.
func (s *testServer) db(t *testing.T) *store.Store {
	t.Helper()
	if s.store == nil {
		db, err := store.OpenSQLite(context.Background(), store.Path(s.DataDir))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s.store = db
	}
	return s.store
}

// auditLog returns the organization's audit log, newest first.
func (s *testServer) auditLog(t *testing.T, org string) []audit.Entry {
	t.Helper()
	log, err := s.db(t).AuditLog(context.Background(), org, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// Restart stops the server and starts a new one on the same address and
// data directory.
func (s *testServer) Restart(t *testing.T) {
	t.Helper()
	s.Stop()
	s.start(t, strings.TrimPrefix(s.URL, "http://"))
}

type frame struct {
	Type   string          `json:"type"`
	Ref    string          `json:"ref"`
	OK     bool            `json:"ok"`
	Stream string          `json:"stream"`
	Chart  string          `json:"chart"`
	Epoch  string          `json:"epoch"`
	Offset uint64          `json:"offset"`
	Op     json.RawMessage `json:"op"`
	State  *chart.State    `json:"state"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
	V int `json:"v"`
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
	// lines holds the frames of the last message not yet read: a message
	// carries one or more frames, a line each.
	lines [][]byte
	// held holds the frames request passed over on its way to a reply;
	// they are read first.
	held [][]byte
}

func dial(t *testing.T, base string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/live", &websocket.DialOptions{HTTPHeader: bearer()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(64 << 20)
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	if f := c.read(); f.Type != "hello" || f.V != 1 {
		t.Fatalf("first frame = %+v, want hello v1", f)
	}
	return c
}

func (c *client) send(msg string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, failing the test after 15 s.
func (c *client) read() frame {
	c.t.Helper()
	line := c.readLine()
	var f frame
	if err := json.Unmarshal(line, &f); err != nil {
		c.t.Fatalf("decode frame %s: %v", line, err)
	}
	return f
}

// readLine returns the next frame as sent, failing the test after 15 s.
func (c *client) readLine() []byte {
	c.t.Helper()
	if len(c.held) > 0 {
		line := c.held[0]
		c.held = c.held[1:]
		return line
	}
	for len(c.lines) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, b, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		c.lines = bytes.Split(b, []byte("\n"))
	}
	line := c.lines[0]
	c.lines = c.lines[1:]
	return line
}

// subscribe subscribes and returns the snapshot.
func (c *client) subscribe(ref, chartID string, filters map[string]string) frame {
	c.t.Helper()
	msg, _ := json.Marshal(map[string]any{"ref": ref, "type": "subscribe", "chart": chartID, "filters": filters})
	c.send(string(msg))
	snap := c.read()
	if snap.Type != "snapshot" {
		c.t.Fatalf("subscribe %s: got %+v, want snapshot", chartID, snap)
	}
	if r := c.read(); r.Type != "reply" || r.Ref != ref || !r.OK {
		c.t.Fatalf("subscribe %s: reply %+v", chartID, r)
	}
	return snap
}

func post(t *testing.T, url, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = bearer()
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s: %d, body %q is not JSON", url, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func getState(t *testing.T, base, id string) (uint64, chart.State) {
	t.Helper()
	resp, err := authGet(base + "/api/v1/charts/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Offset uint64      `json:"offset"`
		State  chart.State `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Offset, out.State
}

func TestPublishedOpReachesSubscriberWithNextOffset(t *testing.T) {
	s := startServer(t)
	c := dial(t, s.URL)
	snap := c.subscribe("1", "orders", nil)
	if snap.Offset != 0 || len(snap.State.Data.Rows) != 0 {
		t.Fatalf("snapshot = offset %d rows %v, want an empty chart at 0", snap.Offset, snap.State.Data.Rows)
	}

	replace := `{"op":"replace","data":{"columns":[{"name":"t","type":"string"},{"name":"n","type":"number"}],"rows":[["a",1]]}}`
	code, body := post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(replace))
	if code != 200 || body["offset"] != 1.0 {
		t.Fatalf("POST replace = %d %v, want 200 offset 1", code, body)
	}
	f := c.read()
	if f.Type != "op" || f.Offset != snap.Offset+1 || f.Epoch != snap.Epoch || f.Stream != "orders" {
		t.Fatalf("after replace got %+v, want op at offset 1 in epoch %s", f, snap.Epoch)
	}

	// The Go API goes through the same path and gets the next offset.
	u, err := s.BroadcastChartUpdate(context.Background(), "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"b", 2}}})
	if err != nil || u.Offset != 2 {
		t.Fatalf("BroadcastChartUpdate = %+v, %v; want offset 2", u, err)
	}
	f = c.read()
	var op chart.Op
	if err := json.Unmarshal(f.Op, &op); err != nil {
		t.Fatal(err)
	}
	if f.Offset != 2 || op.Kind != chart.OpAppend || cmp.Diff([][]any{{"b", 2.0}}, op.Rows) != "" {
		t.Fatalf("after broadcast got offset %d op %+v", f.Offset, op)
	}

	// A second viewer joining now gets the whole state at offset 2.
	c2 := dial(t, s.URL)
	snap2 := c2.subscribe("x", "orders", nil)
	want := [][]any{{"a", 1.0}, {"b", 2.0}}
	if snap2.Offset != 2 || cmp.Diff(want, snap2.State.Data.Rows) != "" {
		t.Fatalf("late snapshot = offset %d rows %v, want 2 %v", snap2.Offset, snap2.State.Data.Rows, want)
	}
	// Publishing over the socket reaches both viewers.
	c2.send(`{"ref":"p","type":"publish","chart":"orders","op":{"op":"upsert","rows":[["a",10]]}}`)
	for _, cl := range []*client{c, c2} {
		var got frame
		for got = cl.read(); got.Type == "reply"; got = cl.read() {
			if !got.OK || got.Offset != 3 {
				t.Fatalf("publish reply = %+v, want ok at offset 3", got)
			}
		}
		if got.Type != "op" || got.Offset != 3 {
			t.Fatalf("after socket publish got %+v, want op 3", got)
		}
	}
	off, st := getState(t, s.URL, "orders")
	if off != 3 || cmp.Diff([][]any{{"a", 10.0}, {"b", 2.0}}, st.Data.Rows) != "" {
		t.Fatalf("server state = %d %v", off, st.Data.Rows)
	}
}

func TestSQLRowReachesFilteredChart(t *testing.T) {
	s := startServer(t)
	c := dial(t, s.URL)
	snap := c.subscribe("1", "product-performance", map[string]string{"region": "Europe"})
	if snap.Stream != "product-performance?region=Europe" {
		t.Fatalf("stream = %q", snap.Stream)
	}
	before := totals(t, snap.State.Data)
	if len(before) == 0 {
		t.Fatal("filtered snapshot holds no rows")
	}
	// A filter value is a bound parameter, not SQL: this matches no region.
	inj := dial(t, s.URL)
	if got := inj.subscribe("1", "product-performance", map[string]string{"region": "' OR 1=1 --"}); len(got.State.Data.Rows) != 0 {
		t.Fatalf("injection-shaped filter returned rows %v, want none", got.State.Data.Rows)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "demo-sales.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO sales (date, region, product, amount) VALUES (?, 'Europe', 'Mobile App', 1000)`, time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	// The chart's interval is 5 s; read waits at most 15 s.
	f := c.read()
	if f.Type != "op" || f.Offset != snap.Offset+1 {
		t.Fatalf("after insert got %+v, want the next op", f)
	}
	var op chart.Op
	if err := json.Unmarshal(f.Op, &op); err != nil {
		t.Fatal(err)
	}
	after := totals(t, *op.Data)
	if d := after["Mobile App"] - before["Mobile App"]; d < 999.99 || d > 1000.01 {
		t.Fatalf("Mobile App total went from %v to %v, want +1000", before["Mobile App"], after["Mobile App"])
	}
}

func totals(t *testing.T, tb chart.Table) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, r := range tb.Rows {
		out[r[0].(string)] = r[1].(float64)
	}
	return out
}

// TestPushedStateSurvivesRestart pushes to a chart without a query, stops
// the server and starts a new one on the same data directory.
func TestPushedStateSurvivesRestart(t *testing.T) {
	cfg := ashreports.Config{DataDir: t.TempDir(), DashboardsDir: examples, NoDemo: true}
	grantTestToken(t, cfg.DataDir)
	ctx := context.Background()
	srv, err := ashreports.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	op, err := chart.ParseOp([]byte(seedOp))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.BroadcastChartUpdate(ctx, "orders", op); err != nil {
		t.Fatal(err)
	}
	u, err := srv.BroadcastChartUpdate(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"b", 2}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()

	srv, err = ashreports.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u2, err := srv.BroadcastChartUpdate(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"c", 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if u2.Offset != u.Offset+1 {
		t.Errorf("offset after restart = %d, want %d", u2.Offset, u.Offset+1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	defer func() { cancel(); <-done }()
	_, st := getState(t, "http://"+ln.Addr().String(), "orders")
	want := [][]any{{"a", 1.0}, {"b", 2.0}, {"c", 3.0}}
	if d := cmp.Diff(want, st.Data.Rows); d != "" {
		t.Errorf("rows after restart (-want +got):\n%s", d)
	}
}

func TestRoutes(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		path        string
		status      int
		contentType string
		contains    string
	}{
		{"/healthz", 200, "application/json", `"ok"`},
		{"/readyz", 200, "application/json", `"ready"`},
		{"/", 200, "text/html", `href="/dashboards/sales-analytics"`},
		{"/dashboards/sales-analytics", 200, "text/html", `data-chart-id="live-order-rate"`},
		{"/dashboards/nope", 404, "text/html", "Not found"},
		{"/nope", 404, "text/html", "Not found"},
		{"/assets/app.js", 200, "text/javascript", ""},
		{"/assets/app.css", 200, "text/css", ""},
		{"/api/v1/dashboards", 200, "application/json", `"sales-analytics"`},
		{"/api/v1/dashboards/ops", 200, "application/json", `"orders"`},
		{"/api/v1/dashboards/nope", 404, "application/json", `"not_found"`},
		{"/api/v1/charts/nope", 404, "application/json", `"not_found"`},
		{"/api/v1/nope", 404, "application/json", `"not_found"`},
		{"/live?format=xml", 400, "text/plain", "not json or binary"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := authGet(s.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) || !strings.Contains(string(b), tt.contains) {
				t.Errorf("GET %s = %d %s, body %.200q; want %d %s containing %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.status, tt.contentType, tt.contains)
			}
		})
	}
}

// TestStartFilteredStream starts a filtered stream from Go: it runs its
// query with the filter bound, a viewer with the same filters shares it,
// and a filter the chart does not declare is refused.
func TestStartFilteredStream(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	fs, err := s.StartFilteredStream(ctx, "product-performance", map[string]string{"region": "Europe"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Stop()
	if fs.ID != "product-performance?region=Europe" {
		t.Fatalf("stream id %q", fs.ID)
	}
	c := dial(t, s.URL)
	snap := c.subscribe("1", "product-performance", map[string]string{"region": "Europe"})
	if snap.Stream != fs.ID || snap.Offset != 1 || len(snap.State.Data.Rows) == 0 {
		t.Fatalf("viewer got stream %q at offset %d with %d rows; want the started stream, its first query result",
			snap.Stream, snap.Offset, len(snap.State.Data.Rows))
	}
	if _, err := s.StartFilteredStream(ctx, "product-performance", map[string]string{"colour": "red"}); err == nil || !strings.Contains(err.Error(), "no filter") {
		t.Fatalf("undeclared filter: %v", err)
	}
	if _, err := s.StartFilteredStream(ctx, "nope", nil); err == nil {
		t.Fatal("unknown chart accepted")
	}
	fs.Stop()
	fs.Stop()
}

package test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/dashboard"
)

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
	s := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemo: true}).start(t)
	ctx := context.Background()
	op, err := chart.ParseOp([]byte(seedOp))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BroadcastChartUpdate(ctx, "orders", op); err != nil {
		t.Fatal(err)
	}
	u, err := s.BroadcastChartUpdate(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"b", 2}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Restart()
	u2, err := s.BroadcastChartUpdate(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"c", 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if u2.Offset != u.Offset+1 {
		t.Errorf("offset after restart = %d, want %d", u2.Offset, u.Offset+1)
	}
	_, st := getState(t, s.URL, "orders")
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

// TestExampleDashboards: the example of examples/dashboards, which the
// README starts the server with, is the tests' fixture, so that what they
// show of it holds.
func TestExampleDashboards(t *testing.T) {
	example, err := dashboard.LoadDir(os.DirFS("../examples/dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := dashboard.LoadDir(os.DirFS(fixtures))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fixture, example); d != "" {
		t.Errorf("examples/dashboards differs from the tests' fixture (-fixture +example):\n%s", d)
	}
}

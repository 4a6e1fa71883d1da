package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/apperr/apperrtest"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/leaktest"
	"github.com/ashreports/ashreports/internal/wait"
)

var epochRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

func TestApplyPublishesOpsWithNextOffset(t *testing.T) {
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil)
	ctx := context.Background()
	cols := []chart.Column{{Name: "t", Type: chart.Time}, {Name: "n", Type: chart.Number}}
	ops := []struct {
		op     chart.Op
		wantOp string
	}{
		{
			op:     chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{{"2024-01-01", 1.0}}}},
			wantOp: `{"op":"replace","data":{"columns":[{"name":"t","type":"time"},{"name":"n","type":"number"}],"rows":[["2024-01-01",1]]}}`,
		},
		{
			op:     chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-02", 2.0}}},
			wantOp: `{"op":"append","rows":[["2024-01-02",2]]}`,
		},
		{
			op:     chart.Op{Kind: chart.OpUpsert, Rows: [][]any{{"2024-01-01", 5.0}}},
			wantOp: `{"op":"upsert","rows":[["2024-01-01",5]]}`,
		},
	}
	wantStream := Stream{ID: "orders", ChartID: "orders", Subject: "ash.chart.orders._"}
	var epoch string
	for i, tt := range ops {
		st, off, err := e.Apply(ctx, "orders", tt.op, Normal)
		if err != nil {
			t.Fatalf("op %d: Apply: %v", i, err)
		}
		if want := uint64(i + 1); off != want {
			t.Errorf("op %d: offset %d, want %d", i, off, want)
		}
		if d := cmp.Diff(wantStream, st); d != "" {
			t.Errorf("op %d: stream (-want +got):\n%s", i, d)
		}
		pubs := e.broker.Published()
		if len(pubs) != i+1 {
			t.Fatalf("op %d: %d publishes, want %d", i, len(pubs), i+1)
		}
		p := pubs[i]
		if p.Subject != wantStream.Subject || p.Offset != off {
			t.Errorf("op %d: published on %q at offset %d, want %q at %d", i, p.Subject, p.Offset, wantStream.Subject, off)
		}
		frame := decode(t, p.Frame)
		if i == 0 {
			epoch, _ = frame["epoch"].(string)
			if !epochRE.MatchString(epoch) {
				t.Fatalf("epoch %q is not 12 hex digits", epoch)
			}
		}
		want := map[string]any{
			"type":   "op",
			"stream": "orders",
			"chart":  "orders",
			"epoch":  epoch,
			"offset": float64(i + 1),
			"ts":     float64(e.now.UnixMilli()),
			"op":     jsonValue(t, tt.wantOp),
		}
		if d := cmp.Diff(want, frame); d != "" {
			t.Errorf("op %d: frame (-want +got):\n%s", i, d)
		}
	}

	st, off, err := e.State(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if off != 3 {
		t.Errorf("State offset %d, want 3", off)
	}
	want := chart.State{Config: ordersChart().Config, Data: chart.Table{Columns: cols, Rows: [][]any{{"2024-01-01", 5.0}, {"2024-01-02", 2.0}}}}
	if d := cmp.Diff(want, st); d != "" {
		t.Errorf("State (-want +got):\n%s", d)
	}
}

func TestApplyInvalidOpChangesNothing(t *testing.T) {
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil)
	ctx := context.Background()
	cols := []chart.Column{{Name: "t", Type: chart.Time}, {Name: "n", Type: chart.Number}}
	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{{"2024-01-01", 1.0}}}}, Normal); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		op    chart.Op
		field string
	}{
		{"no kind", chart.Op{}, "op"},
		{"unknown kind", chart.Op{Kind: "truncate"}, "op"},
		{"append without rows", chart.Op{Kind: chart.OpAppend}, "rows"},
		{"value of the wrong type", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-02", "two"}}}, "rows[0][1]"},
		{"row too short", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-02", 2.0}, {"2024-01-03"}}}, "rows[1]"},
		{"replace whose columns do not fit the config", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: []chart.Column{{Name: "a", Type: chart.String}}, Rows: [][]any{}}}, "data.columns"},
		{"config with an unknown type", chart.Op{Kind: chart.OpConfig, Config: &chart.Config{Type: "donut", Title: "X"}}, "config.type"},
		{"remove with a key of the wrong type", chart.Op{Kind: chart.OpRemove, Keys: [][]any{{1.0}}}, "keys[0][0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeOff, err := e.State(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			pubs := len(e.broker.Published())

			st, off, err := e.Apply(ctx, "orders", tt.op, Normal)
			fe, ok := err.(*chart.FieldError)
			if !ok {
				t.Fatalf("Apply: %T %v, want a *chart.FieldError", err, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field %q (%s), want %q", fe.Field, fe.Message, tt.field)
			}
			if off != 0 {
				t.Errorf("offset %d returned with the error, want 0", off)
			}
			if st.ID != "orders" {
				t.Errorf("stream %+v, want the orders stream", st)
			}
			if n := len(e.broker.Published()); n != pubs {
				t.Errorf("%d publishes after a failed op, want %d", n, pubs)
			}
			after, afterOff, err := e.State(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			if afterOff != beforeOff {
				t.Errorf("offset changed from %d to %d", beforeOff, afterOff)
			}
			if d := cmp.Diff(before, after); d != "" {
				t.Errorf("state changed (-before +after):\n%s", d)
			}
		})
	}
	// The next valid op gets the next offset: failed ops used none.
	_, off, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-02", 2.0}}}, Normal)
	if err != nil || off != 2 {
		t.Errorf("Apply after failed ops = offset %d, %v; want offset 2", off, err)
	}
}

func TestUnknownChart(t *testing.T) {
	// Definitions that would answer for invalid ids: the engine must not
	// ask for them.
	bad := ordersChart()
	e := newEnv(t, fakeDefinitions{"orders": ordersChart(), "Bad ID": bad, "../orders": bad, "": bad}, nil)
	ctx := context.Background()
	op := chart.Op{Kind: chart.OpAppend, Rows: [][]any{}}
	for _, id := range []string{"nope", "Bad ID", "", "../orders"} {
		t.Run(id, func(t *testing.T) {
			_, off, err := e.Apply(ctx, id, op, Normal)
			apperrtest.Want(t, err, apperr.NotFound)
			if off != 0 {
				t.Errorf("offset %d", off)
			}
			_, _, err = e.State(ctx, id)
			apperrtest.Want(t, err, apperr.NotFound)
			_, err = e.Acquire(ctx, id, nil)
			apperrtest.Want(t, err, apperr.NotFound)
		})
	}
	if n := len(e.broker.Published()); n != 0 {
		t.Errorf("%d publishes, want none", n)
	}
	_, _, err := e.Snapshot("nope")
	apperrtest.Want(t, err, apperr.NotFound)
}

func TestApplyPublishFailure(t *testing.T) {
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil)
	ctx := context.Background()
	cols := []chart.Column{{Name: "t", Type: chart.Time}, {Name: "n", Type: chart.Number}}
	down := errors.New("broker down")
	e.broker.PublishFn = func(context.Context, string, uint64, []byte) error { return down }

	_, off, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{}}}, Normal)
	apperrtest.Want(t, err, apperr.Unavailable)
	if errors.Is(err, down) {
		t.Error("the broker's error reaches the caller")
	}
	if off != 0 {
		t.Errorf("offset %d returned with the error, want 0", off)
	}
	// The op is not applied: the state holds only what viewers got.
	if st, off, _ := e.State(ctx, "orders"); off != 0 || len(st.Data.Columns) != 0 {
		t.Errorf("State after an unpublished op = offset %d, columns %v; want offset 0 and no columns", off, st.Data.Columns)
	}
	e.broker.PublishFn = nil
	_, off, err = e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{{"2024-01-01", 1.0}}}}, Normal)
	if err != nil || off != 1 {
		t.Errorf("Apply after the broker recovered = offset %d, %v; want 1", off, err)
	}
	var logged bool
	for _, r := range e.log.Records(t) {
		if r["msg"] == "publish op" && r["level"] == "ERROR" && r["err"] == "broker down" {
			logged = true
		}
	}
	if !logged {
		t.Error("the publish failure was not logged")
	}
}

func TestSnapshot(t *testing.T) {
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil)
	ctx := context.Background()
	st, err := e.Acquire(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(st.ID)

	first, off, err := e.Snapshot(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if off != 0 {
		t.Errorf("offset %d, want 0", off)
	}
	frame := decode(t, first)
	epoch, _ := frame["epoch"].(string)
	if !epochRE.MatchString(epoch) {
		t.Fatalf("epoch %q is not 12 hex digits", epoch)
	}
	want := map[string]any{
		"type":   "snapshot",
		"stream": "orders",
		"chart":  "orders",
		"epoch":  epoch,
		"offset": 0.0,
		"state": jsonValue(t, `{
			"config": {"type": "line", "title": "Orders", "encoding": {"x": "t", "y": "n"}, "key": ["t"]},
			"data": {"columns": [], "rows": []}
		}`),
	}
	if d := cmp.Diff(want, frame); d != "" {
		t.Errorf("empty snapshot (-want +got):\n%s", d)
	}

	again, off, err := e.Snapshot(st.ID)
	if err != nil || off != 0 {
		t.Fatalf("second Snapshot: offset %d, %v", off, err)
	}
	if &again[0] != &first[0] || string(again) != string(first) {
		t.Error("a second Snapshot with no op in between encoded the snapshot again")
	}

	cols := []chart.Column{{Name: "t", Type: chart.Time}, {Name: "n", Type: chart.Number}}
	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{{"2024-01-01", 3.0}}}}, Normal); err != nil {
		t.Fatal(err)
	}
	next, off, err := e.Snapshot(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if off != 1 {
		t.Errorf("offset after an op %d, want 1", off)
	}
	want["offset"] = 1.0
	want["state"].(map[string]any)["data"] = jsonValue(t, `{"columns": [{"name": "t", "type": "time"}, {"name": "n", "type": "number"}], "rows": [["2024-01-01", 3]]}`)
	if d := cmp.Diff(want, decode(t, next)); d != "" {
		t.Errorf("snapshot after an op (-want +got):\n%s", d)
	}
	if opEpoch := decode(t, e.broker.Published()[0].Frame)["epoch"]; opEpoch != epoch {
		t.Errorf("op frame epoch %v, snapshot epoch %s", opEpoch, epoch)
	}
	// A failed op changes nothing, so the cached snapshot stays.
	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"bad"}}}, Normal); err == nil {
		t.Fatal("invalid op applied")
	}
	if last, _, _ := e.Snapshot(st.ID); &last[0] != &next[0] {
		t.Error("a failed op invalidated the cached snapshot")
	}
}

func TestStreamID(t *testing.T) {
	tests := []struct {
		name      string
		effective map[string]string
		want      string
	}{
		{"nil filters", nil, "sales"},
		{"empty filters", map[string]string{}, "sales"},
		{"one filter", map[string]string{"region": "EU"}, "sales?region=EU"},
		{"sorted by name", map[string]string{"region": "EU", "limit": "5", "a": "1"}, "sales?a=1&limit=5&region=EU"},
		{"url-encoded", map[string]string{"region": "Asia Pacific", "q": "a&b=c?d%"}, "sales?q=a%26b%3Dc%3Fd%25&region=Asia+Pacific"},
		{"empty value that is not a default", map[string]string{"region": ""}, "sales?region="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // map order must not matter
				if got := StreamID("sales", tt.effective); got != tt.want {
					t.Fatalf("StreamID = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestAcquireStreamsByEffectiveFilters(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(1), nil
	}}
	// An hour: each loop runs its first query only.
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	ctx := context.Background()
	hashed := regexp.MustCompile(`^ash\.chart\.sales\.[0-9a-f]{16}$`)
	var releases []string
	defer func() {
		for _, id := range releases {
			e.Release(id)
		}
	}()
	tests := []struct {
		name    string
		filters map[string]string
		wantID  string
	}{
		{"no filters", nil, "sales"},
		{"a filter equal to its default is no filter", map[string]string{"region": ""}, "sales"},
		{"every filter equal to its default", map[string]string{"region": "", "limit": "10"}, "sales"},
		{"one filter", map[string]string{"region": "EU"}, "sales?region=EU"},
		{"the same filter with a default", map[string]string{"region": "EU", "limit": "10"}, "sales?region=EU"},
		{"two filters", map[string]string{"limit": "5", "region": "EU"}, "sales?limit=5&region=EU"},
	}
	subjects := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := e.Acquire(ctx, "sales", tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			// Held until the end, so that later cases find the stream.
			releases = append(releases, st.ID)
			if st.ID != tt.wantID || st.ChartID != "sales" {
				t.Errorf("stream %+v, want id %q of chart sales", st, tt.wantID)
			}
			switch {
			case st.ID == "sales" && st.Subject != "ash.chart.sales._":
				t.Errorf("base subject %q", st.Subject)
			case st.ID != "sales" && !hashed.MatchString(st.Subject):
				t.Errorf("filtered subject %q, want ash.chart.sales.<16 hex>", st.Subject)
			}
			if prev, ok := subjects[st.ID]; ok && prev != st.Subject {
				t.Errorf("stream %s has subjects %s and %s", st.ID, prev, st.Subject)
			}
			subjects[st.ID] = st.Subject
		})
	}
	seen := map[string]bool{}
	for _, s := range subjects {
		if seen[s] {
			t.Errorf("two streams share subject %s", s)
		}
		seen[s] = true
	}
	// One query per stream, each with its full parameter set.
	want := []queryCall{
		{Params: map[string]string{"region": "", "limit": "10"}},
		{Params: map[string]string{"region": "EU", "limit": "10"}},
		{Params: map[string]string{"region": "EU", "limit": "5"}},
	}
	got := q.Calls()
	for i := range got {
		if got[i].Source != "shop" || got[i].SQL != salesChart(0).Query.SQL {
			t.Errorf("call %d ran %q on %q", i, got[i].SQL, got[i].Source)
		}
		got[i].Source, got[i].SQL = "", ""
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("queries (-want +got):\n%s", d)
	}

	t.Run("unknown filter", func(t *testing.T) {
		_, err := e.Acquire(ctx, "sales", map[string]string{"colour": "red"})
		fe, ok := err.(*chart.FieldError)
		if !ok || fe.Field != "filters.colour" {
			t.Fatalf("Acquire: %v, want a field error on filters.colour", err)
		}
		if n := q.Count(); n != 3 {
			t.Errorf("%d queries, want still 3", n)
		}
	})
}

func TestAcquireRunsTheQueryFirst(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(4, 2), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	st, err := e.Acquire(context.Background(), "sales", map[string]string{"region": "EU"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(st.ID)

	snap, off, err := e.Snapshot(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if off != 1 {
		t.Errorf("snapshot offset %d, want 1", off)
	}
	data := decode(t, snap)["state"].(map[string]any)["data"]
	wantData := jsonValue(t, `{"columns": [{"name": "region", "type": "string"}, {"name": "total", "type": "number"}], "rows": [["R0", 4], ["R1", 2]]}`)
	if d := cmp.Diff(wantData, data); d != "" {
		t.Errorf("snapshot data (-want +got):\n%s", d)
	}
	pubs := e.broker.Published()
	if len(pubs) != 1 || pubs[0].Subject != st.Subject || pubs[0].Offset != 1 {
		t.Fatalf("publishes %+v, want one replace at offset 1 on %s", pubs, st.Subject)
	}
	f := decode(t, pubs[0].Frame)
	if d := cmp.Diff(map[string]any{"op": "replace", "data": wantData}, f["op"]); d != "" {
		t.Errorf("published op (-want +got):\n%s", d)
	}
	if f["stream"] != "sales?region=EU" || f["chart"] != "sales" {
		t.Errorf("frame stream %v chart %v", f["stream"], f["chart"])
	}
}

// A read of a SQL-bound chart that no one views (the REST state, a CSV
// export) runs its query, each time, and leaves no loop running; one that
// viewers keep running is read as it stands.
func TestStateOfAnUnviewedQueryChartRunsItsQuery(t *testing.T) {
	var total atomic.Int64
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(float64(total.Add(1))), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	ctx := context.Background()
	for want := 1.0; want <= 2; want++ {
		st, _, err := e.State(ctx, "sales")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Data.Rows) != 1 || st.Data.Rows[0][1] != want {
			t.Errorf("read %v: rows %v, want the query's %v", want, st.Data.Rows, want)
		}
		if e.streams["sales"].stop != nil {
			t.Errorf("read %v left the query loop running", want)
		}
	}
	v, err := e.Acquire(ctx, "sales", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(v.ID)
	if _, _, err := e.State(ctx, "sales"); err != nil || q.Count() != 3 {
		t.Errorf("a read of a viewed chart: %v, %d queries, want the viewer's 3rd only", err, q.Count())
	}
}

func TestAcquirePushChartRunsNoQuery(t *testing.T) {
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil) // the querier fails the test if called
	ctx := context.Background()
	st, err := e.Acquire(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Release(st.ID)
	e.Release(st.ID) // more releases than acquires are ignored
	e.Release("no-such-stream")
	if _, _, err := e.Snapshot(st.ID); err != nil {
		t.Errorf("the base stream was dropped: %v", err)
	}
}

func TestEqualFiltersShareOneStreamAndLoop(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(1), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	ctx := context.Background()
	a, err := e.Acquire(ctx, "sales", map[string]string{"region": "EU"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(a.ID)
	b, err := e.Acquire(ctx, "sales", map[string]string{"limit": "10", "region": "EU"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(b.ID)
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("equal filters, different streams (-first +second):\n%s", d)
	}
	want := []queryCall{{Source: "shop", SQL: salesChart(0).Query.SQL, Params: map[string]string{"region": "EU", "limit": "10"}}}
	if d := cmp.Diff(want, q.Calls()); d != "" {
		t.Errorf("queries (-want +got): a second viewer must not start a loop\n%s", d)
	}
	if n := len(e.broker.Published()); n != 1 {
		t.Errorf("%d publishes, want 1", n)
	}
}

func TestRefreshPublishesOnlyChanges(t *testing.T) {
	q, results := steppedQuerier()
	e := newEnv(t, fakeDefinitions{"sales": salesChart(dashboard.MinInterval)}, q)
	giveAsync(t, results, result{table: salesTable(1)})
	st, err := e.Acquire(context.Background(), "sales", map[string]string{"region": "EU"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(st.ID)

	wantPublished := func(totals ...float64) {
		t.Helper()
		pubs := e.broker.Published()
		if len(pubs) != len(totals) {
			t.Fatalf("%d publishes, want %d", len(pubs), len(totals))
		}
		for i, total := range totals {
			f := decode(t, pubs[i].Frame)
			want := map[string]any{"op": "replace", "data": jsonValue(t, fmt.Sprintf(`{"columns": [{"name": "region", "type": "string"}, {"name": "total", "type": "number"}], "rows": [["R0", %v]]}`, total))}
			if d := cmp.Diff(want, f["op"]); d != "" {
				t.Errorf("publish %d op (-want +got):\n%s", i, d)
			}
			if pubs[i].Offset != uint64(i+1) || f["offset"] != float64(i+1) {
				t.Errorf("publish %d at offset %d (frame %v), want %d", i, pubs[i].Offset, f["offset"], i+1)
			}
		}
	}
	wantPublished(1)

	give(t, results, result{table: salesTable(1)})
	give(t, results, result{table: salesTable(1)}) // the refresh before has ended
	wantPublished(1)

	give(t, results, result{table: salesTable(2)})
	give(t, results, result{table: salesTable(2)})
	wantPublished(1, 2)
	give(t, results, result{table: salesTable(2)})
	wantPublished(1, 2)

	give(t, results, result{table: salesTable(1)}) // back to the first result: a change too
	give(t, results, result{table: salesTable(1)})
	wantPublished(1, 2, 1)

	if _, off, _ := e.Snapshot(st.ID); off != 3 {
		t.Errorf("snapshot offset %d, want 3", off)
	}
}

func TestReleaseStopsTheLoop(t *testing.T) {
	interval := dashboard.MinInterval
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(1), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(interval)}, q)
	ctx := context.Background()
	atLeast := func(n int) func() error {
		return func() error {
			if got := q.Count(); got < n {
				return fmt.Errorf("%d queries, want at least %d", got, n)
			}
			return nil
		}
	}
	// stopped checks that no query loop is left and that the query count
	// then stays fixed across several intervals.
	stopped := func(before goleak.Option) {
		t.Helper()
		leaktest.Verify(t, before)
		n := q.Count()
		holdsFor(t, 5*interval, interval/4, func() error {
			if got := q.Count(); got != n {
				return fmt.Errorf("%d queries after the last viewer left, then %d: the loop still runs", n, got)
			}
			return nil
		})
	}

	t.Run("filtered stream", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		start := q.Count()
		filters := map[string]string{"region": "EU"}
		a, err := e.Acquire(ctx, "sales", filters)
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Acquire(ctx, "sales", filters)
		if err != nil {
			t.Fatal(err)
		}
		wait.For(t, 10*time.Second, 10*time.Millisecond, atLeast(start+3))

		e.Release(a.ID)
		wait.For(t, 10*time.Second, 10*time.Millisecond, atLeast(q.Count()+2)) // one viewer left: still running
		if _, _, err := e.Snapshot(b.ID); err != nil {
			t.Fatalf("stream dropped while it has a viewer: %v", err)
		}

		e.Release(b.ID)
		stopped(before)
		_, _, err = e.Snapshot(b.ID)
		apperrtest.Want(t, err, apperr.NotFound)
	})

	t.Run("base stream is kept and restarts", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		a, err := e.Acquire(ctx, "sales", nil)
		if err != nil {
			t.Fatal(err)
		}
		wait.For(t, 10*time.Second, 10*time.Millisecond, atLeast(q.Count()+2))
		e.Release(a.ID)
		stopped(before)
		_, off, err := e.Snapshot(a.ID)
		if err != nil || off != 1 {
			t.Fatalf("base stream after its last viewer left: offset %d, %v; want kept at offset 1", off, err)
		}

		n := q.Count()
		a, err = e.Acquire(ctx, "sales", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Count(); got <= n {
			t.Errorf("Acquire of a stopped stream returned before running its query")
		}
		wait.For(t, 10*time.Second, 10*time.Millisecond, atLeast(n+3))
		e.Release(a.ID)
		stopped(before)
		// The result never changed: one replace in all.
		var base int
		for _, p := range e.broker.Published() {
			if p.Subject == a.Subject {
				base++
			}
		}
		if base != 1 {
			t.Errorf("%d publishes on the base stream, want 1", base)
		}
	})
}

func TestQueryErrorsAreLoggedOncePerMessage(t *testing.T) {
	q, results := steppedQuerier()
	e := newEnv(t, fakeDefinitions{"sales": salesChart(dashboard.MinInterval)}, q)
	errA := result{err: errors.New("no such table: totals")}
	errB := result{err: errors.New("database is locked")}

	giveAsync(t, results, errA)
	st, err := e.Acquire(context.Background(), "sales", nil)
	if err != nil {
		t.Fatalf("Acquire with a failing query: %v", err)
	}
	defer e.Release(st.ID)
	if _, off, _ := e.Snapshot(st.ID); off != 0 {
		t.Errorf("snapshot offset %d after a failed query, want 0", off)
	}

	warnings := func() []string {
		var out []string
		for _, r := range e.log.Records(t) {
			if r["msg"] != "chart query failed" {
				continue
			}
			if r["level"] != "WARN" || r["stream"] != "sales" {
				t.Errorf("log record %v, want level WARN and stream sales", r)
			}
			out = append(out, fmt.Sprint(r["err"]))
		}
		return out
	}
	for _, r := range []result{errA, errA, errB, errB, errB} {
		give(t, results, r)
	}
	if d := cmp.Diff([]string{errA.err.Error(), errB.err.Error()}, warnings()); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
	if n := len(e.broker.Published()); n != 0 {
		t.Errorf("%d publishes from failed queries, want none", n)
	}

	// A success publishes; the same failure after it is news again.
	give(t, results, result{table: salesTable(1)})
	give(t, results, result{table: salesTable(1)})
	if n := len(e.broker.Published()); n != 1 {
		t.Errorf("%d publishes after the query recovered, want 1", n)
	}
	give(t, results, errB)
	give(t, results, errB)
	if d := cmp.Diff([]string{errA.err.Error(), errB.err.Error(), errB.err.Error()}, warnings()); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
}

// TestRejectedResultIsLoggedOnce checks that a query whose result does not
// fit the chart, which fails the same way every interval, is logged once
// like any other query failure.
func TestRejectedResultIsLoggedOnce(t *testing.T) {
	q, results := steppedQuerier()
	e := newEnv(t, fakeDefinitions{"sales": salesChart(dashboard.MinInterval)}, q)
	// total is a string, but the bar chart's y must be a number.
	bad := func() result {
		return result{table: chart.Table{
			Columns: []chart.Column{{Name: "region", Type: chart.String}, {Name: "total", Type: chart.String}},
			Rows:    [][]any{{"EU", "many"}},
		}}
	}
	giveAsync(t, results, bad())
	st, err := e.Acquire(context.Background(), "sales", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(st.ID)
	for range 4 {
		give(t, results, bad())
	}
	var n int
	for _, r := range e.log.Records(t) {
		if r["msg"] == "chart query failed" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the same rejected result was logged %d times in 5 refreshes, want once", n)
	}
	if p := len(e.broker.Published()); p != 0 {
		t.Errorf("%d publishes of a rejected result", p)
	}
}

func TestAcquireCancelledWhileWaitingForTheFirstQuery(t *testing.T) {
	started := make(chan struct{})
	stopped := make(chan struct{})
	var calls sync.Mutex
	first := true
	q := &fakeQuerier{QueryFn: func(ctx context.Context, _, _ string, _ map[string]string) (chart.Table, error) {
		calls.Lock()
		isFirst := first
		first = false
		calls.Unlock()
		if !isFirst {
			return salesTable(1), nil
		}
		close(started)
		<-ctx.Done() // only the loop's stop ends this query
		close(stopped)
		return chart.Table{}, ctx.Err()
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	filters := map[string]string{"region": "EU"}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := e.Acquire(ctx, "sales", filters)
	apperrtest.Want(t, err, apperr.Unavailable)
	receive(t, stopped, "stop of the abandoned Acquire's query loop")
	_, _, err = e.Snapshot(StreamID("sales", filters))
	apperrtest.Want(t, err, apperr.NotFound)

	// The next viewer starts afresh.
	st, err := e.Acquire(context.Background(), "sales", filters)
	if err != nil {
		t.Fatal(err)
	}
	if _, off, _ := e.Snapshot(st.ID); off != 1 {
		t.Errorf("snapshot offset %d, want 1", off)
	}
	e.Release(st.ID)

	// Once every loop has ended, the log shows that the stopped query was
	// not reported as a failure.
	e.Close()
	for _, r := range e.log.Records(t) {
		if r["msg"] == "chart query failed" {
			t.Errorf("a stopped query was logged as failed: %v", r)
		}
	}
}

func TestCloseWaitsForQueryLoops(t *testing.T) {
	before := goleak.IgnoreCurrent()
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	seen := map[string]bool{}
	waiting := make(chan struct{}, 2)   // a loop is in its second query
	cancelled := make(chan struct{}, 2) // a loop's context ended
	gate := make(chan struct{})
	q := &fakeQuerier{QueryFn: func(ctx context.Context, _, _ string, p map[string]string) (chart.Table, error) {
		if ctx.Err() != nil { // a last tick after the stop
			return chart.Table{}, ctx.Err()
		}
		mu.Lock()
		again := seen[p["region"]]
		seen[p["region"]] = true
		mu.Unlock()
		if !again {
			return salesTable(1), nil
		}
		waiting <- struct{}{}
		<-ctx.Done()
		cancelled <- struct{}{}
		<-gate
		record("query returned")
		return chart.Table{}, ctx.Err()
	}}
	e := New(Config{Broker: &fakeBroker{}, Definitions: fakeDefinitions{"sales": salesChart(dashboard.MinInterval)}, Querier: q})
	for _, f := range []map[string]string{nil, {"region": "EU"}} {
		if _, err := e.Acquire(context.Background(), "sales", f); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		receive(t, waiting, "query waiting on its context")
	}

	closed := make(chan struct{})
	go func() {
		e.Close()
		record("Close returned")
		close(closed)
	}()
	for range 2 {
		receive(t, cancelled, "cancelled query")
	}
	close(gate)
	receive(t, closed, "return of Close")

	if d := cmp.Diff([]string{"query returned", "query returned", "Close returned"}, order); d != "" {
		t.Errorf("order of events (-want +got):\n%s", d)
	}
	leaktest.Verify(t, before)
}

// TestConcurrentApplyPublishesInOffsetOrder checks that the broker sees the
// ops of a stream one at a time, in offset order, whatever the number of
// publishers.
func TestConcurrentApplyPublishesInOffsetOrder(t *testing.T) {
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil)
	ctx := context.Background()
	cols := []chart.Column{{Name: "t", Type: chart.Time}, {Name: "n", Type: chart.Number}}
	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{}}}, Normal); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				op := chart.Op{Kind: chart.OpAppend, Rows: [][]any{{"2024-01-01", float64(w*each + i)}}}
				if _, _, err := e.Apply(ctx, "orders", op, Normal); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	pubs := e.broker.Published()
	if len(pubs) != 1+workers*each {
		t.Fatalf("%d publishes, want %d", len(pubs), 1+workers*each)
	}
	for i, p := range pubs {
		if p.Offset != uint64(i+1) {
			t.Fatalf("publish %d has offset %d: out of order", i, p.Offset)
		}
		if f := decode(t, p.Frame); f["offset"] != float64(i+1) {
			t.Fatalf("publish %d carries offset %v", i, f["offset"])
		}
	}
	if _, off, _ := e.State(ctx, "orders"); off != uint64(len(pubs)) {
		t.Errorf("State offset %d, want %d", off, len(pubs))
	}
}

// TestQueryResultTypesAreCast checks that a query's declared column types
// apply to its result before it reaches the chart, and that a result that
// does not fit them is a logged failure.
func TestQueryResultTypesAreCast(t *testing.T) {
	def := dashboard.Chart{
		ID:     "daily",
		Width:  6,
		Config: chart.Config{Type: chart.Line, Title: "Daily", Encoding: chart.Encoding{X: "day", Y: "total"}},
		Query: &dashboard.Query{
			Source:   "shop",
			SQL:      "SELECT day, total FROM daily",
			Interval: dashboard.Duration(dashboard.MinInterval),
			Types:    map[string]chart.ColumnType{"day": chart.Time},
		},
	}
	text := func(day string) result {
		return result{table: chart.Table{
			Columns: []chart.Column{{Name: "day", Type: chart.String}, {Name: "total", Type: chart.Number}},
			Rows:    [][]any{{day, 5.0}},
		}}
	}
	q, results := steppedQuerier()
	e := newEnv(t, fakeDefinitions{"daily": def}, q)
	giveAsync(t, results, text("2024-01-02"))
	st, err := e.Acquire(context.Background(), "daily", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(st.ID)

	snap, _, err := e.Snapshot(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := jsonValue(t, `{"columns": [{"name": "day", "type": "time"}, {"name": "total", "type": "number"}], "rows": [["2024-01-02", 5]]}`)
	if d := cmp.Diff(want, decode(t, snap)["state"].(map[string]any)["data"]); d != "" {
		t.Errorf("data (-want +got):\n%s", d)
	}

	give(t, results, text("2 January"))
	give(t, results, text("2 January"))
	if n := len(e.broker.Published()); n != 1 {
		t.Errorf("%d publishes, want only the first result", n)
	}
	var warned bool
	for _, r := range e.log.Records(t) {
		if r["msg"] == "chart query failed" {
			warned = true
		}
	}
	if !warned {
		t.Error("a result that does not fit the declared types was not logged")
	}
}

// TestOversizedFrameIsRefused checks that an op whose frame is over the
// broker's limit is refused before it changes the state, and that frames
// are not HTML-escaped (which would make them up to six times larger).
func TestOversizedFrameIsRefused(t *testing.T) {
	var frames [][]byte
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil)
	e.broker.PublishFn = func(_ context.Context, _ string, _ uint64, f []byte) error {
		frames = append(frames, f)
		return nil
	}
	ctx := context.Background()
	cols := []chart.Column{{Name: "t", Type: chart.String}, {Name: "n", Type: chart.Number}}
	small := &chart.Table{Columns: cols, Rows: [][]any{{"<a&b>", 1.0}}}
	if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: small}, Normal); err != nil {
		t.Fatal(err)
	}
	if len(frames) != 1 || !strings.Contains(string(frames[0]), `"<a&b>"`) {
		t.Fatalf("frame %s does not hold the value unescaped", frames)
	}

	// A broker of its own: the first one's history holds the op above.
	limited := New(Config{Broker: &fakeBroker{PublishFn: e.broker.PublishFn}, Definitions: fakeDefinitions{"orders": ordersChart()}, MaxFrameBytes: 1000})
	defer limited.Close()
	big := &chart.Table{Columns: cols, Rows: [][]any{{strings.Repeat("x", 1000), 1.0}}}
	_, _, err := limited.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: big}, Normal)
	apperrtest.Want(t, err, apperr.TooLarge)
	if st, off, _ := limited.State(ctx, "orders"); off != 0 || len(st.Data.Rows) != 0 {
		t.Fatalf("state after a refused op = offset %d, %d rows; want unchanged", off, len(st.Data.Rows))
	}
	if len(frames) != 1 {
		t.Fatalf("%d frames published, want the refused op not published", len(frames))
	}
}

// TestFilteredStreamsPerChartAreBounded checks that a chart's filtered
// streams are capped, and that a released one makes room again.
func TestFilteredStreamsPerChartAreBounded(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return chart.Table{Columns: []chart.Column{{Name: "region", Type: chart.String}, {Name: "total", Type: chart.Number}}, Rows: [][]any{}}, nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	// A broker of its own: the first one's history holds the op above.
	limited := New(Config{Broker: &fakeBroker{PublishFn: e.broker.PublishFn}, Definitions: fakeDefinitions{"sales": salesChart(time.Hour)}, Querier: q, MaxFilteredStreams: 2})
	defer limited.Close()
	ctx := context.Background()
	var ids []string
	for _, r := range []string{"EU", "US"} {
		st, err := limited.Acquire(ctx, "sales", map[string]string{"region": r})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	_, err := limited.Acquire(ctx, "sales", map[string]string{"region": "APAC"})
	apperrtest.Want(t, err, apperr.Unavailable)
	// The unfiltered stream does not count.
	if _, err := limited.Acquire(ctx, "sales", nil); err != nil {
		t.Fatalf("unfiltered stream refused: %v", err)
	}
	limited.Release(ids[0])
	if _, err := limited.Acquire(ctx, "sales", map[string]string{"region": "APAC"}); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// TestSince checks what a reconnecting viewer gets: exactly the missed op
// frames while the stream holds them in the same epoch, else nothing and a
// snapshot instead.
func TestSince(t *testing.T) {
	var b fakeBroker
	e := New(Config{Broker: &b, Definitions: fakeDefinitions{"orders": ordersChart()}, RecentFrames: 3})
	defer e.Close()
	ctx := context.Background()
	cols := []chart.Column{{Name: "t", Type: chart.String}, {Name: "n", Type: chart.Number}}
	st, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: cols, Rows: [][]any{}}}, Normal)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // offsets 2..5; the last three are kept
		if _, _, err := e.Apply(ctx, "orders", chart.Op{Kind: chart.OpAppend, Rows: [][]any{{fmt.Sprint(i), 1.0}}}, Normal); err != nil {
			t.Fatal(err)
		}
	}
	snap, _, err := e.Snapshot(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	var sf struct{ Epoch string }
	if err := json.Unmarshal(snap, &sf); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		epoch   string
		from    uint64
		ok      bool
		offsets []uint64
	}{
		{"up to date", sf.Epoch, 5, true, nil},
		{"missed two", sf.Epoch, 3, true, []uint64{4, 5}},
		{"missed the oldest kept", sf.Epoch, 2, true, []uint64{3, 4, 5}},
		{"missed more than kept", sf.Epoch, 1, false, nil},
		{"other epoch", "000000000000", 4, false, nil},
		{"ahead of the stream", sf.Epoch, 9, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, cur, ok := e.Since(st.ID, tt.epoch, tt.from)
			if ok != tt.ok || cur != 5 {
				t.Fatalf("Since = ok %v current %d, want ok %v current 5", ok, cur, tt.ok)
			}
			var got []uint64
			for _, f := range frames {
				got = append(got, f.Offset)
				var of struct{ Offset uint64 }
				if err := json.Unmarshal(f.Data, &of); err != nil || of.Offset != f.Offset {
					t.Errorf("frame %s does not hold offset %d", f.Data, f.Offset)
				}
			}
			if d := cmp.Diff(tt.offsets, got); d != "" {
				t.Errorf("offsets (-want +got):\n%s", d)
			}
		})
	}
}

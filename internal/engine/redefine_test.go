package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/leaktest"
	"github.com/ashreports/ashreports/internal/wait"
	"go.uber.org/goleak"
)

// A new title on the same query reaches viewers as a config op of the
// same epoch, with the data kept.
func TestRedefineConfigIsAnOp(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(4, 2), nil
	}}
	defs := fakeDefinitions{"sales": salesChart(time.Hour)}
	e := newEnv(t, defs, q)
	ctx := context.Background()
	st, err := e.Acquire(ctx, "sales", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(st.ID)
	before := decode(t, must(e.Snapshot(st.ID)))

	def := salesChart(time.Hour)
	def.Config.Title = "Sales by region"
	def.Config.Type = chart.Line
	if err := e.Redefine(ctx, def); err != nil {
		t.Fatal(err)
	}
	pubs := e.broker.Published()
	last := decode(t, pubs[len(pubs)-1].Frame)
	op := last["op"].(map[string]any)
	if op["op"] != "config" || op["config"].(map[string]any)["title"] != "Sales by region" || last["epoch"] != before["epoch"] || last["offset"] != float64(2) {
		t.Errorf("last frame %v, want a config op at offset 2 of epoch %v", last, before["epoch"])
	}
	snap := decode(t, must(e.Snapshot(st.ID)))
	state := snap["state"].(map[string]any)
	if state["config"].(map[string]any)["type"] != "line" || len(state["data"].(map[string]any)["rows"].([]any)) != 2 {
		t.Errorf("state after redefine %v, want a line chart with the same two rows", state)
	}
	if n := q.Count(); n != 1 {
		t.Errorf("%d queries, want 1: the same query is not run again", n)
	}
}

// A new query restarts each stream in a new epoch with the new query's
// result, keeps the filter values the new query still has, and the loop
// runs the new query from then on.
func TestRedefineQueryStartsANewEpoch(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(_ context.Context, _, sql string, _ map[string]string) (chart.Table, error) {
		if strings.Contains(sql, "units") {
			return chart.Table{Columns: []chart.Column{{Name: "region", Type: chart.String}, {Name: "units", Type: chart.Number}}, Rows: [][]any{{"EU", 7.0}}}, nil
		}
		return salesTable(4, 2), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	ctx := context.Background()
	st, err := e.Acquire(ctx, "sales", map[string]string{"region": "EU"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release(st.ID)
	before := decode(t, must(e.Snapshot(st.ID)))

	def := salesChart(time.Hour)
	def.Query.SQL = "SELECT region, units FROM totals WHERE (:region = '' OR region = :region)"
	delete(def.Query.Params, "limit")
	def.Config.Encoding.Y = "units"
	if err := e.Redefine(ctx, def); err != nil {
		t.Fatal(err)
	}
	calls := q.Calls()
	if last := calls[len(calls)-1]; !strings.Contains(last.SQL, "units") || last.Params["region"] != "EU" || len(last.Params) != 1 {
		t.Errorf("query after redefine %+v, want the new SQL with region EU only", last)
	}
	snap := decode(t, must(e.Snapshot(st.ID)))
	if snap["epoch"] == before["epoch"] {
		t.Error("a new query kept the epoch; viewers would apply the new data to the old config")
	}
	pubs := e.broker.Published()
	last := decode(t, pubs[len(pubs)-1].Frame)
	if last["epoch"] != snap["epoch"] || last["offset"] != snap["offset"] {
		t.Errorf("last frame %v is not the new epoch's first (snapshot at %v %v)", last, snap["epoch"], snap["offset"])
	}
	rows := snap["state"].(map[string]any)["data"].(map[string]any)["rows"].([]any)
	if len(rows) != 1 || rows[0].([]any)[1] != 7.0 {
		t.Errorf("rows after redefine %v, want the new query's", rows)
	}
	// A viewer who held the old epoch must take a snapshot.
	if _, _, ok := e.Since(st.ID, before["epoch"].(string), uint64(before["offset"].(float64))); ok {
		t.Error("Since resumed a viewer of the old epoch")
	}
}

// A query result of the old definition that arrives after the redefine is
// not applied, even though it would fit the new config.
func TestRedefineDropsResultsOfTheOldQuery(t *testing.T) {
	wide := chart.Table{
		Columns: []chart.Column{{Name: "region", Type: chart.String}, {Name: "total", Type: chart.Number}, {Name: "units", Type: chart.Number}},
		Rows:    [][]any{{"OLD", 1.0, 2.0}},
	}
	started, release := make(chan struct{}), make(chan struct{})
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		close(started)
		<-release // an answer that comes however late
		return wide, nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	ctx := context.Background()
	s, err := e.lookup(ctx, "sales", nil) // the stream, without viewers or loop
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.refresh(ctx, s)
	}()
	receive(t, started, "start of the query")
	def := salesChart(time.Hour)
	def.Config.Encoding.Y = "units"
	def.Query.SQL = "SELECT region, total, units FROM totals LIMIT :limit"
	delete(def.Query.Params, "region")
	if err := e.Redefine(ctx, def); err != nil {
		t.Fatal(err)
	}
	close(release)
	receive(t, done, "end of the refresh")
	s.mu.Lock() // as it stands: State would run the new query
	st := s.state
	s.mu.Unlock()
	if len(st.Data.Rows) != 0 || st.Config.Encoding.Y != "units" {
		t.Errorf("state %+v: the old query's result was applied after the redefine", st)
	}
}

// A pushed chart keeps its data across a redefine that it fits, and loses
// it, in a new epoch, when it does not.
func TestRedefinePushedChart(t *testing.T) {
	e := newEnv(t, fakeDefinitions{"orders": ordersChart()}, nil)
	ctx := context.Background()
	rows := chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: []chart.Column{{Name: "t", Type: chart.Number}, {Name: "n", Type: chart.Number}}, Rows: [][]any{{1.0, 2.0}}}}
	if _, _, err := e.Apply(ctx, "orders", rows, Normal); err != nil {
		t.Fatal(err)
	}
	def := ordersChart()
	def.Config.Type = chart.Bar
	if err := e.Redefine(ctx, def); err != nil {
		t.Fatal(err)
	}
	st, _, err := e.State(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if st.Config.Type != chart.Bar || len(st.Data.Rows) != 1 {
		t.Errorf("state %+v, want a bar chart with its row", st)
	}
	def.Config.Encoding.Y = "count" // no such column
	if err := e.Redefine(ctx, def); err != nil {
		t.Fatal(err)
	}
	st, _, _ = e.State(ctx, "orders")
	if st.Config.Encoding.Y != "count" || len(st.Data.Rows) != 0 {
		t.Errorf("state %+v, want the new config and no data", st)
	}
}

func TestTry(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(ctx context.Context, _, sql string, _ map[string]string) (chart.Table, error) {
		if strings.Contains(sql, "nope") {
			return chart.Table{}, apperr.Errorf(apperr.Invalid, `source "shop": no such table: nope`)
		}
		if strings.Contains(sql, "slow") { // answers only when given up on
			<-ctx.Done()
			return chart.Table{}, ctx.Err()
		}
		return salesTable(4, 2, 1), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour), "orders": ordersChart()}, q, func(c *Config) { c.TryTimeout = 50 * time.Millisecond })
	ctx := context.Background()
	viewed, err := e.Acquire(ctx, "sales", nil)
	if err != nil {
		t.Fatal(err)
	}

	def := salesChart(time.Hour)
	def.Config.Retention = 2
	st, err := e.Try(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Data.Rows) != 2 || st.Data.Rows[0][0] != "R1" {
		t.Errorf("tried rows %v, want the last two", st.Data.Rows)
	}
	tests := []struct {
		name  string
		edit  func(*dashboard.Chart)
		field string
		msg   string
	}{
		{"bad SQL", func(c *dashboard.Chart) { c.Query.SQL = "SELECT * FROM nope" }, "query.sql", "no such table: nope"},
		{"slow query", func(c *dashboard.Chart) { c.Query.SQL = "SELECT slow" }, "query.sql", "did not answer within 50ms"},
		{"missing column", func(c *dashboard.Chart) { c.Config.Encoding.Y = "units" }, "config.encoding.y", "units"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := salesChart(time.Hour)
			tt.edit(&def)
			_, err := e.Try(ctx, def)
			if e := apperr.From(err); e.Code != apperr.Invalid || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Try: %+v, want invalid %s saying %q", e, tt.field, tt.msg)
			}
		})
	}
	// Nothing tried reached the chart's stream.
	if st, _, err := e.State(ctx, "sales"); err != nil || st.Config.Retention != salesChart(time.Hour).Config.Retention || len(st.Data.Rows) != 3 {
		t.Errorf("the viewed stream after the tries: %+v, %v; want the saved definition's", st, err)
	}
	e.Release(viewed.ID)
	// A chart without a query is tried with the data it holds: none yet.
	if _, err := e.Try(ctx, ordersChart()); err != nil {
		t.Errorf("Try of a pushed chart without data: %v", err)
	}
}

func must(b []byte, _ uint64, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// A new default reaches the unfiltered stream; a viewer's own filter
// stays on the filtered one.
func TestRedefineNewDefaults(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(1), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	ctx := context.Background()
	for _, f := range []map[string]string{nil, {"region": "EU"}} {
		st, err := e.Acquire(ctx, "sales", f)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Release(st.ID)
	}
	def := salesChart(time.Hour)
	def.Query.Params = map[string]dashboard.Param{"region": {Default: "NA"}, "limit": {Default: "5"}}
	if err := e.Redefine(ctx, def); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range q.Calls()[2:] {
		got[c.Params["region"]+"/"+c.Params["limit"]] = true
	}
	if !got["NA/5"] || !got["EU/5"] || len(got) != 2 {
		t.Errorf("queries after new defaults %v, want NA/5 (unfiltered) and EU/5 (the viewer's region)", got)
	}
}

// A forgotten chart's query loop stops and its pushed state is no longer
// saved.
func TestForget(t *testing.T) {
	q := &fakeQuerier{QueryFn: func(context.Context, string, string, map[string]string) (chart.Table, error) {
		return salesTable(1), nil
	}}
	states := &fakeStates{}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(dashboard.MinInterval), "orders": ordersChart()}, q, func(c *Config) {
		c.States, c.FlushInterval = states, time.Hour // saved at Close only
	})
	before := goleak.IgnoreCurrent()
	ctx := context.Background()
	st, err := e.Acquire(ctx, "sales", map[string]string{"region": "EU"})
	if err != nil {
		t.Fatal(err)
	}
	rows := chart.Op{Kind: chart.OpReplace, Data: &chart.Table{Columns: []chart.Column{{Name: "t", Type: chart.Number}, {Name: "n", Type: chart.Number}}, Rows: [][]any{{1.0, 2.0}}}}
	e.Forget("sales")
	e.Release(st.ID) // after Forget: a no-op
	// Forget does not wait for the loop: a query may start until it ends.
	leaktest.Verify(t, before)
	n := q.Count()
	holdsFor(t, 3*dashboard.MinInterval, dashboard.MinInterval/4, func() error {
		if got := q.Count(); got != n {
			return fmt.Errorf("the forgotten chart's query ran %d more times", got-n)
		}
		return nil
	})
	if _, _, err := e.Apply(ctx, "orders", rows, Normal); err != nil {
		t.Fatal(err)
	}
	e.Forget("orders")
	e.Close() // saves what is dirty
	for _, save := range states.Saves() {
		if _, ok := save["orders"]; ok {
			t.Error("a forgotten chart's state was saved")
		}
	}
}

// slowDefinitions hands out a chart's definition as it was when asked.
// The first read says it was asked and answers only once the test lets
// it go, as a store read that a save overtakes; later reads answer at
// once.
type slowDefinitions struct {
	mu      sync.Mutex
	def     dashboard.Chart
	reads   int
	asked   chan struct{}
	release chan struct{}
}

func (d *slowDefinitions) Chart(_ context.Context, id string) (dashboard.Chart, error) {
	d.mu.Lock()
	def := d.def
	d.reads++
	first := d.reads == 1
	d.mu.Unlock()
	if first {
		d.asked <- struct{}{}
		<-d.release
	}
	return def, nil
}

// A stream made from a definition read before a Redefine does not keep
// the old definition.
func TestLookupRacingRedefine(t *testing.T) {
	defs := &slowDefinitions{def: ordersChart(), asked: make(chan struct{}), release: make(chan struct{})}
	e := New(Config{Broker: &fakeBroker{}, Definitions: defs})
	defer e.Close()
	ctx := context.Background()
	got := make(chan chart.State, 1)
	go func() {
		st, _, _ := e.State(ctx, "orders")
		got <- st
	}()
	receive(t, defs.asked, "definition read") // the lookup read the old definition
	saved := ordersChart()
	saved.Config.Title = "Saved title"
	defs.mu.Lock()
	defs.def = saved
	defs.mu.Unlock()
	if err := e.Redefine(ctx, saved); err != nil { // no stream yet: nothing to redefine
		t.Fatal(err)
	}
	close(defs.release)
	receive(t, got, "state from the racing lookup")
	st, _, err := e.State(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if st.Config.Title != "Saved title" {
		t.Errorf("title %q, want the saved one", st.Config.Title)
	}
}

// A save that reaches the engine after it closed (the server shutting
// down) starts no query loop, and its query ends with the engine.
func TestRedefineAfterCloseStartsNoLoop(t *testing.T) {
	before := goleak.IgnoreCurrent()
	q := &fakeQuerier{QueryFn: func(ctx context.Context, _, _ string, _ map[string]string) (chart.Table, error) {
		if err := ctx.Err(); err != nil {
			return chart.Table{}, err
		}
		return salesTable(1), nil
	}}
	e := New(Config{Broker: &fakeBroker{}, Definitions: fakeDefinitions{"sales": salesChart(time.Hour)}, Querier: q})
	ctx := context.Background()
	v, err := e.Acquire(ctx, "sales", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	def := salesChart(time.Hour)
	def.Query.SQL = "SELECT region, total FROM totals WHERE total > 0 LIMIT :limit"
	if err := e.Redefine(ctx, def); err != nil {
		t.Fatal(err)
	}
	if e.streams[v.ID].stop != nil {
		t.Error("a query loop started after Close")
	}
	leaktest.Verify(t, before)
}

// A new query re-runs for every stream of the chart, at most
// redefineWorkers at a time.
func TestRedefineRunsAFewQueriesAtATime(t *testing.T) {
	var inFlight atomic.Int32
	release := make(chan struct{})
	q := &fakeQuerier{QueryFn: func(ctx context.Context, _, sql string, _ map[string]string) (chart.Table, error) {
		if strings.Contains(sql, "units") { // the new query waits until let go
			inFlight.Add(1)
			defer inFlight.Add(-1)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return salesTable(1), nil
	}}
	e := newEnv(t, fakeDefinitions{"sales": salesChart(time.Hour)}, q)
	ctx := context.Background()
	for i := range 3 * redefineWorkers {
		if _, err := e.Acquire(ctx, "sales", map[string]string{"region": fmt.Sprint("R", i)}); err != nil {
			t.Fatal(err)
		}
	}
	def := salesChart(time.Hour)
	def.Query.SQL = "SELECT region, total, units FROM totals LIMIT :limit"
	done := make(chan error, 1)
	go func() { done <- e.Redefine(ctx, def) }()
	wait.For(t, 10*time.Second, time.Millisecond, func() error {
		if n := inFlight.Load(); n != redefineWorkers {
			return fmt.Errorf("%d queries of the new definition running, want %d", n, redefineWorkers)
		}
		return nil
	})
	holdsFor(t, 100*time.Millisecond, time.Millisecond, func() error {
		if n := inFlight.Load(); n > redefineWorkers {
			return fmt.Errorf("%d queries of the new definition running at once, want at most %d", n, redefineWorkers)
		}
		return nil
	})
	close(release)
	if err := receive(t, done, "end of Redefine"); err != nil {
		t.Fatal(err)
	}
}

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/wait"
)

// editor signs in a new editor of the default organization.
func editor(t *testing.T, s *testServer) actor {
	t.Helper()
	addUser(t, s, "ed@example.com", "a long enough password", access.Editor)
	return signedIn(t, s, "editor", "ed@example.com", "a long enough password")
}

// definition reads a chart's definition and version through the API.
func definition(t *testing.T, s *testServer, a actor, id string) (dashboard.Chart, int) {
	t.Helper()
	status, b := a.send(t, "GET", s.URL+"/api/v1/charts/"+id+"/definition", "")
	if status != http.StatusOK {
		t.Fatalf("GET definition of %s: %d %s", id, status, b)
	}
	var d struct {
		Chart   dashboard.Chart
		Version int
		Sources []string
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Sources) == 0 || d.Sources[0] != "demo" {
		t.Errorf("sources %v, want the demo source", d.Sources)
	}
	return d.Chart, d.Version
}

func editJSON(t *testing.T, def any, version int) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"chart": def, "version": version})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type apiError struct {
	Error struct{ Code, Message, Field string }
}

// TestChartEditValidation sends one bad value of every field of a chart
// definition, to the preview and to the save, and checks that each is
// refused with the field named, and that nothing was saved.
func TestChartEditValidation(t *testing.T) {
	s := startServer(t)
	ed := editor(t, s)
	orig, v := definition(t, s, ed, "product-performance")
	tests := []struct {
		name  string
		edit  func(c *dashboard.Chart)
		field string
		msg   string
	}{
		{"unknown type", func(c *dashboard.Chart) { c.Config.Type = "donut" }, "config.type", `unknown chart type "donut"`},
		{"empty title", func(c *dashboard.Chart) { c.Config.Title = "  " }, "config.title", "must not be empty"},
		{"long title", func(c *dashboard.Chart) { c.Config.Title = strings.Repeat("t", 300) }, "config.title", "longer than"},
		{"width 13", func(c *dashboard.Chart) { c.Width = 13 }, "width", "between 1 and 12"},
		{"negative width", func(c *dashboard.Chart) { c.Width = -1 }, "width", "between 1 and 12"},
		{"bad colour", func(c *dashboard.Chart) { c.Config.Colors = []string{"blue"} }, "config.colors[0]", "not a hex colour"},
		{"retention", func(c *dashboard.Chart) { c.Config.Retention = -1 }, "config.retention", "between 0 and"},
		{"no x", func(c *dashboard.Chart) { c.Config.Encoding.X = "" }, "config.encoding.x", "required"},
		{"x not a column", func(c *dashboard.Chart) { c.Config.Encoding.X = "colour" }, "config.encoding.x", "colour"},
		{"y not a column", func(c *dashboard.Chart) { c.Config.Encoding.Y = "units" }, "config.encoding.y", "units"},
		{"pie without category", func(c *dashboard.Chart) { c.Config.Type = "pie"; c.Config.Encoding.Value = "total" }, "config.encoding.category", "required"},
		{"unknown source", func(c *dashboard.Chart) { c.Query.Source = "crm" }, "query.source", `may not use "crm"`},
		{"no SQL", func(c *dashboard.Chart) { c.Query.SQL = "" }, "query.sql", "required"},
		{"bad SQL", func(c *dashboard.Chart) { c.Query.SQL = "SELECT product, total FROM no_such_table" }, "query.sql", "no such table: no_such_table"},
		{"SQL syntax", func(c *dashboard.Chart) { c.Query.SQL = "SELECT product, FROM sales" }, "query.sql", "syntax error"},
		{"a write", func(c *dashboard.Chart) { c.Query.SQL = "DELETE FROM sales" }, "query.sql", "SELECT"},
		{"undeclared parameter", func(c *dashboard.Chart) { c.Query.SQL = "SELECT product, 1 AS total FROM sales WHERE region = :zone" }, "query.sql", "zone"},
		{"interval", func(c *dashboard.Chart) { c.Query.Interval = dashboard.Duration(50e6) }, "query.interval", "at least 100ms"},
		{"bad parameter name", func(c *dashboard.Chart) { c.Query.Params["1st"] = dashboard.Param{} }, "query.params", `"1st" is not a parameter name`},
		{"bad column type", func(c *dashboard.Chart) { c.Query.Types = map[string]chart.ColumnType{"total": "money"} }, "query.types.total", "unknown column type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, _ := definition(t, s, ed, "product-performance")
			tt.edit(&def)
			for _, route := range []struct{ method, path string }{{"POST", "/preview"}, {"PUT", "/definition"}} {
				status, b := ed.send(t, route.method, s.URL+"/api/v1/charts/product-performance"+route.path, editJSON(t, def, v))
				var e apiError
				_ = json.Unmarshal(b, &e)
				if status != http.StatusBadRequest || e.Error.Field != tt.field || !strings.Contains(e.Error.Message, tt.msg) {
					t.Errorf("%s %s: %d %s, want 400 on %s saying %q", route.method, route.path, status, b, tt.field, tt.msg)
				}
			}
		})
	}
	// The chart's id cannot change, and a save names its version.
	moved := orig
	moved.ID = "elsewhere"
	if status, b := ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, moved, v)); status != 400 || !strings.Contains(string(b), `"chart.id"`) {
		t.Errorf("a changed id: %d %s", status, b)
	}
	if status, b := ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, orig, 0)); status != 400 || !strings.Contains(string(b), `"version"`) {
		t.Errorf("no version: %d %s", status, b)
	}
	if status, b := ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", `{"chart": {}, "versio": 1}`); status != 400 {
		t.Errorf("an unknown field: %d %s", status, b)
	}
	after, av := definition(t, s, ed, "product-performance")
	if av != v || after.Config.Title != orig.Config.Title || after.Query.SQL != orig.Query.SQL {
		t.Errorf("after refused edits: version %d (was %d), %+v", av, v, after)
	}
}

// TestChartEditReachesViewers saves a new type and title while a viewer
// watches: the viewer gets a config op at once; a save over the old
// version is refused as a conflict; a new query reaches the viewer as a
// new epoch; the edits are in the audit log.
func TestChartEditReachesViewers(t *testing.T) {
	s := startServer(t)
	ed := editor(t, s)
	addUser(t, s, "vi@example.com", "a long enough password", access.Viewer)
	vi := signedIn(t, s, "viewer", "vi@example.com", "a long enough password")
	c, _, err := dialAs(t, s, vi.c)
	if err != nil {
		t.Fatal(err)
	}
	snap := c.subscribe("1", "product-performance", nil)

	def, v := definition(t, s, ed, "product-performance")
	def.Config.Type, def.Config.Title = "line", "Products over time"
	status, b := ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, v))
	if status != http.StatusOK || !strings.Contains(string(b), `"version":2`) {
		t.Fatalf("save: %d %s", status, b)
	}
	f := c.read()
	var op struct {
		Op     string
		Config struct{ Type, Title string }
	}
	_ = json.Unmarshal(f.Op, &op)
	if f.Type != "op" || f.Epoch != snap.Epoch || op.Op != "config" || op.Config.Type != "line" || op.Config.Title != "Products over time" {
		t.Fatalf("the viewer got %+v (op %s), want the config op in epoch %s", f, f.Op, snap.Epoch)
	}

	// A save still based on version 1 (as another editor's would be) is
	// refused, and nothing changes.
	stale := def
	stale.Config.Title = "Mine"
	status, b = ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, stale, v))
	var e apiError
	_ = json.Unmarshal(b, &e)
	if status != http.StatusConflict || e.Error.Code != "conflict" || !strings.Contains(e.Error.Message, "changed by someone else") {
		t.Errorf("stale save: %d %s, want 409 conflict", status, b)
	}
	if got, gv := definition(t, s, ed, "product-performance"); got.Config.Title != "Products over time" || gv != 2 {
		t.Errorf("after the stale save: %q version %d", got.Config.Title, gv)
	}

	// A new query: the viewer sees a new epoch, and its snapshot the new
	// columns.
	def.Query.SQL = "SELECT product, count(*) AS orders FROM sales GROUP BY product ORDER BY product"
	def.Query.Params = nil
	def.Config.Encoding.Y = "orders"
	if status, b := ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, 2)); status != http.StatusOK {
		t.Fatalf("save a new query: %d %s", status, b)
	}
	f = c.read()
	if f.Type != "op" || f.Epoch == snap.Epoch {
		t.Fatalf("after a new query the viewer got %+v, want an op of a new epoch", f)
	}
	c.request("u", map[string]any{"type": "unsubscribe", "stream": "product-performance"})
	snap2 := c.subscribe("2", "product-performance", nil)
	if cols := snap2.State.Data.Columns; len(cols) != 2 || cols[1].Name != "orders" || snap2.Epoch != f.Epoch {
		t.Errorf("snapshot after the new query: epoch %s columns %+v", snap2.Epoch, cols)
	}

	// The audit log holds both edits, with what changed and no SQL.
	log := s.auditLog(t, auth.DefaultOrg)
	var edits []string
	for _, e := range log {
		if e.Action == "chart_edited" && e.Target == "product-performance" {
			edits = append(edits, e.Detail)
		}
		if strings.Contains(e.Detail, "SELECT") {
			t.Errorf("audit entry %+v holds SQL", e)
		}
	}
	want := []string{"encoding; query; filters", "type bar → line; title"} // newest first
	if strings.Join(edits, "|") != strings.Join(want, "|") {
		t.Errorf("audit details %q, want %q", edits, want)
	}
	// The dashboard's page shows the viewer the same history, newest
	// first, with the editor's name and no address.
	_, body, _ := page(t, vi.c, s.URL+"/dashboards/sales-analytics")
	newer := strings.Index(body, "ed changed Products over time: encoding; query; filters")
	older := strings.Index(body, "ed changed Products over time: type bar → line; title")
	if newer < 0 || older < newer || strings.Contains(body, "ed@example.com") {
		t.Errorf("the page's history: newer at %d, older at %d, address shown %v", newer, older, strings.Contains(body, "ed@example.com"))
	}
}

// TestUndo: an editor's undo puts back the definition from before their
// last edit, for viewers too; once another editor changed the chart after
// it, the undo is refused and changes nothing.
func TestUndo(t *testing.T) {
	s := startServer(t)
	ed := editor(t, s)
	addUser(t, s, "eve@example.com", "a long enough password", access.Editor)
	eve := signedIn(t, s, "eve", "eve@example.com", "a long enough password")
	undo := func(a actor) (int, apiError) {
		status, b := a.send(t, "POST", s.URL+"/api/v1/dashboards/sales-analytics/undo", "")
		var e apiError
		_ = json.Unmarshal(b, &e)
		return status, e
	}
	if status, e := undo(ed); status != http.StatusNotFound || !strings.Contains(e.Error.Message, "no change") {
		t.Errorf("undo with nothing to undo: %d %+v", status, e)
	}
	c, _, err := dialAs(t, s, ed.c)
	if err != nil {
		t.Fatal(err)
	}
	c.subscribe("1", "product-performance", nil)
	def, v := definition(t, s, ed, "product-performance")
	def.Config.Title = "Mine"
	if status, b := ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, v)); status != 200 {
		t.Fatalf("save: %d %s", status, b)
	}
	c.read() // the config op of the save
	if status, e := undo(ed); status != http.StatusOK {
		t.Fatalf("undo: %d %+v", status, e)
	}
	var op struct{ Config struct{ Title string } }
	if f := c.read(); json.Unmarshal(f.Op, &op) != nil || op.Config.Title != "Product performance" {
		t.Errorf("after undo the viewer got %+v", f)
	}
	if got, _ := definition(t, s, ed, "product-performance"); got.Config.Title != "Product performance" {
		t.Errorf("after undo the title is %q", got.Config.Title)
	}

	// Ed edits again; Eve edits after him: Ed's undo is refused.
	def, v = definition(t, s, ed, "product-performance")
	def.Config.Title = "Ed's"
	ed.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, v))
	def.Config.Title = "Eve's"
	if status, b := eve.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, v+1)); status != 200 {
		t.Fatalf("Eve's save: %d %s", status, b)
	}
	if status, e := undo(ed); status != http.StatusConflict || !strings.Contains(e.Error.Message, "changed again") {
		t.Errorf("Ed's undo after Eve's change: %d %+v", status, e)
	}
	if got, _ := definition(t, s, ed, "product-performance"); got.Config.Title != "Eve's" {
		t.Errorf("a refused undo left the title %q", got.Config.Title)
	}
	// Eve's own undo works: back to Ed's.
	if status, e := undo(eve); status != http.StatusOK {
		t.Errorf("Eve's undo: %d %+v", status, e)
	}
	if got, _ := definition(t, s, ed, "product-performance"); got.Config.Title != "Ed's" {
		t.Errorf("after Eve's undo the title is %q", got.Config.Title)
	}

	// Eve edits again, then resizes the chart: her own resize changed the
	// chart after her edit, so her undo is refused too.
	def, v = definition(t, s, eve, "product-performance")
	def.Config.Title = "Eve's again"
	if status, b := eve.send(t, "PUT", s.URL+"/api/v1/charts/product-performance/definition", editJSON(t, def, v)); status != 200 {
		t.Fatalf("Eve's second save: %d %s", status, b)
	}
	l, err := s.db(t).Layout(context.Background(), "sales-analytics")
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.Charts {
		if l.Charts[i].ID == "product-performance" {
			l.Charts[i].Width = l.Charts[i].Width%dashboard.GridColumns + 1
		}
	}
	resized, _ := json.Marshal(l)
	if status, b := eve.send(t, "PUT", s.URL+"/api/v1/dashboards/sales-analytics/layout", string(resized)); status != 200 {
		t.Fatalf("Eve's resize: %d %s", status, b)
	}
	if status, e := undo(eve); status != http.StatusConflict {
		t.Errorf("Eve's undo after her own resize: %d %+v, want 409", status, e)
	}
	if got, _ := definition(t, s, ed, "product-performance"); got.Config.Title != "Eve's again" {
		t.Errorf("a refused undo left the title %q", got.Config.Title)
	}
}

// TestEditorsReachOnlyTheirDashboard: a new chart's preview cannot name a
// chart in use (it would show that chart's data), and a dashboard's
// editors query only the data sources its charts read from.
func TestEditorsReachOnlyTheirDashboard(t *testing.T) {
	s := startServer(t)
	ed := editor(t, s)
	pushed := `{"chart":{"id":"orders","width":6,"config":{"type":"line","title":"Mine","encoding":{"x":"t","y":"n"}}}}`
	if code, body := post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(seedOp)); code != http.StatusOK {
		t.Fatalf("seed: %d %v", code, body)
	}
	status, b := ed.send(t, "POST", s.URL+"/api/v1/dashboards/sales-analytics/charts/preview", pushed)
	if status != http.StatusConflict || strings.Contains(string(b), `"rows"`) {
		t.Errorf("preview of a new chart with a used id: %d %s, want 409 without data", status, b)
	}
	// The ops dashboard's charts are pushed: its editors run no SQL.
	sql := `{"version":1,"chart":{"id":"ops-sql","width":6,"config":{"type":"bar","title":"T","encoding":{"x":"region","y":"n"}},
		"query":{"source":"demo","sql":"SELECT region, count(*) AS n FROM sales GROUP BY region","interval":"5s"}}}`
	for _, path := range []string{"/charts/preview", "/charts"} {
		status, b := ed.send(t, "POST", s.URL+"/api/v1/dashboards/ops"+path, sql)
		var e apiError
		_ = json.Unmarshal(b, &e)
		if status != http.StatusBadRequest || e.Error.Field != "query.source" {
			t.Errorf("POST ops%s with the demo source: %d %s, want 400 on query.source", path, status, b)
		}
	}
	status, b = ed.send(t, "GET", s.URL+"/api/v1/dashboards/ops/layout", "")
	if status != http.StatusOK || strings.Contains(string(b), `"demo"`) {
		t.Errorf("ops layout: %d %s, want no sources", status, b)
	}
}

// TestDashboardChangesOverHTTP: an added chart gets 201 with the new
// layout; a chart left out of a layout goes, with its saved data; saved
// default filters name only the dashboard's filters, and a refused save
// changes nothing.
func TestDashboardChangesOverHTTP(t *testing.T) {
	s := startServer(t)
	ed := editor(t, s)
	ctx := context.Background()
	db := s.db(t)
	l, err := db.Layout(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	def, _, err := db.ChartVersion(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	def.ID, def.Config.Title = "refunds", "Refunds"
	status, b := ed.send(t, "POST", s.URL+"/api/v1/dashboards/ops/charts", editJSON(t, def, l.Version))
	var added dashboard.Layout
	if status != http.StatusCreated || json.Unmarshal(b, &added) != nil || added.Version <= l.Version || added.Charts[len(added.Charts)-1].ID != "refunds" {
		t.Fatalf("add a chart: %d %s, want 201 with the layout ending in refunds", status, b)
	}

	// Its pushed data is saved, then removed with it.
	if code, body := post(t, s.URL+"/api/v1/charts/refunds/updates", "application/json", []byte(seedOp)); code != http.StatusOK {
		t.Fatalf("push to the new chart: %d %v", code, body)
	}
	wait.For(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, ok, err := db.LoadState(ctx, "refunds"); err != nil || !ok {
			return fmt.Errorf("the new chart's pushed data was not saved (%v)", err)
		}
		return nil
	})
	kept, _ := json.Marshal(dashboard.Layout{Version: added.Version, Charts: added.Charts[:len(added.Charts)-1]})
	if status, b := ed.send(t, "PUT", s.URL+"/api/v1/dashboards/ops/layout", string(kept)); status != http.StatusOK {
		t.Fatalf("remove the chart: %d %s", status, b)
	}
	if _, ok, err := db.LoadState(ctx, "refunds"); err != nil || ok {
		t.Errorf("the removed chart's saved data: found %v (%v), want gone", ok, err)
	}
	if status, _ := ed.send(t, "GET", s.URL+"/api/v1/charts/refunds", ""); status != http.StatusNotFound {
		t.Errorf("GET the removed chart: %d, want 404", status)
	}

	// Defaults of a filter the dashboard does not have: refused, named.
	_, before, _ := db.ChartVersion(ctx, "sales-by-region")
	status, b = ed.send(t, "PUT", s.URL+"/api/v1/dashboards/sales-analytics/filters", `{"filters":{"region":"Europe","nope":"x"}}`)
	var e apiError
	if status != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error.Code != "invalid" || e.Error.Field != "filters.nope" {
		t.Errorf("defaults with an unknown filter: %d %s, want 400 on filters.nope", status, b)
	}
	if _, after, _ := db.ChartVersion(ctx, "sales-by-region"); after != before {
		t.Errorf("a refused save of defaults moved sales-by-region from version %d to %d", before, after)
	}
}

package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/apperr/apperrtest"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/engine"
)

// openStore opens a store on path, closed when the test ends.
func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) *Store {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), "meta.db"))
}

func lineChart(id, title string) dashboard.Chart {
	return dashboard.Chart{
		ID:     id,
		Width:  dashboard.DefaultWidth,
		Config: chart.Config{Type: chart.Line, Title: title, Encoding: chart.Encoding{X: "t", Y: "n"}},
	}
}

// salesDashboard returns a fresh dashboard whose charts use every field a
// chart definition has.
func salesDashboard() dashboard.Dashboard {
	return dashboard.Dashboard{
		ID:          "sales",
		Title:       "Sales",
		Description: "Orders by region.",
		Charts: []dashboard.Chart{
			{
				ID:    "by-region",
				Width: 12,
				Config: chart.Config{
					Type:      chart.Bar,
					Title:     "By region",
					Encoding:  chart.Encoding{X: "region", Y: "total", Series: "product"},
					Colors:    []string{"#3b82f6", "#fff"},
					Key:       []string{"region", "product"},
					Retention: 100,
				},
				Query: &dashboard.Query{
					Source:   "shop",
					SQL:      "SELECT region, product, sum(amount) AS total FROM sales WHERE (:region = '' OR region = :region) GROUP BY 1, 2",
					Params:   map[string]dashboard.Param{"region": {Default: "", Label: "Region"}, "limit": {Default: "10"}},
					Interval: dashboard.Duration(1500 * time.Millisecond),
				},
			},
			{
				ID:    "share",
				Width: 4,
				Config: chart.Config{
					Type:     chart.Pie,
					Title:    "Share",
					Encoding: chart.Encoding{Category: "region", Value: "total"},
				},
			},
			lineChart("orders", "Orders"),
		},
	}
}

func put(t *testing.T, s *Store, d dashboard.Dashboard) {
	t.Helper()
	if err := s.PutDashboard(context.Background(), d, "test"); err != nil {
		t.Fatalf("PutDashboard(%s): %v", d.ID, err)
	}
}

func get(t *testing.T, s *Store, id string) dashboard.Dashboard {
	t.Helper()
	d, err := s.Dashboard(context.Background(), id)
	if err != nil {
		t.Fatalf("Dashboard(%s): %v", id, err)
	}
	return d
}

func TestOpenSQLiteMigratesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	ctx := context.Background()

	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("fresh file: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	list, err := s.Dashboards(ctx)
	if err != nil {
		t.Fatalf("Dashboards on a fresh store: %v", err)
	}
	if len(list) != 0 {
		t.Fatalf("fresh store lists %v, want nothing", list)
	}
	put(t, s, salesDashboard())
	versions := migrationRows(t, path)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, path)
	if d := cmp.Diff(salesDashboard(), get(t, s, "sales")); d != "" {
		t.Errorf("dashboard after reopening (-want +got):\n%s", d)
	}
	if got := migrationRows(t, path); got != versions {
		t.Errorf("reopening changed the migration table from %d to %d rows; migrations ran again", versions, got)
	}
}

// migrationRows returns how many migrations goose has recorded in the file.
func migrationRows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM goose_db_version WHERE is_applied`).Scan(&n); err != nil {
		t.Fatalf("read migrations: %v", err)
	}
	if n == 0 {
		t.Fatal("no migration recorded")
	}
	return n
}

func TestOpenSQLiteErrors(t *testing.T) {
	_, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "missing-dir", "meta.db"))
	if err == nil {
		t.Fatal("OpenSQLite in a directory that does not exist succeeded")
	}
}

func TestPutDashboardRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())

	if d := cmp.Diff(salesDashboard(), get(t, s, "sales")); d != "" {
		t.Errorf("Dashboard (-want +got):\n%s", d)
	}
	for _, want := range salesDashboard().Charts {
		got, err := s.Chart(ctx, want.ID)
		if err != nil {
			t.Fatalf("Chart(%s): %v", want.ID, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Chart(%s) (-want +got):\n%s", want.ID, d)
		}
	}
}

func TestPutDashboardFillsDefaultWidth(t *testing.T) {
	s := newStore(t)
	d := salesDashboard()
	d.Charts[2].Width = 0
	put(t, s, d)
	got, err := s.Chart(context.Background(), d.Charts[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != dashboard.DefaultWidth {
		t.Errorf("width = %d, want the default %d", got.Width, dashboard.DefaultWidth)
	}
}

func TestPutDashboardReplaces(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())

	// Reorder, drop "share", add "refunds", and change the title.
	next := salesDashboard()
	next.Title = "Sales (new)"
	next.Description = ""
	next.Charts = []dashboard.Chart{next.Charts[2], lineChart("refunds", "Refunds"), next.Charts[0]}
	put(t, s, next)

	if d := cmp.Diff(next, get(t, s, "sales")); d != "" {
		t.Errorf("Dashboard after replacing (-want +got):\n%s", d)
	}
	_, err := s.Chart(ctx, "share")
	apperrtest.Want(t, err, apperr.NotFound)

	// A chart removed from one dashboard may then be used by another.
	other := dashboard.Dashboard{ID: "other", Title: "Other", Charts: []dashboard.Chart{lineChart("share", "Share again")}}
	put(t, s, other)
	if d := cmp.Diff(other, get(t, s, "other")); d != "" {
		t.Errorf("other dashboard (-want +got):\n%s", d)
	}
}

func TestPutDashboardConflict(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// existing is put first, when not empty, under the id "ops".
		existing []dashboard.Chart
	}{
		{name: "new dashboard"},
		{name: "existing dashboard", existing: []dashboard.Chart{lineChart("ops-errors", "Errors")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			put(t, s, salesDashboard())
			var before dashboard.Dashboard
			if tt.existing != nil {
				before = dashboard.Dashboard{ID: "ops", Title: "Ops", Description: "before", Charts: tt.existing}
				put(t, s, before)
			}

			// "latency" comes before the conflicting chart, so a put that
			// did not roll back would leave it stored.
			d := dashboard.Dashboard{ID: "ops", Title: "Ops (new)", Charts: []dashboard.Chart{
				lineChart("latency", "Latency"),
				lineChart("orders", "Orders (taken)"),
			}}
			err := s.PutDashboard(ctx, d, "test")
			apperrtest.Want(t, err, apperr.Conflict)

			if d := cmp.Diff(salesDashboard(), get(t, s, "sales")); d != "" {
				t.Errorf("the other dashboard changed (-want +got):\n%s", d)
			}
			if tt.existing == nil {
				_, err := s.Dashboard(ctx, "ops")
				apperrtest.Want(t, err, apperr.NotFound)
			} else if d := cmp.Diff(before, get(t, s, "ops")); d != "" {
				t.Errorf("the failed put changed its dashboard (-before +after):\n%s", d)
			}
			_, err = s.Chart(ctx, "latency")
			apperrtest.Want(t, err, apperr.NotFound)
			list, err := s.Dashboards(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantList := []dashboard.Summary{{ID: "sales", OrgID: auth.DefaultOrg, Title: "Sales", Description: "Orders by region.", Charts: 3}}
			if tt.existing != nil {
				wantList = append([]dashboard.Summary{{ID: "ops", OrgID: auth.DefaultOrg, Title: "Ops", Description: "before", Charts: 1}}, wantList...)
			}
			if d := cmp.Diff(wantList, list); d != "" {
				t.Errorf("Dashboards (-want +got):\n%s", d)
			}
		})
	}
}

func TestPutDashboardInvalid(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	d := salesDashboard()
	d.Charts[1].Width = 13
	err := s.PutDashboard(ctx, d, "test")
	var fe *chart.FieldError
	if !errors.As(err, &fe) || fe.Field != "charts[1].width" {
		t.Fatalf("PutDashboard of an invalid dashboard: %v, want a field error on charts[1].width", err)
	}
	if code := apperr.CodeOf(err); code != apperr.Invalid {
		t.Errorf("code = %s, want %s", code, apperr.Invalid)
	}
	_, err = s.Dashboard(ctx, "sales")
	apperrtest.Want(t, err, apperr.NotFound)
}

func TestDashboards(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, dashboard.Dashboard{ID: "zeta", Title: "Beta", Charts: []dashboard.Chart{lineChart("z1", "Z1")}})
	put(t, s, dashboard.Dashboard{ID: "gamma", Title: "Gamma", Description: "g", Charts: []dashboard.Chart{lineChart("g1", "G1"), lineChart("g2", "G2")}})
	put(t, s, dashboard.Dashboard{ID: "empty", Title: "Alpha"})
	put(t, s, dashboard.Dashboard{ID: "alpha", Title: "Beta", Charts: []dashboard.Chart{lineChart("a1", "A1"), lineChart("a2", "A2"), lineChart("a3", "A3")}})

	got, err := s.Dashboards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []dashboard.Summary{
		{ID: "empty", OrgID: auth.DefaultOrg, Title: "Alpha", Charts: 0},
		{ID: "alpha", OrgID: auth.DefaultOrg, Title: "Beta", Charts: 3}, // equal titles: by id
		{ID: "zeta", OrgID: auth.DefaultOrg, Title: "Beta", Charts: 1},
		{ID: "gamma", OrgID: auth.DefaultOrg, Title: "Gamma", Description: "g", Charts: 2},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Dashboards (-want +got):\n%s", d)
	}
}

func TestNotFound(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())
	tests := []struct {
		name string
		call func() error
	}{
		{"dashboard", func() error { _, err := s.Dashboard(ctx, "nope"); return err }},
		{"chart", func() error { _, err := s.Chart(ctx, "nope"); return err }},
		{"a dashboard id is not a chart id", func() error { _, err := s.Chart(ctx, "sales"); return err }},
		{"a chart id is not a dashboard id", func() error { _, err := s.Dashboard(ctx, "orders"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			apperrtest.Want(t, err, apperr.NotFound)
			if errors.Is(err, sql.ErrNoRows) {
				t.Errorf("error %v exposes sql.ErrNoRows", err)
			}
		})
	}
}

// TestOpenSQLiteUpgradesAnOlderFile opens a file migrated to the first
// version only, as an older release left it, and checks that it is
// migrated with its data kept.
func TestOpenSQLiteUpgradesAnOlderFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO dashboards (id, title, created_at, updated_at) VALUES ('old', 'Old', 'x', 'x')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openStore(t, path)
	list, err := s.Dashboards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]dashboard.Summary{{ID: "old", OrgID: auth.DefaultOrg, Title: "Old"}}, list); d != "" {
		t.Errorf("dashboards after the upgrade (-want +got):\n%s", d)
	}
	if err := s.SaveStates(ctx, map[string]engine.SavedState{"c": {Offset: 1, State: []byte(`{}`)}}); err != nil {
		t.Errorf("the upgraded file lacks a later migration: %v", err)
	}
}

func TestSaveAndLoadStates(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()

	if _, ok, err := s.LoadState(ctx, "orders"); err != nil || ok {
		t.Fatalf("LoadState of a chart never saved = ok %v, %v; want ok false and no error", ok, err)
	}
	first := map[string]engine.SavedState{
		"orders": {Offset: 7, Epoch: "e1", State: []byte(`{"config":{},"data":{"columns":[],"rows":[]}}`)},
		"errors": {Offset: math.MaxUint64, Epoch: "e2", State: []byte(`{"a":1}`)},
	}
	if err := s.SaveStates(ctx, first); err != nil {
		t.Fatalf("SaveStates: %v", err)
	}
	second := map[string]engine.SavedState{"orders": {Offset: 9, Epoch: "e3", State: []byte(`{"b":2}`)}}
	if err := s.SaveStates(ctx, second); err != nil {
		t.Fatalf("SaveStates again: %v", err)
	}
	want := map[string]engine.SavedState{"orders": second["orders"], "errors": first["errors"]}
	for id, w := range want {
		got, ok, err := s.LoadState(ctx, id)
		if err != nil || !ok {
			t.Fatalf("LoadState(%s) = ok %v, %v", id, ok, err)
		}
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("LoadState(%s) (-want +got):\n%s", id, d)
		}
	}
	if err := s.SaveStates(ctx, nil); err != nil {
		t.Errorf("SaveStates of nothing: %v", err)
	}
}

// A chart state that shrinks gives its pages back to the file system: the
// database does not stay at its largest size.
func TestSaveStatesGiveBackSpace(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	pages := func() int64 {
		t.Helper()
		var n int64
		if err := s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	big := bytes.Repeat([]byte("x"), 32<<20)
	if err := s.SaveStates(ctx, map[string]engine.SavedState{"orders": {Offset: 1, State: big}}); err != nil {
		t.Fatal(err)
	}
	large := pages()
	if err := s.SaveStates(ctx, map[string]engine.SavedState{"orders": {Offset: 2, State: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	if small := pages(); small > freePagesKept+large/8 {
		t.Errorf("the database holds %d pages after its 32 MiB state shrank, %d before: the space was not given back", small, large)
	}
}

func TestPutDashboardDropsStatesOfRemovedCharts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard()) // by-region, share, orders
	put(t, s, dashboard.Dashboard{ID: "other", Title: "Other", Charts: []dashboard.Chart{lineChart("elsewhere", "Elsewhere")}})
	saved := engine.SavedState{Offset: 3, State: []byte(`{}`)}
	all := map[string]engine.SavedState{"by-region": saved, "share": saved, "orders": saved, "elsewhere": saved}
	if err := s.SaveStates(ctx, all); err != nil {
		t.Fatal(err)
	}
	has := func(id string) bool {
		t.Helper()
		_, ok, err := s.LoadState(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// A put that fails changes no saved state.
	bad := salesDashboard()
	bad.Charts = []dashboard.Chart{lineChart("elsewhere", "Taken")}
	apperrtest.Want(t, s.PutDashboard(ctx, bad, "test"), apperr.Conflict)
	for id := range all {
		if !has(id) {
			t.Errorf("a failed put dropped the saved state of %s", id)
		}
	}

	next := salesDashboard()
	next.Charts = []dashboard.Chart{next.Charts[2], lineChart("new", "New")} // orders stays; by-region and share leave
	put(t, s, next)
	for id, want := range map[string]bool{"orders": true, "elsewhere": true, "by-region": false, "share": false} {
		if got := has(id); got != want {
			t.Errorf("saved state of %s kept = %v, want %v", id, got, want)
		}
	}

	put(t, s, dashboard.Dashboard{ID: "sales", Title: "Sales"}) // every chart leaves
	if has("orders") {
		t.Error("the saved state of orders was kept after it left its dashboard")
	}
	if !has("elsewhere") {
		t.Error("another dashboard's chart lost its saved state")
	}
}

// TestConcurrentUse runs writers and readers at once, for the race
// detector and to check that one connection does not deadlock.
func TestConcurrentUse(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 10 {
				d := dashboard.Dashboard{ID: "d" + string(rune('a'+i)), Title: "D", Charts: []dashboard.Chart{lineChart("c"+string(rune('a'+i)), "C")}}
				if err := s.PutDashboard(ctx, d, "test"); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Dashboard(ctx, "sales"); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Dashboards(ctx); err != nil {
					t.Error(err)
					return
				}
				if err := s.SaveStates(ctx, map[string]engine.SavedState{d.Charts[0].ID: {Offset: uint64(j)}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	list, err := s.Dashboards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 {
		t.Errorf("%d dashboards, want 5", len(list))
	}
}

// TestProvisionDashboards checks that provisioning makes the dashboards of
// an origin exactly the given set: a chart can move from one dashboard to
// another, whatever the order, and a dashboard whose file is gone is
// deleted, while other origins are untouched.
func TestProvisionDashboards(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := dashboard.Dashboard{ID: "a", Title: "A", Charts: []dashboard.Chart{lineChart("a1", "A1")}}
	b := dashboard.Dashboard{ID: "b", Title: "B", Charts: []dashboard.Chart{lineChart("b1", "B1"), lineChart("moving", "Moving")}}
	demo := dashboard.Dashboard{ID: "demo", Title: "Demo", Charts: []dashboard.Chart{lineChart("d1", "D1")}}
	if err := s.PutDashboard(ctx, demo, "demo"); err != nil {
		t.Fatal(err)
	}
	if err := s.ProvisionDashboards(ctx, "file", auth.DefaultOrg, []dashboard.Dashboard{a, b}); err != nil {
		t.Fatal(err)
	}
	// "moving" goes from b to a, which comes first; b's file is deleted.
	a.Charts = append(a.Charts, lineChart("moving", "Moving"))
	if err := s.ProvisionDashboards(ctx, "file", auth.DefaultOrg, []dashboard.Dashboard{a}); err != nil {
		t.Fatalf("moving a chart between dashboards: %v", err)
	}
	if got := get(t, s, "a"); len(got.Charts) != 2 || got.Charts[1].ID != "moving" {
		t.Errorf("dashboard a has charts %v, want a1 and moving", got.Charts)
	}
	_, err := s.Dashboard(ctx, "b")
	apperrtest.Want(t, err, apperr.NotFound)
	_, err = s.Chart(ctx, "b1")
	apperrtest.Want(t, err, apperr.NotFound)
	if got := get(t, s, "demo"); len(got.Charts) != 1 {
		t.Errorf("the demo dashboard of another origin changed: %v", got.Charts)
	}
	// A conflict leaves everything as it was.
	c := dashboard.Dashboard{ID: "c", Title: "C", Charts: []dashboard.Chart{lineChart("d1", "Taken")}}
	err = s.ProvisionDashboards(ctx, "file", auth.DefaultOrg, []dashboard.Dashboard{c})
	apperrtest.Want(t, err, apperr.Conflict)
	if got := get(t, s, "a"); len(got.Charts) != 2 {
		t.Errorf("after a refused provisioning, dashboard a has %v", got.Charts)
	}
}

func TestUpdateChartVersions(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, salesDashboard())

	c, v, err := s.ChartVersion(ctx, "by-region")
	if err != nil {
		t.Fatal(err)
	}
	if v != 1 {
		t.Fatalf("version of a new chart = %d, want 1", v)
	}
	c.Config.Title = "By region (edited)"
	v2, err := s.UpdateChart(ctx, c, v, "")
	if err != nil {
		t.Fatalf("UpdateChart: %v", err)
	}
	if v2 != 2 {
		t.Errorf("new version = %d, want 2", v2)
	}
	// A save based on version 1 now is stale, and changes nothing.
	stale := c
	stale.Config.Title = "Stale"
	_, err = s.UpdateChart(ctx, stale, v, "")
	apperrtest.Want(t, err, apperr.Conflict)
	if e := apperr.From(err); e.Field != "version" || !strings.Contains(e.Message, "now 2") {
		t.Errorf("conflict = %+v, want field version naming version 2", e)
	}
	got, gotV, err := s.ChartVersion(ctx, "by-region")
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Title != "By region (edited)" || gotV != 2 {
		t.Errorf("after a stale save: title %q version %d, want the first save's", got.Config.Title, gotV)
	}
	// A bad definition is refused with its field, and nothing is saved.
	bad := got
	bad.Width = 13
	_, err = s.UpdateChart(ctx, bad, 2, "")
	if e := apperr.From(err); e.Code != apperr.Invalid || e.Field != "width" {
		t.Errorf("width 13: %+v, want invalid width", e)
	}
	_, err = s.UpdateChart(ctx, dashboard.Chart{ID: "nope", Config: got.Config}, 1, "")
	apperrtest.Want(t, err, apperr.NotFound)
}

func TestProvisioningKeepsEdits(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	provision := func(ds ...dashboard.Dashboard) {
		t.Helper()
		if err := s.ProvisionDashboards(ctx, "file", auth.DefaultOrg, ds); err != nil {
			t.Fatalf("ProvisionDashboards: %v", err)
		}
	}
	provision(salesDashboard())
	c, v, err := s.ChartVersion(ctx, "by-region")
	if err != nil {
		t.Fatal(err)
	}
	c.Config.Title = "Edited in the browser"
	if _, err := s.UpdateChart(ctx, c, v, ""); err != nil {
		t.Fatal(err)
	}
	// The same file again (a restart): the edit stays.
	provision(salesDashboard())
	got, v, err := s.ChartVersion(ctx, "by-region")
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Title != "Edited in the browser" || v != 2 {
		t.Errorf("after provisioning the same file: %q version %d, want the edit at version 2", got.Config.Title, v)
	}
	// A changed file wins, and the version goes on, so that an editor
	// holding version 2 cannot save over the file's change.
	changed := salesDashboard()
	changed.Title = "Sales, from the new file"
	provision(changed)
	got, v, err = s.ChartVersion(ctx, "by-region")
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Title != salesDashboard().Charts[0].Config.Title || v != 3 {
		t.Errorf("after a changed file: %q version %d, want the file's title at version 3", got.Config.Title, v)
	}
	// A dashboard kept as it was is still deleted when its file goes.
	provision()
	_, err = s.Dashboard(ctx, "sales")
	apperrtest.Want(t, err, apperr.NotFound)
}

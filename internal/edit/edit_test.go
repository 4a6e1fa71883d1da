package edit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/room"
)

// memStore is a Store of dashboards in memory: charts by id, with
// versions.
type memStore struct {
	Store // the methods a test does not use
	mu    sync.Mutex
	dash  map[string]dashboard.Dashboard
	ver   map[string]int
}

func newMemStore(ds ...dashboard.Dashboard) *memStore {
	s := &memStore{dash: map[string]dashboard.Dashboard{}, ver: map[string]int{}}
	for _, d := range ds {
		s.dash[d.ID] = d
		for _, c := range d.Charts {
			s.ver[c.ID] = 1
		}
	}
	return s
}

func (s *memStore) Dashboard(_ context.Context, id string) (dashboard.Dashboard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dash[id]
	if !ok {
		return d, apperr.Errorf(apperr.NotFound, "no dashboard %q", id)
	}
	return d, nil
}

func (s *memStore) find(id string) (string, int) {
	for dID, d := range s.dash {
		for i, c := range d.Charts {
			if c.ID == id {
				return dID, i
			}
		}
	}
	return "", -1
}

func (s *memStore) ChartVersion(_ context.Context, id string) (dashboard.Chart, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, i := s.find(id)
	if i < 0 {
		return dashboard.Chart{}, 0, apperr.Errorf(apperr.NotFound, "no chart %q", id)
	}
	return s.dash[d].Charts[i], s.ver[id], nil
}

func (s *memStore) UpdateChart(_ context.Context, c dashboard.Chart, version int, _ string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, i := s.find(c.ID)
	if i < 0 {
		return 0, apperr.Errorf(apperr.NotFound, "no chart %q", c.ID)
	}
	if s.ver[c.ID] != version {
		return 0, &apperr.Error{Code: apperr.Conflict, Field: "version", Message: "changed meanwhile"}
	}
	s.dash[d].Charts[i] = c
	s.ver[c.ID]++
	return s.ver[c.ID], nil
}

func (s *memStore) Layout(_ context.Context, id string) (dashboard.Layout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := dashboard.Layout{Version: 1, Charts: []dashboard.Slot{}}
	for _, c := range s.dash[id].Charts {
		l.Charts = append(l.Charts, dashboard.Slot{ID: c.ID, Width: c.Width, Title: c.Config.Title})
	}
	return l, nil
}

// fakeEngine is an Engine of function fields; nil ones do nothing.
type fakeEngine struct {
	TryFn func(ctx context.Context, def dashboard.Chart) (chart.State, error)
}

func (e fakeEngine) Try(ctx context.Context, def dashboard.Chart) (chart.State, error) {
	if e.TryFn == nil {
		return chart.State{Config: def.Config}, nil
	}
	return e.TryFn(ctx, def)
}

func (fakeEngine) Redefine(context.Context, dashboard.Chart) error { return nil }
func (fakeEngine) Forget(string)                                   {}

// placesOf finds charts' dashboards in s.
type placesOf struct{ s *memStore }

func (p placesOf) ChartResource(_ context.Context, id string) (access.Resource, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	d, i := p.s.find(id)
	if i < 0 {
		return access.Resource{}, apperr.Errorf(apperr.NotFound, "no chart %q", id)
	}
	return access.Resource{OrgID: "o", DashboardID: d, ChartID: id}, nil
}

// rooms keeps the events announced.
type rooms struct {
	mu     sync.Mutex
	events []room.Event
}

func (r *rooms) Publish(_ string, ev room.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func pushChart(id, title string) dashboard.Chart {
	return dashboard.Chart{ID: id, Width: 6, Config: chart.Config{Type: chart.Bar, Title: title, Encoding: chart.Encoding{X: "x", Y: "y"}}}
}

func newService(t *testing.T, eng fakeEngine) (*Service, *memStore, *rooms) {
	t.Helper()
	st := newMemStore(
		dashboard.Dashboard{ID: "sales", Title: "Sales", Charts: []dashboard.Chart{pushChart("by-region", "By region")}},
		dashboard.Dashboard{ID: "ops", Title: "Ops", Charts: []dashboard.Chart{pushChart("orders", "Orders")}},
	)
	r := &rooms{}
	return New(Config{Store: st, Engine: eng, Places: placesOf{st}, Rooms: r}), st, r
}

var editor = access.Subject{Kind: access.User, ID: "ada", Name: "Ada", OrgID: "o", OrgRole: access.Editor}

// TestSaveChart: a save is checked once (its defaults filled in), tried,
// stored at the version it was based on, and announced by its author with
// what changed; the reply is the definition saved.
func TestSaveChart(t *testing.T) {
	tried := 0
	s, st, r := newService(t, fakeEngine{TryFn: func(_ context.Context, def dashboard.Chart) (chart.State, error) {
		tried++
		if def.Width == 0 {
			t.Error("a definition was tried before its defaults were filled in")
		}
		return chart.State{Config: def.Config}, nil
	}})
	ctx := context.Background()
	def, v, _ := s.ChartDefinition(ctx, "by-region")
	def.Config.Type, def.Config.Title, def.Width = chart.Line, "Regions", 0
	saved, nv, changes, err := s.SaveChart(ctx, editor, def, v)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Width != dashboard.DefaultWidth || nv != v+1 || changes != "type bar → line; title" {
		t.Errorf("saved width %d version %d changes %q", saved.Width, nv, changes)
	}
	if got, _, _ := st.ChartVersion(ctx, "by-region"); got.Config.Title != "Regions" {
		t.Errorf("stored title %q", got.Config.Title)
	}
	if tried != 1 || len(r.events) != 1 || r.events[0].Kind != "chart_edited" || r.events[0].Name != "Ada" || r.events[0].Layout == nil {
		t.Errorf("tried %d times; announced %+v", tried, r.events)
	}
	if _, _, _, err := s.SaveChart(ctx, editor, def, v); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("a save on a stale version: %v, want conflict", err)
	}
}

// TestTryChecksTheDefinition: a definition that is not valid is refused
// with the field at fault before its query runs; a query on a source the
// dashboard does not use is refused on query.source.
func TestTryChecksTheDefinition(t *testing.T) {
	s, _, _ := newService(t, fakeEngine{TryFn: func(context.Context, dashboard.Chart) (chart.State, error) {
		t.Error("an invalid definition was tried")
		return chart.State{}, nil
	}})
	ctx := context.Background()
	def := pushChart("by-region", " ")
	if _, err := s.TryChart(ctx, "sales", def); apperr.From(err).Field != "title" || !strings.Contains(apperr.From(err).Message, "empty") {
		t.Errorf("an empty title: %v, want invalid title", err)
	}
	def = pushChart("by-region", "By region")
	def.Query = &dashboard.Query{Source: "elsewhere", SQL: "SELECT 1 AS x, 2 AS y", Interval: dashboard.Duration(time.Minute)}
	if _, err := s.TryChart(ctx, "sales", def); apperr.From(err).Field != "query.source" {
		t.Errorf("another source: %v, want invalid query.source", err)
	}
}

// TestSavesOfOneDashboardDoNotWaitForAnother: a dashboard's edit lock
// holds that dashboard's saves, and only those. One whose new query
// re-runs for seconds under it leaves the other dashboards' editors,
// maybe of other organizations, free to save.
func TestSavesOfOneDashboardDoNotWaitForAnother(t *testing.T) {
	s, _, _ := newService(t, fakeEngine{})
	ctx := context.Background()
	save := func(chartID, title string) <-chan error {
		def, v, err := s.ChartDefinition(ctx, chartID)
		if err != nil {
			t.Fatal(err)
		}
		def.Config.Title = title
		done := make(chan error, 1)
		go func() {
			_, _, _, err := s.SaveChart(ctx, editor, def, v)
			done <- err
		}()
		return done
	}

	// A long save of the sales dashboard holds its lock.
	unlock := s.lock("sales")
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	select {
	case err := <-save("orders", "Orders per minute"):
		if err != nil {
			t.Fatalf("a save on the ops dashboard: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a timing check
		t.Fatal("a save on the ops dashboard waited for the sales dashboard's lock")
	}

	// A save of the sales dashboard waits for it, and then goes through.
	sales := save("by-region", "Sales by area")
	select {
	case err := <-sales:
		t.Fatalf("a save on the sales dashboard went past its held lock (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	locked = false
	unlock()
	if err := <-sales; err != nil {
		t.Fatalf("the sales dashboard's save after its lock: %v", err)
	}
	if got, _, _ := s.ChartDefinition(ctx, "by-region"); got.Config.Title != "Sales by area" {
		t.Errorf("stored title %q", got.Config.Title)
	}
}

package edit

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/room"
)

// Store keeps the dashboards and their charts' definitions, versions and
// history.
type Store interface {
	Dashboard(ctx context.Context, id string) (dashboard.Dashboard, error)
	ChartVersion(ctx context.Context, id string) (dashboard.Chart, int, error)
	UpdateChart(ctx context.Context, c dashboard.Chart, version int, by string) (int, error)
	UpdateCharts(ctx context.Context, cs []dashboard.VersionedChart) error
	LastEdit(ctx context.Context, userID, dashboardID string) (dashboard.Edit, error)
	Undo(ctx context.Context, userID string, e dashboard.Edit) (int, error)
	Layout(ctx context.Context, dashboardID string) (dashboard.Layout, error)
	SetLayout(ctx context.Context, dashboardID string, version int, slots []dashboard.Slot) (int, []string, error)
	AddChart(ctx context.Context, dashboardID string, version int, c dashboard.Chart) (int, error)
	NewChartID(ctx context.Context, id string) error
}

// Engine runs definitions and puts saved ones into the live streams.
type Engine interface {
	// Try runs a valid definition's query and checks its config against
	// the result, changing nothing.
	Try(ctx context.Context, def dashboard.Chart) (chart.State, error)
	Redefine(ctx context.Context, def dashboard.Chart) error
	Forget(chartID string)
}

// Places finds which dashboard a chart is on.
type Places interface {
	ChartResource(ctx context.Context, id string) (access.Resource, error)
}

// Rooms announces changes to a dashboard's room.
type Rooms interface {
	Publish(dashboardID string, ev room.Event) error
}

// Config wires a Service.
type Config struct {
	Store  Store
	Engine Engine
	Places Places
	Rooms  Rooms
	Logger *slog.Logger
}

// Service makes the changes of dashboards and their charts.
type Service struct {
	cfg Config
	// locks holds a *sync.Mutex per dashboard: its changes go one at a
	// time (see the package doc).
	locks sync.Map
}

// New returns the service of cfg.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}
}

// lock takes the dashboard's edit lock and returns its unlock.
func (s *Service) lock(dashboardID string) func() {
	m, _ := s.locks.LoadOrStore(dashboardID, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// ChartDefinition returns a chart's definition and its version.
func (s *Service) ChartDefinition(ctx context.Context, id string) (dashboard.Chart, int, error) {
	return s.cfg.Store.ChartVersion(ctx, id)
}

// Sources are the data sources a dashboard's charts read from: the ones
// its editors may use. Sources are the server's; an editor of one
// dashboard does not get to query the others'.
func (s *Service) Sources(ctx context.Context, dashboardID string) ([]string, error) {
	d, err := s.cfg.Store.Dashboard(ctx, dashboardID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ch := range d.Charts {
		if ch.Query != nil && !slices.Contains(out, ch.Query.Source) {
			out = append(out, ch.Query.Source)
		}
	}
	slices.Sort(out)
	return out, nil
}

// TryChart returns the state the chart would show with def on the
// dashboard, running its query, without saving anything. It checks def,
// filling its defaults in, and returns it so.
func (s *Service) TryChart(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error) {
	if err := def.Validate(); err != nil {
		return chart.State{}, err
	}
	return s.try(ctx, dashboardID, def)
}

// TryNewChart is TryChart for a chart to add: its id must be one no chart
// has or had, whose data the try would show.
func (s *Service) TryNewChart(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error) {
	if err := s.newChart(ctx, &def); err != nil {
		return chart.State{}, err
	}
	return s.try(ctx, dashboardID, def)
}

// try runs a valid def on the dashboard.
func (s *Service) try(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error) {
	if err := s.checkSource(ctx, dashboardID, def); err != nil {
		return chart.State{}, err
	}
	return s.cfg.Engine.Try(ctx, def)
}

// checkSource refuses a query on a source the dashboard does not use.
func (s *Service) checkSource(ctx context.Context, dashboardID string, def dashboard.Chart) error {
	if def.Query == nil {
		return nil
	}
	sources, err := s.Sources(ctx, dashboardID)
	if err != nil {
		return err
	}
	if !slices.Contains(sources, def.Query.Source) {
		msg := fmt.Sprintf("this dashboard's charts read from %s; its editors may not use %q", strings.Join(sources, ", "), def.Query.Source)
		if len(sources) == 0 {
			msg = "this dashboard's charts read from no data source; its charts hold pushed data only"
		}
		return &apperr.Error{Code: apperr.Invalid, Field: "query.source", Message: msg}
	}
	return nil
}

// SaveChart saves def as the chart's definition if the chart is still at
// version: checked (its defaults filled in) and tried first, then stored,
// put into the live streams and announced to the dashboard's room. It
// returns the definition saved, its new version, and what changed
// ("type bar → line; title"; never SQL).
func (s *Service) SaveChart(ctx context.Context, by access.Subject, def dashboard.Chart, version int) (dashboard.Chart, int, string, error) {
	if err := def.Validate(); err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	old, _, err := s.cfg.Store.ChartVersion(ctx, def.ID)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	res, err := s.cfg.Places.ChartResource(ctx, def.ID)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	// A definition that does not run is never saved.
	if _, err := s.try(ctx, res.DashboardID, def); err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	changes := dashboard.Changes(old, def)
	defer s.lock(res.DashboardID)()
	v, err := s.cfg.Store.UpdateChart(ctx, def, version, editorID(by))
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	// Saved: the streams follow. A failure here (the broker down) leaves
	// viewers with the old definition until they resubscribe; the saved
	// one is what every new stream gets.
	if err := s.cfg.Engine.Redefine(context.WithoutCancel(ctx), def); err != nil {
		s.cfg.Logger.Error("put a saved chart definition into its streams", "chart", def.ID, "err", err)
	}
	s.announceEdit(ctx, by, res.DashboardID, def, changes)
	return def, v, changes, nil
}

// SaveDefaults makes filters the defaults of the parameters of that name
// of the dashboard's charts, all or none, and tells the room.
func (s *Service) SaveDefaults(ctx context.Context, by access.Subject, dashboardID string, filters map[string]string) error {
	// Under the lock from the read to the save: no other save comes in
	// between and is lost.
	defer s.lock(dashboardID)()
	d, err := s.cfg.Store.Dashboard(ctx, dashboardID)
	if err != nil {
		return err
	}
	if err := d.CheckFilters(filters); err != nil {
		return err
	}
	var updates []dashboard.VersionedChart
	for _, ch := range d.Charts {
		ch, v, err := s.cfg.Store.ChartVersion(ctx, ch.ID)
		if err != nil {
			return err
		}
		if ch.Query == nil {
			continue
		}
		changed := false
		for name, v := range filters {
			p, ok := ch.Query.Params[name]
			if !ok {
				continue
			}
			if p.Default != v {
				if !changed { // a copy of the map, not the store's
					ch.Query = new(*ch.Query)
					ch.Query.Params = maps.Clone(ch.Query.Params)
					changed = true
				}
				p.Default = v
				ch.Query.Params[name] = p
			}
		}
		if changed {
			updates = append(updates, dashboard.VersionedChart{Chart: ch, Version: v})
		}
	}
	// Every chart is tried before any is saved: all or none.
	for i := range updates {
		if err := updates[i].Chart.Validate(); err != nil {
			return err
		}
		if _, err := s.cfg.Engine.Try(ctx, updates[i].Chart); err != nil {
			return err
		}
	}
	// Not for undo, which takes back chart edits.
	if err := s.cfg.Store.UpdateCharts(ctx, updates); err != nil {
		return err
	}
	for _, u := range updates {
		if err := s.cfg.Engine.Redefine(context.WithoutCancel(ctx), u.Chart); err != nil {
			s.cfg.Logger.Error("put new default filters into a chart's streams", "chart", u.Chart.ID, "err", err)
		}
	}
	s.announce(dashboardID, by, room.Event{Kind: "defaults_saved", Filters: filters})
	return nil
}

// editorID is whose edit a save is, for undo: users' only.
func editorID(by access.Subject) string {
	if by.Kind != access.User {
		return ""
	}
	return by.ID
}

// Undo puts back the chart definition from before by's last edit on the
// dashboard that is not undone, if nobody changed the chart since; it
// returns the definition, its new version, and what changed.
func (s *Service) Undo(ctx context.Context, by access.Subject, dashboardID string) (dashboard.Chart, int, string, error) {
	if by.Kind != access.User {
		return dashboard.Chart{}, 0, "", apperr.Errorf(apperr.Forbidden, "only people undo their changes; an API token has none")
	}
	defer s.lock(dashboardID)()
	e, err := s.cfg.Store.LastEdit(ctx, by.ID, dashboardID)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	cur, _, err := s.cfg.Store.ChartVersion(ctx, e.ChartID)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	// The data it read may have changed since: it must still be valid
	// and run, on a source the dashboard still reads from.
	if err := e.Before.Validate(); err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	if _, err := s.try(ctx, dashboardID, e.Before); err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	v, err := s.cfg.Store.Undo(ctx, by.ID, e)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	if err := s.cfg.Engine.Redefine(context.WithoutCancel(ctx), e.Before); err != nil {
		s.cfg.Logger.Error("put an undone chart definition into its streams", "chart", e.ChartID, "err", err)
	}
	what := "undo: " + dashboard.Changes(cur, e.Before)
	s.announceEdit(ctx, by, dashboardID, e.Before, what)
	return e.Before, v, what, nil
}

// announceEdit tells the chart's dashboard room of a saved edit: the
// activity feed, and the new width and layout for the pages open on it
// (a new width moved the layout's version on).
func (s *Service) announceEdit(ctx context.Context, by access.Subject, dashboardID string, def dashboard.Chart, changes string) {
	ev := room.Event{Kind: "chart_edited", Chart: def.ID, Title: def.Config.Title, Changes: changes, Width: def.Width}
	if _, err := s.announceLayout(ctx, by, dashboardID, ev); err != nil {
		s.cfg.Logger.Warn("announce a chart edit", "chart", def.ID, "err", err)
	}
}

// announce publishes ev in the dashboard's room, as by's.
func (s *Service) announce(dashboardID string, by access.Subject, ev room.Event) {
	if by.Kind == access.User {
		m := room.MemberOf(by, dashboardID)
		ev.User, ev.Name, ev.Color = m.User, m.Name, m.Color
	}
	if err := s.cfg.Rooms.Publish(dashboardID, ev); err != nil {
		s.cfg.Logger.Warn("announce a change", "dashboard", dashboardID, "kind", ev.Kind, "err", err)
	}
}

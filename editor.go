package ashreports

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
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/room"
	"github.com/ashreports/ashreports/internal/store"
)

// chartEditor saves chart definitions: tried first, then stored if still
// at the editor's version, then put into the live streams.
type chartEditor struct {
	server *Server
	store  *store.Store
	engine *engine.Engine
	rooms  *room.Rooms
	log    *slog.Logger
	// locks holds a *sync.Mutex per dashboard: its saves go one at a
	// time, so that its streams end with the definition saved last, while
	// other dashboards' saves, which may re-run queries for seconds, go on.
	locks sync.Map
}

// lock takes the dashboard's edit lock and returns its unlock.
func (c *chartEditor) lock(dashboardID string) func() {
	m, _ := c.locks.LoadOrStore(dashboardID, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (c *chartEditor) ChartDefinition(ctx context.Context, id string) (dashboard.Chart, int, error) {
	return c.store.ChartVersion(ctx, id)
}

func (c *chartEditor) TryChart(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error) {
	if err := c.checkSource(ctx, dashboardID, def); err != nil {
		return chart.State{}, err
	}
	return c.engine.Try(ctx, def)
}

// Sources are the data sources a dashboard's charts read from: the ones
// its editors may use. Sources are the server's; an editor of one
// dashboard does not get to query the others'.
func (c *chartEditor) Sources(ctx context.Context, dashboardID string) ([]string, error) {
	d, err := c.store.Dashboard(ctx, dashboardID)
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

// checkSource refuses a query on a source the dashboard does not use.
func (c *chartEditor) checkSource(ctx context.Context, dashboardID string, def dashboard.Chart) error {
	if def.Query == nil {
		return nil
	}
	sources, err := c.Sources(ctx, dashboardID)
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

func (c *chartEditor) SaveChart(ctx context.Context, by access.Subject, def dashboard.Chart, version int, changes string) (int, error) {
	if err := def.Validate(); err != nil { // fills the default width in
		return 0, err
	}
	res, err := c.server.ident.ChartResource(ctx, def.ID)
	if err != nil {
		return 0, err
	}
	// A definition that does not run is never saved.
	if _, err := c.TryChart(ctx, res.DashboardID, def); err != nil {
		return 0, err
	}
	defer c.lock(res.DashboardID)()
	v, err := c.store.UpdateChart(ctx, def, version, editorID(by))
	if err != nil {
		return 0, err
	}
	// Saved: the streams follow. A failure here (the broker down) leaves
	// viewers with the old definition until they resubscribe; the saved
	// one is what every new stream gets.
	if err := c.engine.Redefine(context.WithoutCancel(ctx), def); err != nil {
		c.log.Error("put a saved chart definition into its streams", "chart", def.ID, "err", err)
	}
	c.announce(ctx, by, def, changes)
	return v, nil
}

func (c *chartEditor) SaveDefaults(ctx context.Context, by access.Subject, dashboardID string, filters map[string]string) error {
	// Under the lock from the read to the save: no other save comes in
	// between and is lost.
	defer c.lock(dashboardID)()
	d, err := c.store.Dashboard(ctx, dashboardID)
	if err != nil {
		return err
	}
	if err := d.CheckFilters(filters); err != nil {
		return err
	}
	var defs []dashboard.Chart
	var updates []dashboard.VersionedChart
	for _, ch := range d.Charts {
		ch, v, err := c.store.ChartVersion(ctx, ch.ID)
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
			defs = append(defs, ch)
			updates = append(updates, dashboard.VersionedChart{Chart: ch, Version: v})
		}
	}
	// Every chart is tried before any is saved: all or none.
	for _, def := range defs {
		if err := def.Validate(); err != nil {
			return err
		}
		if _, err := c.engine.Try(ctx, def); err != nil {
			return err
		}
	}
	// All or none; not for undo, which takes back chart edits.
	if err := c.store.UpdateCharts(ctx, updates); err != nil {
		return err
	}
	for _, def := range defs {
		if err := c.engine.Redefine(context.WithoutCancel(ctx), def); err != nil {
			c.log.Error("put new default filters into a chart's streams", "chart", def.ID, "err", err)
		}
	}
	ev := room.Event{Kind: "defaults_saved", Filters: filters}
	if m, err := c.server.member(ctx, by, dashboardID); err == nil {
		ev.User, ev.Name, ev.Color = m.User, m.Name, m.Color
	}
	if err := c.rooms.Publish(dashboardID, ev); err != nil {
		c.log.Warn("announce default filters", "dashboard", dashboardID, "err", err)
	}
	return nil
}

// editorID is whose edit a save is, for undo: users' only.
func editorID(by access.Subject) string {
	if by.Kind != access.User {
		return ""
	}
	return by.ID
}

func (c *chartEditor) Undo(ctx context.Context, by access.Subject, dashboardID string) (dashboard.Chart, int, string, error) {
	if by.Kind != access.User {
		return dashboard.Chart{}, 0, "", apperr.Errorf(apperr.Forbidden, "only people undo their changes; an API token has none")
	}
	defer c.lock(dashboardID)()
	e, err := c.store.LastEdit(ctx, by.ID, dashboardID)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	cur, _, err := c.store.ChartVersion(ctx, e.ChartID)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	// The data it read may have changed since: it must still run, on a
	// source the dashboard still reads from.
	if _, err := c.TryChart(ctx, dashboardID, e.Before); err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	v, err := c.store.Undo(ctx, by.ID, e)
	if err != nil {
		return dashboard.Chart{}, 0, "", err
	}
	if err := c.engine.Redefine(context.WithoutCancel(ctx), e.Before); err != nil {
		c.log.Error("put an undone chart definition into its streams", "chart", e.ChartID, "err", err)
	}
	what := "undo: " + dashboard.Changes(cur, e.Before)
	c.announce(ctx, by, e.Before, what)
	return e.Before, v, what, nil
}

// announce tells the chart's dashboard room of a saved edit: the activity
// feed, and the new width for the pages open on it.
func (c *chartEditor) announce(ctx context.Context, by access.Subject, def dashboard.Chart, changes string) {
	ctx = context.WithoutCancel(ctx) // the edit is committed, whether or not the caller waits
	res, err := c.server.ident.ChartResource(ctx, def.ID)
	if err != nil {
		c.log.Warn("announce a chart edit", "chart", def.ID, "err", err)
		return
	}
	// With the layout: a new width moved its version on.
	ev := room.Event{Kind: "chart_edited", Chart: def.ID, Title: def.Config.Title, Changes: changes, Width: def.Width}
	if _, err := c.announceLayout(ctx, by, res.DashboardID, ev); err != nil {
		c.log.Warn("announce a chart edit", "chart", def.ID, "err", err)
	}
}

package ashreports

import (
	"context"
	"strings"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/room"
)

// The chart editor also changes dashboards' layouts, under the same
// per-dashboard lock.

func (c *chartEditor) Layout(ctx context.Context, dashboardID string) (dashboard.Layout, error) {
	return c.store.Layout(ctx, dashboardID)
}

func (c *chartEditor) NewChartID(ctx context.Context, id string) error {
	return c.store.NewChartID(ctx, id)
}

func (c *chartEditor) SetLayout(ctx context.Context, by access.Subject, dashboardID string, version int, slots []dashboard.Slot) (dashboard.Layout, error) {
	defer c.lock(dashboardID)()
	before, err := c.store.Dashboard(ctx, dashboardID)
	if err != nil {
		return dashboard.Layout{}, err
	}
	_, removed, err := c.store.SetLayout(ctx, dashboardID, version, slots)
	if err != nil {
		return dashboard.Layout{}, err
	}
	for _, id := range removed {
		c.engine.Forget(id)
	}
	ev := room.Event{Kind: "layout_changed"}
	if len(removed) > 0 {
		var titles []string
		for _, ch := range before.Charts {
			for _, id := range removed {
				if ch.ID == id {
					titles = append(titles, ch.Config.Title)
				}
			}
		}
		ev = room.Event{Kind: "chart_removed", Title: strings.Join(titles, ", ")}
	}
	return c.announceLayout(ctx, by, dashboardID, ev)
}

func (c *chartEditor) AddChart(ctx context.Context, by access.Subject, dashboardID string, version int, def dashboard.Chart) (dashboard.Layout, error) {
	if err := def.Validate(); err != nil {
		return dashboard.Layout{}, err
	}
	// Tried with no one's data: an id in use is refused first.
	if err := c.store.NewChartID(ctx, def.ID); err != nil {
		return dashboard.Layout{}, err
	}
	// A chart that does not run is never added.
	if _, err := c.TryChart(ctx, dashboardID, def); err != nil {
		return dashboard.Layout{}, err
	}
	defer c.lock(dashboardID)()
	if _, err := c.store.AddChart(ctx, dashboardID, version, def); err != nil {
		return dashboard.Layout{}, err
	}
	return c.announceLayout(ctx, by, dashboardID, room.Event{Kind: "chart_added", Chart: def.ID, Title: def.Config.Title})
}

// announceLayout tells the dashboard's room of a layout change, with the
// new layout, and returns it. The change is committed: it is announced
// and returned even if the caller has gone meanwhile.
func (c *chartEditor) announceLayout(ctx context.Context, by access.Subject, dashboardID string, ev room.Event) (dashboard.Layout, error) {
	ctx = context.WithoutCancel(ctx)
	l, err := c.store.Layout(ctx, dashboardID)
	if err != nil {
		return l, err
	}
	ev.Layout = &l
	if m, err := c.server.member(ctx, by, dashboardID); err == nil {
		ev.User, ev.Name, ev.Color = m.User, m.Name, m.Color
	}
	if err := c.rooms.Publish(dashboardID, ev); err != nil {
		c.log.Warn("announce a layout change", "dashboard", dashboardID, "err", err)
	}
	return l, nil
}

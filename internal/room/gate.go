package room

import (
	"context"
	"fmt"
	"sync"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// Guard is the authorization a Gate asks (package authz's Guard).
type Guard interface {
	Dashboard(ctx context.Context, who access.Subject, p access.Permission, dashboardID string) error
	ChartResource(ctx context.Context, chartID string) (access.Resource, error)
	Check(ctx context.Context, who access.Subject, p access.Permission, res access.Resource) error
}

// Dashboards reads a dashboard's definition, for its filters.
type Dashboards interface {
	Dashboard(ctx context.Context, id string) (dashboard.Dashboard, error)
}

// Gate is the rooms as live connections use them, with every message
// checked: joining a room needs view_charts on its dashboard (people only,
// not tokens), saying one edits a chart needs edit_charts on it, and
// filters must be the dashboard's own. A connection is in one room at
// most, known by its id. A Gate is safe for concurrent use.
type Gate struct {
	rooms      *Rooms
	guard      Guard
	dashboards Dashboards

	mu      sync.Mutex
	handles map[string]*Handle // by connection id
}

// NewGate returns the gate of rooms.
func NewGate(rooms *Rooms, g Guard, d Dashboards) *Gate {
	return &Gate{rooms: rooms, guard: g, dashboards: d, handles: map[string]*Handle{}}
}

// MemberOf is who as the room of a dashboard shows them: their name, their
// role on the dashboard, their colour.
func MemberOf(who access.Subject, dashboardID string) Member {
	return Member{User: who.ID, Name: who.Name, Role: string(who.RoleOn(dashboardID)), Color: ColorOf(who.ID)}
}

// Join puts connection connID into the room of dashboardID, after leaving
// the one it was in; send gets the room's frames.
func (g *Gate) Join(ctx context.Context, who access.Subject, dashboardID, connID string, send func([]byte)) error {
	g.Leave(connID)
	if who.Kind == access.Token {
		return apperr.Errorf(apperr.Forbidden, "rooms are for people: an API token cannot join one")
	}
	if err := g.Allowed(ctx, who, dashboardID); err != nil {
		return err
	}
	h, err := g.rooms.Join(dashboardID, connID, MemberOf(who, dashboardID), send)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.handles[connID] = h
	g.mu.Unlock()
	return nil
}

// Leave takes connection connID out of its room, if it is in one.
func (g *Gate) Leave(connID string) {
	g.mu.Lock()
	h := g.handles[connID]
	delete(g.handles, connID)
	g.mu.Unlock()
	if h != nil {
		h.Leave()
	}
}

// Allowed reports whether who may be in the room of dashboardID.
func (g *Gate) Allowed(ctx context.Context, who access.Subject, dashboardID string) error {
	return g.guard.Dashboard(ctx, who, access.ViewCharts, dashboardID)
}

func (g *Gate) handle(connID string) (*Handle, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.handles[connID]
	if h == nil {
		return nil, apperr.Errorf(apperr.Invalid, "join a dashboard first")
	}
	return h, nil
}

// Focus says what connection connID looks at (chartID, "" for nothing) and
// whether its user edits it: the chart must be on the room's dashboard,
// and editing it needs edit_charts.
func (g *Gate) Focus(ctx context.Context, who access.Subject, connID, chartID string, editing bool) error {
	h, err := g.handle(connID)
	if err != nil {
		return err
	}
	editingID := ""
	if chartID != "" {
		res, err := g.guard.ChartResource(ctx, chartID)
		if err != nil && apperr.CodeOf(err) != apperr.NotFound {
			return err
		}
		if err != nil || res.DashboardID != h.Dashboard() {
			return &apperr.Error{Code: apperr.Invalid, Field: "chart", Message: fmt.Sprintf("dashboard %q has no chart %q", h.Dashboard(), chartID)}
		}
		if editing {
			if err := g.guard.Check(ctx, who, access.EditCharts, res); err != nil {
				return err
			}
			editingID = chartID
		}
	}
	return h.Set(chartID, editingID)
}

// Filtered tells the room of connection connID that its user set filters
// on their own view: they must be the dashboard's.
func (g *Gate) Filtered(ctx context.Context, who access.Subject, connID string, filters map[string]string) error {
	h, err := g.handle(connID)
	if err != nil {
		return err
	}
	d, err := g.dashboards.Dashboard(ctx, h.Dashboard())
	if err != nil {
		return err
	}
	if err := d.CheckFilters(filters); err != nil {
		return err
	}
	m := h.Member()
	return g.rooms.Publish(h.Dashboard(), Event{Kind: "filter_applied", User: m.User, Name: m.Name, Color: m.Color, Filters: filters})
}

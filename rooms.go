package ashreports

import (
	"context"
	"fmt"
	"strings"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/live"
	"github.com/ashreports/ashreports/internal/room"
)

// roomService is the hub's Rooms: package room, with access checked and
// users named.
type roomService struct {
	s     *Server
	rooms *room.Rooms
}

// authorizeDashboard is access.Decide on a dashboard, with denials
// audited.
func (s *Server) authorizeDashboard(ctx context.Context, who access.Subject, p access.Permission, dashboardID string) error {
	org, err := s.ident.DashboardOrg(ctx, dashboardID)
	if err != nil {
		return err
	}
	return s.decide(ctx, who, p, access.Resource{OrgID: org, DashboardID: dashboardID}, dashboardID)
}

func (r *roomService) Join(ctx context.Context, who access.Subject, dashboard, connID string, send func([]byte)) (live.RoomHandle, error) {
	if who.Kind == access.Token {
		return nil, apperr.Errorf(apperr.Forbidden, "rooms are for people: an API token cannot join one")
	}
	if err := r.s.authorizeDashboard(ctx, who, access.ViewCharts, dashboard); err != nil {
		return nil, err
	}
	m, err := r.s.member(ctx, who, dashboard)
	if err != nil {
		return nil, err
	}
	h, err := r.rooms.Join(dashboard, connID, m, send)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (r *roomService) Allowed(ctx context.Context, who access.Subject, dashboard string) error {
	return r.s.authorizeDashboard(ctx, who, access.ViewCharts, dashboard)
}

func (r *roomService) Focus(ctx context.Context, h live.RoomHandle, who access.Subject, chartID string, editing bool) error {
	editingID := ""
	if chartID != "" {
		res, err := r.s.ident.ChartResource(ctx, chartID) // cached
		if err != nil && apperr.CodeOf(err) != apperr.NotFound {
			return err
		}
		if err != nil || res.DashboardID != h.Dashboard() {
			return &apperr.Error{Code: apperr.Invalid, Field: "chart", Message: fmt.Sprintf("dashboard %q has no chart %q", h.Dashboard(), chartID)}
		}
		if editing {
			// Not audited: the room's members were only to be told.
			if d := access.Decide(who, access.EditCharts, res); !d.Allowed {
				return d.Err()
			}
			editingID = chartID
		}
	}
	return h.Set(chartID, editingID)
}

func (r *roomService) Filtered(ctx context.Context, h live.RoomHandle, filters map[string]string) error {
	d, err := r.s.store.Dashboard(ctx, h.Dashboard())
	if err != nil {
		return err
	}
	if err := d.CheckFilters(filters); err != nil {
		return err
	}
	rh := h.(*room.Handle)
	m := rh.Member()
	return r.rooms.Publish(rh.Dashboard(), room.Event{Kind: "filter_applied", User: m.User, Name: m.Name, Color: m.Color, Filters: filters})
}

// member is who as the rooms of dashboard show them.
func (s *Server) member(ctx context.Context, who access.Subject, dashboard string) (room.Member, error) {
	u, err := s.store.User(ctx, who.ID)
	if err != nil {
		return room.Member{}, err
	}
	// Members see each other's names; without one, the part of the
	// email before the @, not the address.
	name := u.Name
	if name == "" {
		name, _, _ = strings.Cut(u.Email, "@")
	}
	return room.Member{User: u.ID, Name: name, Role: string(who.RoleOn(dashboard)), Color: room.ColorOf(u.ID)}, nil
}

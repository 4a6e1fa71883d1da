package ashreports

import (
	"context"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/live"
	"github.com/ashreports/ashreports/internal/room"
	"github.com/ashreports/ashreports/internal/store"
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
	d := access.Decide(who, p, access.Resource{OrgID: org, DashboardID: dashboardID})
	if access.Audited(who, d) {
		if err := s.store.RecordAudit(ctx, store.DenialEntry(who, p, dashboardID, d.Reason)); err != nil {
			s.log.Error("audit", "err", err)
		}
	}
	return d.Err()
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

func (r *roomService) Filtered(h live.RoomHandle, filters map[string]string) error {
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
	name := u.Name
	if name == "" {
		name = u.Email
	}
	return room.Member{User: u.ID, Name: name, Role: string(who.RoleOn(dashboard)), Color: room.ColorOf(u.ID)}, nil
}

package edit

import (
	"context"
	"strings"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/room"
)

// Layout returns a dashboard's layout.
func (s *Service) Layout(ctx context.Context, dashboardID string) (dashboard.Layout, error) {
	return s.cfg.Store.Layout(ctx, dashboardID)
}

// SetLayout makes the dashboard's charts slots, in order, if its layout is
// still at version; charts left out are removed, and their streams
// forgotten. It returns the new layout.
func (s *Service) SetLayout(ctx context.Context, by access.Subject, dashboardID string, version int, slots []dashboard.Slot) (dashboard.Layout, error) {
	defer s.lock(dashboardID)()
	before, err := s.cfg.Store.Layout(ctx, dashboardID)
	if err != nil {
		return dashboard.Layout{}, err
	}
	_, removed, err := s.cfg.Store.SetLayout(ctx, dashboardID, version, slots)
	if err != nil {
		return dashboard.Layout{}, err
	}
	for _, id := range removed {
		s.cfg.Engine.Forget(id)
	}
	ev := room.Event{Kind: "layout_changed"}
	if len(removed) > 0 {
		var titles []string
		for _, sl := range before.Charts {
			for _, id := range removed {
				if sl.ID == id {
					titles = append(titles, sl.Title)
				}
			}
		}
		ev = room.Event{Kind: "chart_removed", Title: strings.Join(titles, ", ")}
	}
	return s.announceLayout(ctx, by, dashboardID, ev)
}

// newChart checks a chart to add: its id first, one no chart has or had
// (conflict), then the rest (its defaults filled in).
func (s *Service) newChart(ctx context.Context, def *dashboard.Chart) error {
	if !dashboard.ValidID(def.ID) {
		return &chart.FieldError{Field: "id", Message: "a new chart needs an id: a-z, 0-9, - and _, at most 64"}
	}
	if err := s.cfg.Store.NewChartID(ctx, def.ID); err != nil {
		return err
	}
	return def.Validate()
}

// AddChart tries def and adds it at the end of the dashboard, if its
// layout is still at version; it returns the new layout.
func (s *Service) AddChart(ctx context.Context, by access.Subject, dashboardID string, version int, def dashboard.Chart) (dashboard.Layout, error) {
	if err := s.newChart(ctx, &def); err != nil {
		return dashboard.Layout{}, err
	}
	// A chart that does not run is never added.
	if _, err := s.try(ctx, dashboardID, def); err != nil {
		return dashboard.Layout{}, err
	}
	defer s.lock(dashboardID)()
	if _, err := s.cfg.Store.AddChart(ctx, dashboardID, version, def); err != nil {
		return dashboard.Layout{}, err
	}
	return s.announceLayout(ctx, by, dashboardID, room.Event{Kind: "chart_added", Chart: def.ID, Title: def.Config.Title})
}

// announceLayout tells the dashboard's room of a layout change, with the
// new layout, and returns it. The change is committed: it is announced
// and returned even if the caller has gone meanwhile.
func (s *Service) announceLayout(ctx context.Context, by access.Subject, dashboardID string, ev room.Event) (dashboard.Layout, error) {
	l, err := s.cfg.Store.Layout(context.WithoutCancel(ctx), dashboardID)
	if err != nil {
		return l, err
	}
	ev.Layout = &l
	s.announce(dashboardID, by, ev)
	return l, nil
}

package web

import (
	"context"
	"net/http"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// Layouts changes a dashboard's charts as a whole: adds, removes, moves
// and resizes them, each change based on the layout version the editor
// saw (package edit).
type Layouts interface {
	Layout(ctx context.Context, dashboardID string) (dashboard.Layout, error)
	// SetLayout makes the dashboard's charts slots, in order; charts left
	// out are removed.
	SetLayout(ctx context.Context, by access.Subject, dashboardID string, version int, slots []dashboard.Slot) (dashboard.Layout, error)
	// AddChart checks and tries def, whose id must be new, and adds it at
	// the end of the dashboard.
	AddChart(ctx context.Context, by access.Subject, dashboardID string, version int, def dashboard.Chart) (dashboard.Layout, error)
}

// apiLayout returns a dashboard's layout to its editors: GET
// /api/v1/dashboards/{id}/layout.
func (s *server) apiLayout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeDashboard(r, access.EditCharts, id); err != nil {
		writeError(w, err)
		return
	}
	l, err := s.Layouts.Layout(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	sources, err := s.Editor.Sources(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": l.Version, "charts": l.Charts, "sources": sources})
}

// apiPreviewNew returns the state a new chart of a dashboard would show:
// POST /api/v1/dashboards/{id}/charts/preview with {"chart": {…}}.
func (s *server) apiPreviewNew(w http.ResponseWriter, r *http.Request) {
	req, err := s.readNewChart(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := s.Editor.TryNewChart(r.Context(), r.PathValue("id"), req.Chart)
	if err != nil {
		writeError(w, editError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": st})
}

// apiSetLayout moves, resizes and removes a dashboard's charts: PUT
// /api/v1/dashboards/{id}/layout with {"version": n, "charts": [{"id", "width"}…]}.
func (s *server) apiSetLayout(w http.ResponseWriter, r *http.Request) {
	if err := s.changeDashboard(r, access.EditCharts, r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	var req dashboard.Layout
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := needVersion(req.Version, "layout"); err != nil {
		writeError(w, err)
		return
	}
	if req.Charts == nil {
		writeError(w, &apperr.Error{Code: apperr.Invalid, Field: "charts", Message: "required: the charts in their new order (an empty list removes them all)"})
		return
	}
	l, err := s.Layouts.SetLayout(r.Context(), who(r.Context()), r.PathValue("id"), req.Version, req.Charts)
	if err != nil {
		s.editFailed(w, "set layout", err)
		return
	}
	s.auditAdmin(r, "layout_changed", r.PathValue("id"), "")
	writeJSON(w, http.StatusOK, l)
}

// apiAddChart adds a chart to a dashboard: POST
// /api/v1/dashboards/{id}/charts with {"version": n, "chart": {…}}.
func (s *server) apiAddChart(w http.ResponseWriter, r *http.Request) {
	req, err := s.readNewChart(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := needVersion(req.Version, "layout"); err != nil {
		writeError(w, err)
		return
	}
	l, err := s.Layouts.AddChart(r.Context(), who(r.Context()), r.PathValue("id"), req.Version, req.Chart)
	if err != nil {
		s.editFailed(w, "add chart", err)
		return
	}
	s.auditAdmin(r, "chart_added", req.Chart.ID, req.Chart.Config.Title)
	writeJSON(w, http.StatusCreated, l)
}

// readNewChart authorizes adding a chart to dashboard id and reads its
// body.
func (s *server) readNewChart(w http.ResponseWriter, r *http.Request) (editRequest, error) {
	var req editRequest
	if err := s.changeDashboard(r, access.EditCharts, r.PathValue("id")); err != nil {
		return req, err
	}
	return req, readJSON(w, r, &req)
}

package web

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// Editor reads, tries and saves chart definitions (package edit).
type Editor interface {
	// ChartDefinition returns a chart's definition and its version.
	ChartDefinition(ctx context.Context, id string) (dashboard.Chart, int, error)
	// TryChart returns the state the chart would show with def on the
	// dashboard, running its query, without saving anything.
	TryChart(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error)
	// TryNewChart is TryChart for a chart to add, whose id must be new.
	TryNewChart(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error)
	// SaveChart checks and tries def, then saves it if the chart is still
	// at version, puts it into the live streams and tells the dashboard's
	// room who changed what; it returns the definition saved (its
	// defaults filled in), the new version and what changed.
	SaveChart(ctx context.Context, by access.Subject, def dashboard.Chart, version int) (dashboard.Chart, int, string, error)
	// Sources names the data sources the queries of a dashboard may use:
	// those its charts read from.
	Sources(ctx context.Context, dashboardID string) ([]string, error)
	// Undo puts back the chart definition from before by's last edit on
	// the dashboard that is not undone, if nobody changed the chart since;
	// it returns the definition, its new version, and what changed.
	Undo(ctx context.Context, by access.Subject, dashboardID string) (dashboard.Chart, int, string, error)
	// SaveDefaults makes filters the defaults of the parameters of that
	// name of the dashboard's charts, and tells the room.
	SaveDefaults(ctx context.Context, by access.Subject, dashboardID string, filters map[string]string) error
}

// apiUndo undoes the user's last chart edit on a dashboard: POST
// /api/v1/dashboards/{id}/undo.
func (s *server) apiUndo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.changeDashboard(r, access.EditCharts, id); err != nil {
		writeError(w, err)
		return
	}
	def, v, what, err := s.Editor.Undo(r.Context(), who(r.Context()), id)
	if err != nil {
		s.editFailed(w, "undo", err)
		return
	}
	s.auditAdmin(r, "chart_edited", def.ID, what)
	writeJSON(w, http.StatusOK, definitionJSON{Chart: def, Version: v})
}

// apiSaveDefaults saves a dashboard's default filters: PUT
// /api/v1/dashboards/{id}/filters with {"filters": {"region": "EU"}}.
func (s *server) apiSaveDefaults(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.changeDashboard(r, access.EditCharts, id); err != nil {
		writeError(w, err)
		return
	}
	var req struct {
		Filters map[string]string `json:"filters"`
	}
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Filters) == 0 {
		writeError(w, &apperr.Error{Code: apperr.Invalid, Field: "filters", Message: "required: the filters and their new defaults"})
		return
	}
	if err := s.Editor.SaveDefaults(r.Context(), who(r.Context()), id, req.Filters); err != nil {
		s.editFailed(w, "save default filters", err)
		return
	}
	names := slices.Sorted(maps.Keys(req.Filters))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " = " + req.Filters[n]
	}
	s.auditAdmin(r, "filters_saved", id, strings.Join(parts, ", "))
	writeJSON(w, http.StatusOK, map[string]any{"filters": req.Filters})
}

type definitionJSON struct {
	Chart   dashboard.Chart `json:"chart"`
	Version int             `json:"version"`
	Sources []string        `json:"sources,omitempty"`
}

// apiDefinition returns a chart's definition, with its query, to those who
// may edit it: GET /api/v1/charts/{id}/definition.
func (s *server) apiDefinition(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeChart(r, access.EditCharts, id); err != nil {
		writeError(w, err)
		return
	}
	def, v, err := s.Editor.ChartDefinition(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.Guard.ChartResource(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	sources, err := s.Editor.Sources(r.Context(), res.DashboardID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, definitionJSON{Chart: def, Version: v, Sources: sources})
}

// editRequest is the body of a preview or a save: the chart's whole new
// definition and, for a save, the version it was based on.
type editRequest struct {
	Chart   dashboard.Chart `json:"chart"`
	Version int             `json:"version"`
}

// readEdit authorizes an edit of chart id and reads its body.
func (s *server) readEdit(w http.ResponseWriter, r *http.Request) (editRequest, error) {
	id := r.PathValue("id")
	var req editRequest
	if err := s.authorizeChart(r, access.EditCharts, id); err != nil {
		return req, err
	}
	if err := checkCSRF(r, who(r.Context())); err != nil {
		return req, err
	}
	if err := readJSON(w, r, &req); err != nil {
		return req, err
	}
	if req.Chart.ID == "" {
		req.Chart.ID = id
	}
	if req.Chart.ID != id {
		return req, &apperr.Error{Code: apperr.Invalid, Field: "chart.id", Message: fmt.Sprintf("is %q, not the chart of the URL %q; a chart's id cannot change", req.Chart.ID, id)}
	}
	return req, nil
}

// needVersion refuses a change that names no version of what it is
// based on.
func needVersion(v int, of string) error {
	if v < 1 {
		return &apperr.Error{Code: apperr.Invalid, Field: "version", Message: "required: the version of the " + of + " the change is based on"}
	}
	return nil
}

// editFailed writes the error of an edit, logging what is not the
// editor's to fix.
func (s *server) editFailed(w http.ResponseWriter, op string, err error) {
	if apperr.CodeOf(err) == apperr.Internal {
		s.Logger.Error(op, "err", err)
	}
	writeError(w, editError(err))
}

// editError names fields as the chart's JSON form does; the chart's id as
// the request names it, chart.id (the form's input is named so).
func editError(err error) error {
	err = dashboard.JSONError(err)
	if fe, ok := errors.AsType[*chart.FieldError](err); ok && fe.Field == "id" {
		err = chart.Under("chart", err)
	}
	return err
}

// apiPreview returns the state a chart would show with a definition,
// saving nothing: POST /api/v1/charts/{id}/preview.
func (s *server) apiPreview(w http.ResponseWriter, r *http.Request) {
	req, err := s.readEdit(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.Guard.ChartResource(r.Context(), req.Chart.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := s.Editor.TryChart(r.Context(), res.DashboardID, req.Chart)
	if err != nil {
		writeError(w, editError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": st})
}

// apiSaveDefinition saves a chart's definition, if it is still at the
// version the editor started from: PUT /api/v1/charts/{id}/definition.
func (s *server) apiSaveDefinition(w http.ResponseWriter, r *http.Request) {
	req, err := s.readEdit(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := needVersion(req.Version, "definition"); err != nil {
		writeError(w, err)
		return
	}
	// The reply is what was saved (a read after the save could give a
	// later save's).
	saved, v, what, err := s.Editor.SaveChart(r.Context(), who(r.Context()), req.Chart, req.Version)
	if err != nil {
		s.editFailed(w, "save chart", err)
		return
	}
	s.auditAdmin(r, "chart_edited", saved.ID, what)
	writeJSON(w, http.StatusOK, definitionJSON{Chart: saved, Version: v})
}

package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
)

// auditPageSize is how many audit entries a page shows.
const auditPageSize = 100

type auditData struct {
	Entries []auditRow
	Older   int64 // the id to page back from; 0 when there is nothing older
}

type auditRow struct {
	audit.Entry
	When string
}

// auditEntries returns a page of the organization's audit log for an
// administrator of it: before is the id to page back from (0: newest).
func (s *server) auditEntries(r *http.Request) ([]audit.Entry, int64, error) {
	org := who(r.Context()).OrgID
	if err := s.Guard.Org(r.Context(), who(r.Context()), access.AdministerOrg); err != nil {
		return nil, 0, err
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, 0, &apperr.Error{Code: apperr.Invalid, Field: "before", Message: "want a positive entry id"}
		}
		before = n
	}
	es, err := s.Audit.AuditLog(r.Context(), org, before, auditPageSize+1)
	if err != nil {
		return nil, 0, err
	}
	var older int64
	if len(es) > auditPageSize {
		es = es[:auditPageSize]
		older = es[len(es)-1].ID
	}
	return es, older, nil
}

// auditPage shows the audit log to an organization's admins: GET
// /admin/audit[?before=ID].
func (s *server) auditPage(w http.ResponseWriter, r *http.Request) {
	es, older, err := s.auditEntries(r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	rows := make([]auditRow, len(es))
	for i, e := range es {
		rows[i] = auditRow{Entry: e, When: e.At.UTC().Format(time.DateTime) + " UTC"}
	}
	s.render(w, r, http.StatusOK, "audit", pageData{Title: s.Catalog.T("audit.title"), Audit: &auditData{Entries: rows, Older: older}})
}

// apiAudit is the audit log as JSON: GET /api/v1/audit[?before=ID].
func (s *server) apiAudit(w http.ResponseWriter, r *http.Request) {
	es, older, err := s.auditEntries(r)
	if err != nil {
		writeError(w, err)
		return
	}
	type entry struct {
		ID        int64     `json:"id"`
		At        time.Time `json:"at"`
		ActorKind string    `json:"actor_kind"`
		ActorID   string    `json:"actor_id,omitempty"`
		Action    string    `json:"action"`
		Target    string    `json:"target,omitempty"`
		Outcome   string    `json:"outcome"`
		Detail    string    `json:"detail,omitempty"`
		IP        string    `json:"ip,omitempty"`
	}
	out := make([]entry, len(es))
	for i, e := range es {
		out[i] = entry{e.ID, e.At, e.ActorKind, e.ActorID, e.Action, e.Target, e.Outcome, e.Detail, e.IP}
	}
	res := map[string]any{"entries": out}
	if older != 0 {
		res["older"] = "/api/v1/audit?before=" + strconv.FormatInt(older, 10)
	}
	writeJSON(w, http.StatusOK, res)
}

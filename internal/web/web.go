package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/i18n"
)

//go:embed templates/*.html
var templateFiles embed.FS

var errAssetsMissing = errors.New("browser assets are not built: run `make assets` (npm ci && npm run build) before building the server")

// MaxBodyBytes is the largest request body the API accepts (1 MiB).
const MaxBodyBytes = 1 << 20

// Dashboards reads dashboard definitions.
type Dashboards interface {
	Dashboards(ctx context.Context) ([]dashboard.Summary, error)
	Dashboard(ctx context.Context, id string) (dashboard.Dashboard, error)
	// DashboardHistory returns the saved changes of a dashboard's charts,
	// newest first.
	DashboardHistory(ctx context.Context, dashboardID string, limit int) ([]audit.Change, error)
}

// Charts applies ops to charts and reads their state.
type Charts interface {
	Apply(ctx context.Context, chartID string, op chart.Op, pri engine.Priority) (engine.Stream, uint64, error)
	State(ctx context.Context, chartID string) (chart.State, uint64, error)
}

// Config wires the handler.
type Config struct {
	Dashboards Dashboards
	Charts     Charts
	// Live serves the /live WebSocket endpoint.
	Live http.Handler
	// Metrics serves /metrics in the Prometheus format.
	Metrics http.Handler
	Catalog *i18n.Catalog
	// Ready reports whether the server can serve (metadata database and
	// broker answer).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Guard authorizes every request, auditing denials.
	Guard Guard
	// Sessions resolves sessions and tokens to who asks, and starts and
	// ends sessions.
	Sessions Sessions
	// Users finds the users who sign in.
	Users Users
	// Passwords checks the passwords of sign-ins, a bounded number at
	// once.
	Passwords Passwords
	// Audit keeps the audit log.
	Audit AuditLog
	// Limits are the API's rate limits.
	Limits Limits
	// Admin manages members, roles and tokens; Accounts creates tokens.
	Admin    Admin
	Accounts Accounts
	// Editor reads, tries and saves chart definitions.
	Editor Editor
	// Layouts adds, removes, moves and resizes a dashboard's charts.
	Layouts Layouts
	// Provisioning tells the admin page what the start left out.
	Provisioning Provisioning
}

type server struct {
	Config
	pages       map[string]*template.Template
	loginLimits loginLimits
	apiLimits   apiLimits
}

// New returns the HTTP handler of the whole server.
func New(cfg Config) (http.Handler, error) {
	static, err := assets()
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{Config: cfg, pages: map[string]*template.Template{}, loginLimits: newLoginLimits(), apiLimits: newAPILimits(cfg.Limits)}
	funcs := template.FuncMap{"t": cfg.Catalog.T, "field": func(id, name, typ string) formField { return formField{id, name, typ} }}
	for _, page := range []string{"list", "dashboard", "error", "login", "audit", "admin"} {
		t, err := template.New("layout").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", page, err)
		}
		s.pages[page] = t
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.list)
	mux.HandleFunc("GET /dashboards/{id}", s.dashboard)
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /admin/audit", s.auditPage)
	mux.HandleFunc("GET /admin", s.adminPage)
	mux.HandleFunc("GET /api/v1/audit", s.apiAudit)
	mux.HandleFunc("GET /api/v1/members", s.apiMembers)
	mux.HandleFunc("PUT /api/v1/members/{user}", s.apiSetMember)
	mux.HandleFunc("DELETE /api/v1/members/{user}", s.apiRemoveMember)
	mux.HandleFunc("PUT /api/v1/dashboards/{id}/roles/{user}", s.apiSetDashboardRole)
	mux.HandleFunc("DELETE /api/v1/dashboards/{id}/roles/{user}", s.apiRemoveDashboardRole)
	mux.HandleFunc("GET /api/v1/tokens", s.apiTokens)
	mux.HandleFunc("POST /api/v1/tokens", s.apiCreateToken)
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", s.apiRevokeToken)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", noCache(http.FileServerFS(static))))
	mux.Handle("GET /live", liveSubject(cfg.Live))
	mux.Handle("GET /metrics", cfg.Metrics)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/v1/dashboards", s.apiDashboards)
	mux.HandleFunc("GET /api/v1/dashboards/{id}", s.apiDashboard)
	mux.HandleFunc("GET /api/v1/charts/{id}", s.apiChart)
	mux.HandleFunc("GET /api/v1/charts/{id}/export.csv", s.apiExport)
	mux.HandleFunc("POST /api/v1/charts/{id}/updates", s.apiUpdate)
	mux.HandleFunc("GET /api/v1/charts/{id}/definition", s.apiDefinition)
	mux.HandleFunc("PUT /api/v1/charts/{id}/definition", s.apiSaveDefinition)
	mux.HandleFunc("POST /api/v1/charts/{id}/preview", s.apiPreview)
	mux.HandleFunc("PUT /api/v1/dashboards/{id}/filters", s.apiSaveDefaults)
	mux.HandleFunc("POST /api/v1/dashboards/{id}/undo", s.apiUndo)
	mux.HandleFunc("GET /api/v1/dashboards/{id}/layout", s.apiLayout)
	mux.HandleFunc("PUT /api/v1/dashboards/{id}/layout", s.apiSetLayout)
	mux.HandleFunc("POST /api/v1/dashboards/{id}/charts", s.apiAddChart)
	mux.HandleFunc("POST /api/v1/dashboards/{id}/charts/preview", s.apiPreviewNew)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apperr.Errorf(apperr.NotFound, "no API route %s %s", r.Method, r.URL.Path))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, apperr.Errorf(apperr.NotFound, "no page %s", r.URL.Path))
	})
	return securityHeaders(s.identify(s.limit(mux))), nil
}

// noCache makes browsers revalidate assets, which carry no content hash in
// their names, so that a new binary's assets are picked up at once.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "SAMEORIGIN")
		h.ServeHTTP(w, r)
	})
}

type pageData struct {
	// Signed-in user: their name and the session's CSRF token, for the
	// sign-out form.
	UserName  string
	UserID    string
	CSRF      string
	Admin     bool // may administer the organization: the audit log link
	Login     *loginData
	Audit     *auditData
	AdminPage *adminPageData

	Title      string
	Body       string
	Live       bool
	Catalog    *i18n.Catalog
	Messages   map[string]string
	Dashboards []dashboard.Summary
	Dashboard  dashboard.Dashboard
	// CanEdit shows the chart editor: the user may edit the dashboard's
	// charts. LayoutVersion is the version of the charts' layout then.
	CanEdit       bool
	LayoutVersion int
	// Filters are the dashboard's filters: the parameters of its charts'
	// queries, by name.
	Filters []dashboard.Filter
	// History are the latest saved changes of the dashboard's charts.
	History []historyRow
}

type historyRow struct {
	audit.Change
	When  string // RFC 3339, for <time>
	Shown string // When as shown
	Title string // the chart's title now
}

// historySize is how many past changes a dashboard page lists.
const historySize = 20

// formField is one input of a server-rendered form: its id suffix (and
// message key), its name and its input type.
type formField struct{ ID, Name, Type string }

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	if id := who(r.Context()); id.SignedIn() {
		d.UserName, d.UserID, d.CSRF = id.Name, id.ID, id.CSRFToken
		d.Admin = s.Guard.Allowed(id, access.AdministerOrg, access.Resource{OrgID: id.OrgID})
	}
	d.Catalog = s.Catalog
	d.Messages = s.Catalog.Subset("conn.", "chart.", "status.", "edit.", "room.", "admin.")
	var b strings.Builder
	if err := s.pages[page].ExecuteTemplate(&b, "layout", d); err != nil {
		s.Logger.Error("render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

func (s *server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	e := apperr.From(err)
	switch e.Code {
	case apperr.NotFound:
		s.render(w, r, http.StatusNotFound, "error", pageData{Title: s.Catalog.T("error.not_found"), Body: s.Catalog.T("error.not_found.body")})
		return
	case apperr.Unauthorized:
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	case apperr.Forbidden, apperr.Invalid, apperr.Conflict, apperr.RateLimited:
		s.render(w, r, apperr.HTTPStatus(e.Code), "error", pageData{Title: s.Catalog.T("error.refused"), Body: e.Message})
		return
	}
	s.Logger.Error("page", "path", r.URL.Path, "err", err)
	s.render(w, r, apperr.HTTPStatus(e.Code), "error", pageData{Title: s.Catalog.T("error.internal"), Body: s.Catalog.T("error.internal.body")})
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	if err := access.Identified(who(r.Context())); err != nil {
		s.errorPage(w, r, err)
		return
	}
	ds, err := s.Dashboards.Dashboards(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "list", pageData{Title: s.Catalog.T("list.title"), Dashboards: s.visible(r, ds)})
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	if err := s.authorizeDashboard(r, access.ViewCharts, r.PathValue("id")); err != nil {
		s.errorPage(w, r, err)
		return
	}
	res, err := s.Guard.DashboardResource(r.Context(), r.PathValue("id"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	// Edit controls only for signed-in editors: the editor's requests
	// carry the session's CSRF token.
	id := who(r.Context())
	canEdit := id.SignedIn() && s.Guard.Allowed(id, access.EditCharts, res)
	// The layout version is read before the charts: a change between the
	// two reads makes the page's first layout change a conflict, never a
	// change based on charts the page does not show (which would remove a
	// chart added meanwhile).
	var layout dashboard.Layout
	if canEdit {
		if layout, err = s.Layouts.Layout(r.Context(), res.DashboardID); err != nil {
			s.errorPage(w, r, err)
			return
		}
	}
	d, err := s.Dashboards.Dashboard(r.Context(), res.DashboardID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	changes, err := s.Dashboards.DashboardHistory(r.Context(), d.ID, historySize)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	history := make([]historyRow, len(changes))
	for i, c := range changes {
		history[i] = historyRow{Change: c, When: c.At.UTC().Format(time.RFC3339), Shown: c.At.UTC().Format("Jan 2 15:04 UTC"), Title: c.ChartID}
		for _, ch := range d.Charts {
			if ch.ID == c.ChartID {
				history[i].Title = ch.Config.Title
			}
		}
	}
	s.render(w, r, http.StatusOK, "dashboard", pageData{Title: d.Title, Live: true, Dashboard: d, CanEdit: canEdit,
		LayoutVersion: layout.Version, Filters: d.Filters(), History: history})
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		s.Logger.Warn("not ready", "err", err)
		writeError(w, apperr.Errorf(apperr.Unavailable, "not ready"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *server) apiDashboards(w http.ResponseWriter, r *http.Request) {
	if err := access.Identified(who(r.Context())); err != nil {
		writeError(w, err)
		return
	}
	ds, err := s.Dashboards.Dashboards(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	ds = s.visible(r, ds)
	type item struct {
		ID          string `json:"id"`
		Title       string `json:"title"`
		Description string `json:"description,omitempty"`
		Charts      int    `json:"charts"`
	}
	out := make([]item, len(ds))
	for i, d := range ds {
		out[i] = item{d.ID, d.Title, d.Description, d.Charts}
	}
	writeJSON(w, http.StatusOK, map[string]any{"dashboards": out})
}

func (s *server) apiDashboard(w http.ResponseWriter, r *http.Request) {
	if err := s.authorizeDashboard(r, access.ViewCharts, r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.Guard.DashboardResource(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	d, err := s.Dashboards.Dashboard(r.Context(), res.DashboardID)
	if err != nil {
		writeError(w, err)
		return
	}
	// A chart's query is for those who may edit it: its SQL tells of the
	// data source behind it, tables and columns no chart shows.
	if !s.Guard.Allowed(who(r.Context()), access.EditCharts, res) {
		d.Charts = slices.Clone(d.Charts)
		for i := range d.Charts {
			d.Charts[i].Query = nil
		}
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *server) apiChart(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeChart(r, access.ViewCharts, id); err != nil {
		writeError(w, err)
		return
	}
	st, off, err := s.Charts.State(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"chart": id, "offset": off, "state": st})
}

// apiUpdate applies one op to a chart: POST /api/v1/charts/{id}/updates.
func (s *server) apiUpdate(w http.ResponseWriter, r *http.Request) {
	if err := s.authorizeChart(r, access.PublishData, r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	if err := checkCSRF(r, who(r.Context())); err != nil {
		writeError(w, err)
		return
	}
	// Requiring the JSON content type also keeps cross-site forms and
	// no-cors fetches out: browsers send it only after a CORS preflight.
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		writeError(w, apperr.Errorf(apperr.Unsupported, "content type %q is not application/json", ct))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, apperr.Errorf(apperr.TooLarge, "request body larger than %d bytes", MaxBodyBytes))
			return
		}
		writeError(w, apperr.Errorf(apperr.Invalid, "read request body: %v", err))
		return
	}
	pri, err := engine.ParsePriority(r.URL.Query().Get("priority"))
	if err != nil {
		writeError(w, err)
		return
	}
	op, err := chart.ParseOp(body)
	if err != nil {
		writeError(w, err)
		return
	}
	st, off, err := s.Charts.Apply(r.Context(), r.PathValue("id"), op, pri)
	if err != nil {
		if apperr.CodeOf(err) == apperr.Internal {
			s.Logger.Error("apply op", "chart", r.PathValue("id"), "err", err)
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"chart": st.ChartID, "stream": st.ID, "offset": off})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes err in the JSON error shape with its code's status.
func writeError(w http.ResponseWriter, err error) {
	b := apperr.BodyOf(err)
	writeJSON(w, apperr.HTTPStatus(b.Code), map[string]any{"error": b})
}

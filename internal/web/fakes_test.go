package web

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/authz"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/i18n"
)

// The fakes of the handler's parts: hand-written, with a function field
// per method a test sets (a method whose field is nil is not expected to
// be called, and fails the test).

type fakeSessions struct {
	t         *testing.T
	TokenFn   func(ctx context.Context, header string, now time.Time) (access.Subject, error)
	SessionFn func(ctx context.Context, cookie string, now time.Time) (access.Subject, error)
	StartFn   func(ctx context.Context, userID, orgID, ip, userAgent string, now time.Time) (string, auth.Session, error)
	EndFn     func(ctx context.Context, idHash string) error
}

func (f *fakeSessions) Token(ctx context.Context, header string, now time.Time) (access.Subject, error) {
	must(f.t, f.TokenFn, "Sessions.Token")
	return f.TokenFn(ctx, header, now)
}

func (f *fakeSessions) Session(ctx context.Context, cookie string, now time.Time) (access.Subject, error) {
	must(f.t, f.SessionFn, "Sessions.Session")
	return f.SessionFn(ctx, cookie, now)
}

func (f *fakeSessions) Start(ctx context.Context, userID, orgID, ip, userAgent string, now time.Time) (string, auth.Session, error) {
	must(f.t, f.StartFn, "Sessions.Start")
	return f.StartFn(ctx, userID, orgID, ip, userAgent, now)
}

func (f *fakeSessions) End(ctx context.Context, idHash string) error {
	must(f.t, f.EndFn, "Sessions.End")
	return f.EndFn(ctx, idHash)
}

type fakeUsers struct {
	t             *testing.T
	UserByEmailFn func(ctx context.Context, email string) (auth.User, error)
	MembershipsFn func(ctx context.Context, userID string) ([]auth.Membership, error)
}

func (f *fakeUsers) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	must(f.t, f.UserByEmailFn, "Users.UserByEmail")
	return f.UserByEmailFn(ctx, email)
}

func (f *fakeUsers) Memberships(ctx context.Context, userID string) ([]auth.Membership, error) {
	must(f.t, f.MembershipsFn, "Users.Memberships")
	return f.MembershipsFn(ctx, userID)
}

type fakeCharts struct {
	t       *testing.T
	ApplyFn func(ctx context.Context, chartID string, op chart.Op, pri engine.Priority) (engine.Stream, uint64, error)
	StateFn func(ctx context.Context, chartID string) (chart.State, uint64, error)
}

func (f *fakeCharts) Apply(ctx context.Context, chartID string, op chart.Op, pri engine.Priority) (engine.Stream, uint64, error) {
	must(f.t, f.ApplyFn, "Charts.Apply")
	return f.ApplyFn(ctx, chartID, op, pri)
}

func (f *fakeCharts) State(ctx context.Context, chartID string) (chart.State, uint64, error) {
	must(f.t, f.StateFn, "Charts.State")
	return f.StateFn(ctx, chartID)
}

type fakeEditor struct {
	t                 *testing.T
	ChartDefinitionFn func(ctx context.Context, id string) (dashboard.Chart, int, error)
	SaveChartFn       func(ctx context.Context, by access.Subject, def dashboard.Chart, version int) (dashboard.Chart, int, string, error)
	TryChartFn        func(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error)
	Editor            // the methods no test here calls
}

func (f *fakeEditor) ChartDefinition(ctx context.Context, id string) (dashboard.Chart, int, error) {
	must(f.t, f.ChartDefinitionFn, "Editor.ChartDefinition")
	return f.ChartDefinitionFn(ctx, id)
}

func (f *fakeEditor) SaveChart(ctx context.Context, by access.Subject, def dashboard.Chart, version int) (dashboard.Chart, int, string, error) {
	must(f.t, f.SaveChartFn, "Editor.SaveChart")
	return f.SaveChartFn(ctx, by, def, version)
}

func (f *fakeEditor) TryChart(ctx context.Context, dashboardID string, def dashboard.Chart) (chart.State, error) {
	must(f.t, f.TryChartFn, "Editor.TryChart")
	return f.TryChartFn(ctx, dashboardID, def)
}

// auditRecorder is an audit log in memory.
type auditRecorder struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (a *auditRecorder) RecordAudit(ctx context.Context, e audit.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *auditRecorder) AuditLog(context.Context, string, int64, int) ([]audit.Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Entry(nil), a.entries...), nil
}

func (a *auditRecorder) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.Action)
	}
	return out
}

// places is where the tests' dashboards and charts live: dashboard ops of
// organization o, with chart orders.
type places struct{}

func (places) ChartResource(_ context.Context, id string) (access.Resource, error) {
	if id != "orders" {
		return access.Resource{}, notFound(id)
	}
	return access.Resource{OrgID: "o", DashboardID: "ops", ChartID: id}, nil
}

func (places) DashboardOrg(_ context.Context, id string) (string, error) {
	if id != "ops" {
		return "", notFound(id)
	}
	return "o", nil
}

func notFound(id string) error { return apperr.Errorf(apperr.NotFound, "no %q", id) }

func must(t *testing.T, fn any, name string) {
	t.Helper()
	if reflect.ValueOf(fn).IsNil() {
		t.Fatalf("%s called, and the test expects no call", name)
	}
}

// testHandler is the handler of cfg with the parts a test leaves out
// filled in: the real guard (on places and cfg's audit log), the English
// catalog, no metrics and no live endpoint.
func testHandler(t *testing.T, cfg Config, rec *auditRecorder) http.Handler {
	t.Helper()
	cat, err := i18n.Load("en")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Catalog, cfg.Logger, cfg.Audit = cat, slog.New(slog.DiscardHandler), rec
	cfg.Guard = authz.NewGuard(places{}, rec, nil)
	none := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	cfg.Live, cfg.Metrics = none, none
	if cfg.Sessions == nil {
		cfg.Sessions = &fakeSessions{t: t}
	}
	if cfg.Passwords == nil {
		cfg.Passwords = auth.NewHasher(auth.HasherConfig{})
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

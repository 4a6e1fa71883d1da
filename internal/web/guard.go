package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/live"
	"github.com/ashreports/ashreports/internal/ratelimit"
)

// Guard is the one authorization path (package authz): every check of a
// request goes through it, and so do its denials' audit entries.
type Guard interface {
	// Check decides whether who may do p on res, auditing a denial.
	Check(ctx context.Context, who access.Subject, p access.Permission, res access.Resource) error
	// Allowed decides without auditing: for what a page shows.
	Allowed(who access.Subject, p access.Permission, res access.Resource) bool
	// Chart and Dashboard check p on a chart or a dashboard, refusing an
	// anonymous subject before anything is looked up; Org on the
	// subject's own organization.
	Chart(ctx context.Context, who access.Subject, p access.Permission, id string) error
	Dashboard(ctx context.Context, who access.Subject, p access.Permission, id string) error
	Org(ctx context.Context, who access.Subject, p access.Permission) error
	ChartResource(ctx context.Context, id string) (access.Resource, error)
	DashboardResource(ctx context.Context, id string) (access.Resource, error)
}

// changeDashboard authorizes a change to dashboard id: p on it, and CSRF
// for cookie sessions.
func (s *server) changeDashboard(r *http.Request, p access.Permission, id string) error {
	if err := s.authorizeDashboard(r, p, id); err != nil {
		return err
	}
	return checkCSRF(r, who(r.Context()))
}

// authorizeDashboard checks p on dashboard id for the request.
func (s *server) authorizeDashboard(r *http.Request, p access.Permission, id string) error {
	return s.Guard.Dashboard(r.Context(), who(r.Context()), p, id)
}

// authorizeChart checks p on chart id for the request.
func (s *server) authorizeChart(r *http.Request, p access.Permission, id string) error {
	return s.Guard.Chart(r.Context(), who(r.Context()), p, id)
}

// visible keeps the dashboards the request may view.
func (s *server) visible(r *http.Request, ds []dashboard.Summary) []dashboard.Summary {
	sub := who(r.Context())
	out := ds[:0:0]
	for _, d := range ds {
		if s.Guard.Allowed(sub, access.ViewCharts, access.Resource{OrgID: d.OrgID, DashboardID: d.ID}) {
			out = append(out, d)
		}
	}
	return out
}

// liveSubject refuses anonymous requests to the live socket with 401 in
// the JSON error shape, and hands the hub who the connection belongs to:
// it checks each subscription, and the session's connection limit.
func liveSubject(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := access.Identified(who(r.Context())); err != nil {
			writeError(w, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(live.WithSubject(r.Context(), who(r.Context()))))
	})
}

// Limits are the API's rate limits, per second with bursts of twice as
// many. Zero fields take the defaults.
type Limits struct {
	// Publish is the updates one user or token may publish; 5,000.
	Publish float64
	// Read is the other API requests of one user or token; 100.
	Read float64
	// PerIP is the API requests of one client address, whoever sends
	// them; 10,000.
	PerIP float64
}

func (l Limits) withDefaults() Limits {
	if l.Publish <= 0 {
		l.Publish = 5000
	}
	if l.Read <= 0 {
		l.Read = 100
	}
	if l.PerIP <= 0 {
		l.PerIP = 10000
	}
	return l
}

type apiLimits struct {
	publish, read, ip *ratelimit.Limiter
}

func newAPILimits(l Limits) apiLimits {
	l = l.withDefaults()
	mk := func(r float64) *ratelimit.Limiter { return ratelimit.New(r, int(2*r), 100000) }
	return apiLimits{publish: mk(l.Publish), read: mk(l.Read), ip: mk(l.PerIP)}
}

// limit applies the API rate limits: per client address, then per user
// or token (publishing and reading apart). A refusal is 429 with
// Retry-After and the JSON error shape.
func (s *server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		ok, wait := s.apiLimits.ip.Allow(addrKey(r), now)
		if ok {
			if sub := who(r.Context()); sub.Kind != access.Anonymous {
				l := s.apiLimits.read
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/updates") {
					l = s.apiLimits.publish
				}
				ok, wait = l.Allow(sub.ID, now)
			}
		}
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
			writeError(w, apperr.Errorf(apperr.RateLimited, "too many requests: try again in %d s", ratelimit.RetryAfterSeconds(wait)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

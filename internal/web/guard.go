package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/live"
	"github.com/ashreports/ashreports/internal/ratelimit"
)

// signedIn refuses an anonymous request before anything is looked up, so
// that nobody learns what exists without credentials.
func signedIn(r *http.Request) error {
	if who(r.Context()).sub.Kind == access.Anonymous {
		return access.Decide(access.Subject{}, access.ViewCharts, access.Resource{}).Err()
	}
	return nil
}

// authorize asks the one authorization function whether the request's
// identity may do p on res. Denials of a known identity are audited, in
// the identity's own organization.
func (s *server) authorize(r *http.Request, p access.Permission, res access.Resource) error {
	id := who(r.Context())
	d := access.Decide(id.sub, p, res)
	if d.Allowed {
		return nil
	}
	target := res.DashboardID
	if res.ChartID != "" {
		target = res.ChartID
	}
	if s.Denials.Audited(id.sub, p, target, d) {
		s.audit(r, audit.Denial(id.sub, p, target, d.Reason))
	}
	return d.Err()
}

// dashboardResource is dashboard id as a resource of its organization.
func (s *server) dashboardResource(ctx context.Context, id string) (access.Resource, error) {
	org, err := s.Identities.DashboardOrg(ctx, id)
	if err != nil {
		return access.Resource{}, err
	}
	return access.Resource{OrgID: org, DashboardID: id}, nil
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
	if err := signedIn(r); err != nil {
		return err
	}
	res, err := s.dashboardResource(r.Context(), id)
	if err != nil {
		return err
	}
	return s.authorize(r, p, res)
}

// authorizeChart checks p on chart id for the request.
func (s *server) authorizeChart(r *http.Request, p access.Permission, id string) error {
	if err := signedIn(r); err != nil {
		return err
	}
	res, err := s.Identities.ChartResource(r.Context(), id)
	if err != nil {
		return err
	}
	return s.authorize(r, p, res)
}

// visible keeps the dashboards the request may view.
func (s *server) visible(r *http.Request, ds []dashboard.Summary) []dashboard.Summary {
	sub := who(r.Context()).sub
	out := ds[:0:0]
	for _, d := range ds {
		if access.Decide(sub, access.ViewCharts, access.Resource{OrgID: d.OrgID, DashboardID: d.ID}).Allowed {
			out = append(out, d)
		}
	}
	return out
}

// liveIdentity refuses anonymous requests to the live socket with 401 in
// the JSON error shape, and hands the hub who the connection belongs to:
// it checks each subscription, and the session's connection limit.
func liveIdentity(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := signedIn(r); err != nil {
			writeError(w, apperr.From(err))
			return
		}
		id := who(r.Context())
		li := live.Identity{Subject: id.sub}
		if id.signedIn() {
			li.Session, li.MaxConns = id.session.IDHash, id.session.MaxConnections
		}
		h.ServeHTTP(w, r.WithContext(live.WithIdentity(r.Context(), li)))
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
			if sub := who(r.Context()).sub; sub.Kind != access.Anonymous {
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

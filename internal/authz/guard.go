package authz

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/ratelimit"
)

// Places finds where dashboards and charts live: the organization and
// dashboard a chart belongs to, the organization of a dashboard.
type Places interface {
	ChartResource(ctx context.Context, id string) (access.Resource, error)
	DashboardOrg(ctx context.Context, id string) (string, error)
}

// Recorder keeps audit entries.
type Recorder interface {
	RecordAudit(ctx context.Context, e audit.Entry) error
}

// Guard decides whether a subject may do something on a dashboard or a
// chart, through access.Decide, and audits the denials worth auditing
// (see denials). It is safe for concurrent use.
type Guard struct {
	places  Places
	audit   Recorder
	denials *denials
	log     *slog.Logger
}

// NewGuard returns a guard that looks places up in places and records
// denials in rec.
func NewGuard(places Places, rec Recorder, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{places: places, audit: rec, denials: newDenials(), log: log}
}

// Check decides whether who may do p on res; a denial is an
// apperr.Error (unauthorized, not_found or forbidden) and is audited,
// against the chart of res or else its dashboard, when worth it. The
// client address, when ctx carries one (audit.WithIP), goes with it.
func (g *Guard) Check(ctx context.Context, who access.Subject, p access.Permission, res access.Resource) error {
	d := access.Decide(who, p, res)
	if d.Allowed {
		return nil
	}
	target := res.DashboardID
	if res.ChartID != "" {
		target = res.ChartID
	}
	if g.denials.audited(who, p, target, d) {
		e := audit.Denial(who, p, target, d.Reason)
		e.IP = audit.IPFrom(ctx)
		// Recorded even if the caller has gone meanwhile.
		if err := g.audit.RecordAudit(context.WithoutCancel(ctx), e); err != nil {
			g.log.Error("audit", "action", e.Action, "err", err)
		}
	}
	return d.Err()
}

// Allowed reports whether who may do p on res, auditing nothing: for what
// a page shows (a link, the edit controls), not for what it lets happen.
func (g *Guard) Allowed(who access.Subject, p access.Permission, res access.Resource) bool {
	return access.Decide(who, p, res).Allowed
}

// Chart checks p on chart id. An anonymous subject is refused before
// anything is looked up, so that nobody learns what exists without
// credentials; a chart that does not exist is not_found, with
// access.ErrNoResource in the chain.
func (g *Guard) Chart(ctx context.Context, who access.Subject, p access.Permission, id string) error {
	if err := access.Identified(who); err != nil {
		return err
	}
	res, err := g.ChartResource(ctx, id)
	if err != nil {
		return err
	}
	return g.Check(ctx, who, p, res)
}

// Dashboard checks p on dashboard id, as Chart does on a chart.
func (g *Guard) Dashboard(ctx context.Context, who access.Subject, p access.Permission, id string) error {
	if err := access.Identified(who); err != nil {
		return err
	}
	res, err := g.DashboardResource(ctx, id)
	if err != nil {
		return err
	}
	return g.Check(ctx, who, p, res)
}

// Org checks p on who's own organization (its members, tokens and audit
// log).
func (g *Guard) Org(ctx context.Context, who access.Subject, p access.Permission) error {
	if err := access.Identified(who); err != nil {
		return err
	}
	return g.Check(ctx, who, p, access.Resource{OrgID: who.OrgID})
}

// ChartResource is chart id as a resource of its dashboard and
// organization.
func (g *Guard) ChartResource(ctx context.Context, id string) (access.Resource, error) {
	res, err := g.places.ChartResource(ctx, id)
	if err != nil {
		return access.Resource{}, missing(err, access.Resource{ChartID: id})
	}
	return res, nil
}

// DashboardResource is dashboard id as a resource of its organization.
func (g *Guard) DashboardResource(ctx context.Context, id string) (access.Resource, error) {
	org, err := g.places.DashboardOrg(ctx, id)
	if err != nil {
		return access.Resource{}, missing(err, access.Resource{DashboardID: id})
	}
	return access.Resource{OrgID: org, DashboardID: id}, nil
}

// missing turns a not_found lookup of res into the error a denial of
// another organization's res is (access.NotFound), marked with
// access.ErrNoResource.
func missing(err error, res access.Resource) error {
	if apperr.CodeOf(err) == apperr.NotFound {
		return fmt.Errorf("%w: %w", access.ErrNoResource, access.NotFound(res))
	}
	return err
}

// denials decides which denials go to the audit log: not those of
// anonymous callers (nobody to hold to account), nor not_found, whose
// entry would tell the caller's admins that another organization's
// resource exists; and of the same subject, permission and target, the
// first DenialBurst and then one a minute, so that a client repeating a
// refused request (a socket publishes without a rate limit) neither
// floods the log nor keeps the store busy. The budget is one for every
// door.
type denials struct{ seen *ratelimit.Limiter }

// DenialBurst is how many denials of the same subject, permission and
// target are audited at once.
const DenialBurst = 3

func newDenials() *denials { return &denials{seen: ratelimit.New(1.0/60, DenialBurst, 10_000)} }

// audited reports whether who's denial d of p on target goes to the audit
// log, counting it if so.
func (a *denials) audited(who access.Subject, p access.Permission, target string, d access.Decision) bool {
	if d.Allowed || who.Kind == access.Anonymous || d.Code == apperr.NotFound {
		return false
	}
	ok, _ := a.seen.Allow(fmt.Sprintf("%d\x00%s\x00%s\x00%s", who.Kind, who.ID, p, target), time.Now())
	return ok
}

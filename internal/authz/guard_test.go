package authz

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
)

// fakePlaces is a Places of function fields.
type fakePlaces struct {
	ChartResourceFn func(ctx context.Context, id string) (access.Resource, error)
	DashboardOrgFn  func(ctx context.Context, id string) (string, error)
}

func (f fakePlaces) ChartResource(ctx context.Context, id string) (access.Resource, error) {
	return f.ChartResourceFn(ctx, id)
}

func (f fakePlaces) DashboardOrg(ctx context.Context, id string) (string, error) {
	return f.DashboardOrgFn(ctx, id)
}

// recorder keeps the audit entries written.
type recorder struct{ entries []audit.Entry }

func (r *recorder) RecordAudit(ctx context.Context, e audit.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.entries = append(r.entries, e)
	return nil
}

// TestGuard: a check looks up where a chart or dashboard lives and asks
// access.Decide; a denial is audited with the client's address, even when
// the caller has gone; an anonymous subject is refused before anything is
// looked up; a chart that does not exist is not_found with ErrNoResource;
// Allowed audits nothing.
func TestGuard(t *testing.T) {
	lookups := 0
	places := fakePlaces{
		ChartResourceFn: func(_ context.Context, id string) (access.Resource, error) {
			lookups++
			if id == "gone" {
				return access.Resource{}, apperr.Errorf(apperr.NotFound, "no chart %q", id)
			}
			return access.Resource{OrgID: "o", DashboardID: "d", ChartID: id}, nil
		},
		DashboardOrgFn: func(_ context.Context, id string) (string, error) {
			lookups++
			return "o", nil
		},
	}
	rec := &recorder{}
	g := NewGuard(places, rec, nil)
	viewer := access.Subject{Kind: access.User, ID: "u", OrgID: "o", OrgRole: access.Viewer}
	ctx, cancel := context.WithCancel(audit.WithIP(context.Background(), "192.0.2.1"))
	cancel() // the client has gone: the denial is still audited

	if err := g.Chart(ctx, viewer, access.ViewCharts, "c"); err != nil {
		t.Errorf("a viewer viewing a chart: %v", err)
	}
	if err := g.Chart(ctx, viewer, access.PublishData, "c"); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("a viewer publishing: %v, want forbidden", err)
	}
	if len(rec.entries) != 1 || rec.entries[0].Action != "denied" || rec.entries[0].Target != "c" || rec.entries[0].IP != "192.0.2.1" {
		t.Errorf("audited %+v, want the denial on c from 192.0.2.1", rec.entries)
	}
	if err := g.Dashboard(ctx, viewer, access.EditCharts, "d"); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("a viewer editing a dashboard: %v, want forbidden", err)
	}
	if len(rec.entries) != 2 || rec.entries[1].Target != "d" {
		t.Errorf("audited %+v, want a second denial on d", rec.entries)
	}
	err := g.Chart(ctx, viewer, access.ViewCharts, "gone")
	if apperr.CodeOf(err) != apperr.NotFound || !errors.Is(err, access.ErrNoResource) {
		t.Errorf("a chart that is gone: %v, want not_found with ErrNoResource", err)
	}
	other := access.Subject{Kind: access.User, ID: "v", OrgID: "elsewhere", OrgRole: access.Admin}
	if err := g.Chart(ctx, other, access.ViewCharts, "c"); apperr.CodeOf(err) != apperr.NotFound || errors.Is(err, access.ErrNoResource) {
		t.Errorf("another organization's chart: %v, want not_found, not ErrNoResource", err)
	}
	// Another organization's chart or dashboard reads as a missing one, in
	// code and text.
	places.DashboardOrgFn = func(_ context.Context, id string) (string, error) {
		if id == "gone" {
			return "", apperr.Errorf(apperr.NotFound, "no dashboard %q", id)
		}
		return "o", nil
	}
	g = NewGuard(places, rec, nil)
	for _, pair := range [][2]error{
		{g.Chart(ctx, other, access.ViewCharts, "gone"), g.Chart(ctx, other, access.ViewCharts, "c")},
		{g.Dashboard(ctx, other, access.ViewCharts, "gone"), g.Dashboard(ctx, other, access.ViewCharts, "d")},
	} {
		missing, foreign := apperr.BodyOf(pair[0]), apperr.BodyOf(pair[1])
		missing.Message = strings.ReplaceAll(missing.Message, `"gone"`, "ID")
		foreign.Message = strings.ReplaceAll(strings.ReplaceAll(foreign.Message, `"c"`, "ID"), `"d"`, "ID")
		if missing != foreign || missing.Code != apperr.NotFound {
			t.Errorf("a missing resource %+v, another organization's %+v: want the same", missing, foreign)
		}
	}
	n := lookups
	if err := g.Chart(ctx, access.Subject{}, access.ViewCharts, "c"); apperr.CodeOf(err) != apperr.Unauthorized || lookups != n {
		t.Errorf("anonymous: %v after %d lookups, want unauthorized before any", err, lookups-n)
	}
	if g.Allowed(viewer, access.PublishData, access.Resource{OrgID: "o", DashboardID: "d", ChartID: "c"}) {
		t.Error("Allowed let a viewer publish")
	}
	if len(rec.entries) != 2 {
		t.Errorf("audited %d entries, want only the two denials", len(rec.entries))
	}
}

// TestDenialsAudited: a denial is audited unless it is anonymous or
// not_found; the same one repeated is audited DenialBurst times and then
// held back, while another target or permission is audited anew.
func TestDenialsAudited(t *testing.T) {
	a := newDenials()
	viewer := access.Subject{Kind: access.User, ID: "u", OrgID: "o", OrgRole: access.Viewer}
	res := access.Resource{OrgID: "o", DashboardID: "d", ChartID: "c"}
	forbidden := access.Decide(viewer, access.PublishData, res)
	if forbidden.Allowed {
		t.Fatal("a viewer may publish")
	}
	for i := range DenialBurst + 3 {
		if got, want := a.audited(viewer, access.PublishData, "c", forbidden), i < DenialBurst; got != want {
			t.Errorf("denial %d audited: %v, want %v", i+1, got, want)
		}
	}
	if !a.audited(viewer, access.PublishData, "c2", access.Decide(viewer, access.PublishData, access.Resource{OrgID: "o", DashboardID: "d", ChartID: "c2"})) {
		t.Error("a denial on another chart was held back")
	}
	if !a.audited(viewer, access.EditCharts, "c", access.Decide(viewer, access.EditCharts, res)) {
		t.Error("a denial of another permission was held back")
	}
	if a.audited(access.Subject{}, access.PublishData, "c", access.Decide(access.Subject{}, access.PublishData, res)) {
		t.Error("an anonymous denial was audited")
	}
	other := access.Decide(viewer, access.ViewCharts, access.Resource{OrgID: "elsewhere", DashboardID: "x"})
	if other.Code != apperr.NotFound || a.audited(viewer, access.ViewCharts, "x", other) {
		t.Errorf("another organization's resource: %+v audited", other)
	}
	if a.audited(viewer, access.ViewCharts, "c", access.Decide(viewer, access.ViewCharts, res)) {
		t.Error("an allowed action was audited")
	}
}

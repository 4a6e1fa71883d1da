package room

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// guard decides as access.Decide does on dashboard ops of organization o,
// with chart orders, and keeps the checks that were refused.
type guard struct {
	mu      sync.Mutex
	refused []access.Permission
}

func (g *guard) Check(_ context.Context, who access.Subject, p access.Permission, res access.Resource) error {
	err := access.Decide(who, p, res).Err()
	if err != nil {
		g.mu.Lock()
		g.refused = append(g.refused, p)
		g.mu.Unlock()
	}
	return err
}

func (g *guard) Dashboard(ctx context.Context, who access.Subject, p access.Permission, id string) error {
	if id != "ops" {
		return apperr.Errorf(apperr.NotFound, "dashboard %q not found", id)
	}
	return g.Check(ctx, who, p, access.Resource{OrgID: "o", DashboardID: id})
}

func (g *guard) ChartResource(_ context.Context, id string) (access.Resource, error) {
	switch id {
	case "orders":
		return access.Resource{OrgID: "o", DashboardID: "ops", ChartID: id}, nil
	case "elsewhere":
		return access.Resource{OrgID: "o", DashboardID: "sales", ChartID: id}, nil
	}
	return access.Resource{}, apperr.Errorf(apperr.NotFound, "chart %q not found", id)
}

// dashboards holds ops, whose chart has the filter region.
type dashboards struct{}

func (dashboards) Dashboard(_ context.Context, id string) (dashboard.Dashboard, error) {
	return dashboard.Dashboard{ID: id, Title: "Ops", Charts: []dashboard.Chart{{ID: "orders", Config: chart.Config{Type: chart.Line, Title: "Orders"},
		Query: &dashboard.Query{Source: "s", SQL: "SELECT 1", Params: map[string]dashboard.Param{"region": {Default: "all"}}}}}}, nil
}

// TestGate: a room's door checks each message. Tokens cannot join; a
// viewer joins and is named in the room; focus must be a chart of the
// room's dashboard, and a viewer's claim to edit it is refused through
// the guard (which audits); filters must be the dashboard's; a
// connection's messages after Leave need a join again.
func TestGate(t *testing.T) {
	g := &guard{}
	gate := NewGate(node(t, broker(t), 5*time.Second), g, dashboards{})
	ctx := context.Background()
	viewer := access.Subject{Kind: access.User, ID: "ann", Name: "Ann", OrgID: "o", OrgRole: access.Viewer}
	token := access.Subject{Kind: access.Token, ID: "tok", OrgID: "o", Scopes: []access.Permission{access.ViewCharts}}
	var ann inbox

	if err := gate.Join(ctx, token, "ops", "c0", ann.send); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("a token's join: %v, want forbidden", err)
	}
	if err := gate.Join(ctx, viewer, "sales", "c1", ann.send); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("a join of a dashboard the viewer may not see: %v, want not_found", err)
	}
	if err := gate.Join(ctx, viewer, "ops", "c1", ann.send); err != nil {
		t.Fatal(err)
	}
	waitUsers(t, &ann, 10*time.Second, "ann:1::")
	for _, tc := range []struct {
		chart   string
		editing bool
		code    apperr.Code
		field   string
	}{
		{"orders", false, "", ""},
		{"elsewhere", false, apperr.Invalid, "chart"},
		{"nope", false, apperr.Invalid, "chart"},
		{"orders", true, apperr.Forbidden, ""},
	} {
		err := gate.Focus(ctx, viewer, "c1", tc.chart, tc.editing)
		if apperr.CodeOf(err) != tc.code || (err != nil && apperr.From(err).Field != tc.field) {
			t.Errorf("focus %s (editing %v): %v, want %q on %q", tc.chart, tc.editing, err, tc.code, tc.field)
		}
	}
	waitUsers(t, &ann, 10*time.Second, "ann:1:orders:")
	if len(g.refused) != 1 || g.refused[0] != access.EditCharts {
		t.Errorf("refused through the guard: %v, want the claim to edit", g.refused)
	}
	if err := gate.Filtered(ctx, viewer, "c1", map[string]string{"nope": "x"}); apperr.From(err).Field != "filters.nope" {
		t.Errorf("an unknown filter: %v, want invalid filters.nope", err)
	}
	if err := gate.Filtered(ctx, viewer, "c1", map[string]string{"region": "EU"}); err != nil {
		t.Errorf("the dashboard's filter: %v", err)
	}
	gate.Leave("c1")
	if err := gate.Focus(ctx, viewer, "c1", "orders", false); apperr.CodeOf(err) != apperr.Invalid {
		t.Errorf("a focus after leaving: %v, want invalid (join first)", err)
	}
	gate.Leave("c1") // a second Leave is nothing
}

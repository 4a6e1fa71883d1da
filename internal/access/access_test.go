package access

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ashreports/ashreports/internal/apperr"
)

// TestDecide runs every kind of subject against every permission on a
// dashboard of organization "acme" and on the organization itself.
func TestDecide(t *testing.T) {
	dash := Resource{OrgID: "acme", DashboardID: "sales", ChartID: "revenue"}
	org := Resource{OrgID: "acme"}
	user := func(orgRole Role, dashRole Role) Subject {
		s := Subject{Kind: User, ID: "u1", OrgID: "acme", OrgRole: orgRole}
		if dashRole != "" {
			s.DashboardRoles = map[string]Role{"sales": dashRole}
		}
		return s
	}
	const (
		ok   = apperr.Code("")
		no   = apperr.Forbidden
		gone = apperr.NotFound
		anon = apperr.Unauthorized
	)
	type row struct {
		name string
		s    Subject
		// want, per permission in Permissions order:
		// view, export, edit, publish, manage dashboard, administer org.
		onDash, onOrg [6]apperr.Code
	}
	rows := []row{
		{"anonymous", Subject{}, [6]apperr.Code{anon, anon, anon, anon, anon, anon}, [6]apperr.Code{anon, anon, anon, anon, anon, anon}},
		{"viewer on the dashboard", user("", Viewer), [6]apperr.Code{ok, no, no, no, no, no}, [6]apperr.Code{no, no, no, no, no, no}},
		{"analyst on the dashboard", user("", Analyst), [6]apperr.Code{ok, ok, no, no, no, no}, [6]apperr.Code{no, no, no, no, no, no}},
		{"editor on the dashboard", user("", Editor), [6]apperr.Code{ok, ok, ok, ok, no, no}, [6]apperr.Code{no, no, no, no, no, no}},
		{"admin of the dashboard", user("", Admin), [6]apperr.Code{ok, ok, ok, ok, ok, no}, [6]apperr.Code{no, no, no, no, no, no}},
		{"org viewer", user(Viewer, ""), [6]apperr.Code{ok, no, no, no, no, no}, [6]apperr.Code{ok, no, no, no, no, no}},
		{"org viewer, editor on the dashboard", user(Viewer, Editor), [6]apperr.Code{ok, ok, ok, ok, no, no}, [6]apperr.Code{ok, no, no, no, no, no}},
		{"org editor, viewer on the dashboard", user(Editor, Viewer), [6]apperr.Code{ok, ok, ok, ok, no, no}, [6]apperr.Code{ok, ok, ok, ok, no, no}},
		{"org admin", user(Admin, ""), [6]apperr.Code{ok, ok, ok, ok, ok, ok}, [6]apperr.Code{ok, ok, ok, ok, ok, ok}},
		{"member with no role here", user("", ""), [6]apperr.Code{gone, gone, gone, gone, gone, no}, [6]apperr.Code{no, no, no, no, no, no}},
		{"admin of another organization", Subject{Kind: User, ID: "u2", OrgID: "other", OrgRole: Admin}, [6]apperr.Code{gone, gone, gone, gone, gone, gone}, [6]apperr.Code{gone, gone, gone, gone, gone, gone}},
		{"publish token", Subject{Kind: Token, ID: "t1", OrgID: "acme", Scopes: []Permission{PublishData}}, [6]apperr.Code{no, no, no, ok, no, no}, [6]apperr.Code{no, no, no, ok, no, no}},
		{"publish token for the chart", Subject{Kind: Token, ID: "t2", OrgID: "acme", Scopes: []Permission{PublishData, ViewCharts}, Charts: []string{"revenue"}}, [6]apperr.Code{ok, no, no, ok, no, no}, [6]apperr.Code{no, no, no, no, no, no}},
		{"token of another organization", Subject{Kind: Token, ID: "t3", OrgID: "other", Scopes: Permissions}, [6]apperr.Code{gone, gone, gone, gone, gone, gone}, [6]apperr.Code{gone, gone, gone, gone, gone, gone}},
	}
	for _, r := range rows {
		for i, p := range Permissions {
			for _, c := range []struct {
				where string
				res   Resource
				want  apperr.Code
			}{{"dashboard", dash, r.onDash[i]}, {"organization", org, r.onOrg[i]}} {
				t.Run(fmt.Sprintf("%s/%s/%s", r.name, p, c.where), func(t *testing.T) {
					d := Decide(r.s, p, c.res)
					if d.Allowed != (c.want == ok) || d.Code != c.want {
						t.Fatalf("Decide = %+v, want code %q", d, c.want)
					}
					if !d.Allowed && d.Reason == "" {
						t.Error("a denial without a reason")
					}
					var e *apperr.Error
					if err := d.Err(); (err == nil) != d.Allowed || (err != nil && (!errors.As(err, &e) || e.Code != c.want)) {
						t.Errorf("Err() = %v", err)
					}
				})
			}
		}
	}
}

// TestTokenLimitedToCharts: a token limited to some charts may act on
// those only.
func TestTokenLimitedToCharts(t *testing.T) {
	s := Subject{Kind: Token, ID: "t", OrgID: "acme", Scopes: []Permission{PublishData}, Charts: []string{"a", "b"}}
	for chart, want := range map[string]bool{"a": true, "b": true, "c": false, "": false} {
		if got := Decide(s, PublishData, Resource{OrgID: "acme", DashboardID: "d", ChartID: chart}).Allowed; got != want {
			t.Errorf("chart %q: allowed %v, want %v", chart, got, want)
		}
	}
}

func TestForbiddenNamesTheRoleNeeded(t *testing.T) {
	d := Decide(Subject{Kind: User, OrgID: "acme", DashboardRoles: map[string]Role{"d": Viewer}}, EditCharts, Resource{OrgID: "acme", DashboardID: "d"})
	if want := "editing charts needs the editor role; you have viewer"; d.Reason != want {
		t.Errorf("reason %q, want %q", d.Reason, want)
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"viewer", " Editor ", "ADMIN", "analyst"} {
		if _, err := ParseRole(s); err != nil {
			t.Errorf("ParseRole(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "owner", "root"} {
		if _, err := ParseRole(s); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("ParseRole(%q) = %v, want invalid", s, err)
		}
	}
	if p, err := ParsePermission("publish_data"); err != nil || p != PublishData {
		t.Errorf("ParsePermission(publish_data) = %q, %v", p, err)
	}
	if _, err := ParsePermission("publish"); apperr.CodeOf(err) != apperr.Invalid {
		t.Errorf("ParsePermission(publish) = %v, want invalid", err)
	}
}

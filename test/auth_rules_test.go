package test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
)

// TestNotFoundDenialsAreNotAudited: an admin relies on the audit log to
// show their organization's refused requests, and on it never telling
// them that another organization's dashboards or charts exist: a user of
// another organization gets 404 for the default organization's chart and
// dashboard and no "denied" entry is written (in either organization), a
// member without a role likewise, while a viewer's refused publish (403)
// is audited.
func TestNotFoundDenialsAreNotAudited(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	const pw = "a long enough password"
	db := s.db(t)
	gina := otherOrgAdmin(t, s, db, "gina@globex.example", pw)
	nora := addUser(t, s, "nora@example.com", pw, "")
	vera := addUser(t, s, "vera@example.com", pw, access.Viewer)

	const publish = `{"op":"append","rows":[["t",1]]}`
	for _, a := range []actor{signedIn(t, s, "other-org admin", gina.Email, pw), signedIn(t, s, "member without a role", nora.Email, pw)} {
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/api/v1/charts/orders", ""},
			{"GET", "/api/v1/dashboards/ops", ""},
			{"POST", "/api/v1/charts/orders/updates", publish},
		} {
			if got := apiOutcome(t, a, req.method, s.URL+req.path, req.body); got != "not_found" {
				t.Errorf("%s: %s %s: %s, want not_found", a.name, req.method, req.path, got)
			}
		}
	}
	// To the other organization's admin, ops and orders read exactly as a
	// dashboard and a chart that do not exist: the same status and text.
	other := signedIn(t, s, "other-org admin", gina.Email, pw)
	for _, pair := range [][2]string{
		{"/api/v1/dashboards/ops", "/api/v1/dashboards/nopes"},
		{"/api/v1/charts/orders", "/api/v1/charts/nopers"},
		{"/dashboards/ops", "/dashboards/nopes"},
	} {
		code1, body1 := other.send(t, "GET", s.URL+pair[0], "")
		code2, body2 := other.send(t, "GET", s.URL+pair[1], "")
		b1 := strings.NewReplacer("ops", "ID", "orders", "ID").Replace(string(body1))
		b2 := strings.NewReplacer("nopes", "ID", "nopers", "ID").Replace(string(body2))
		if code1 != code2 || b1 != b2 {
			t.Errorf("%s: %d %s; %s: %d %s; want the same", pair[0], code1, body1, pair[1], code2, body2)
		}
	}
	if got := apiOutcome(t, signedIn(t, s, "viewer", vera.Email, pw), "POST", s.URL+"/api/v1/charts/orders/updates", publish); got != "forbidden" {
		t.Fatalf("viewer's publish: %s, want forbidden", got)
	}

	// Denials are written before the response, in the subject's organization.
	deniedOf := func(org string) []audit.Entry {
		t.Helper()
		log, err := db.AuditLog(ctx, org, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []audit.Entry
		for _, e := range log {
			if e.Action == "denied" {
				out = append(out, e)
			}
		}
		return out
	}
	if got := deniedOf("globex"); len(got) != 0 {
		t.Errorf("Globex's audit log has denials of its admin's requests for another organization's resources: %+v", got)
	}
	got := deniedOf(auth.DefaultOrg)
	if len(got) != 1 || got[0].ActorID != vera.ID || got[0].Target != "orders" || !strings.HasPrefix(got[0].Detail, "publish_data: ") {
		t.Errorf("default organization's denials: %+v, want only the viewer's refused publish_data on orders", got)
	}
}

// TestSignInEndsThePreviousSession: a user relies on a session id known
// before a sign-in being worth nothing after it: signing in again from a
// browser that holds a session gives a new id, and the old id, sent
// alone, no longer authenticates.
func TestSignInEndsThePreviousSession(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	ann := addUser(t, s, "ann@example.com", pw, access.Viewer)
	u, _ := url.Parse(s.URL)
	c := cookieClient(t)
	old := signIn(t, s, c, ann.Email, pw)

	// Signed in, the browser is sent away from /login; its second sign-in
	// submits a form loaded elsewhere (say, a tab opened before), with
	// the session cookie still in the jar.
	form := cookieClient(t)
	_, _, token := page(t, form, s.URL+"/login")
	c.Jar.SetCookies(u, form.Jar.Cookies(u))
	resp := postForm(t, c, s.URL+"/login", url.Values{"csrf_token": {token}, "email": {ann.Email}, "password": {pw}, "next": {"/"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: status %d, want 303", resp.StatusCode)
	}
	var renewed *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == old.Name {
			renewed = ck
		}
	}
	if renewed == nil || renewed.Value == "" || renewed.Value == old.Value {
		t.Fatalf("second sign-in's session cookie %+v: want a new id", renewed)
	}

	// list gets the dashboard list with only the session cookie value.
	list := func(value string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.URL+"/api/v1/dashboards", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: old.Name, Value: value})
		return do(t, http.DefaultClient, req)
	}
	if got := list(old.Value); got != http.StatusUnauthorized {
		t.Errorf("the session id of before the second sign-in: %d, want 401", got)
	}
	if got := list(renewed.Value); got != http.StatusOK {
		t.Errorf("the new session id: %d, want 200", got)
	}
}

// TestDashboardListShowsOnlyViewable: a user given a role on one
// dashboard only relies on GET /api/v1/dashboards listing exactly that
// one, not the organization's others.
func TestDashboardListShowsOnlyViewable(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	const pw = "a long enough password"
	dana := addUser(t, s, "dana@example.com", pw, "")
	if err := s.db(t).SetDashboardRole(ctx, "sales-analytics", dana.ID, access.Viewer); err != nil {
		t.Fatal(err)
	}

	ids := func(resp *http.Response, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Dashboards []struct{ ID string } `json:"dashboards"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("dashboard list: %d %v", resp.StatusCode, err)
		}
		var got []string
		for _, d := range out.Dashboards {
			got = append(got, d.ID)
		}
		slices.Sort(got)
		return got
	}
	// The organization has more than the one dashboard.
	if all := ids(authGet(s.URL + "/api/v1/dashboards")); !slices.Equal(all, []string{"ops", "sales-analytics"}) {
		t.Fatalf("the organization's dashboards: %v, want ops and sales-analytics", all)
	}
	c := cookieClient(t)
	signIn(t, s, c, dana.Email, pw)
	if got := ids(c.Get(s.URL + "/api/v1/dashboards")); !slices.Equal(got, []string{"sales-analytics"}) {
		t.Errorf("list of a viewer of sales-analytics only: %v, want [sales-analytics]", got)
	}
}

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/store"
)

// TestAccessTable runs every role, a user with a role on the dashboard
// only, a member with no role, an admin of another organization and no
// session at all against every action that exists on the ops dashboard
// and its chart "orders", and checks allow or deny with the status or
// code. Another organization's user gets 404, never 403.
func TestAccessTable(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	const pw = "a long enough password"
	if code, body := post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(seedOp)); code != http.StatusOK {
		t.Fatalf("seed: %d %v", code, body)
	}
	db := s.db(t)
	roles := map[string]access.Role{"viewer": access.Viewer, "analyst": access.Analyst, "editor": access.Editor, "admin": access.Admin, "member": "", "dasheditor": ""}
	for name, role := range roles {
		addUser(t, s, name+"@example.com", pw, role)
	}
	dashEditor, _ := db.UserByEmail(ctx, "dasheditor@example.com")
	if err := db.SetDashboardRole(ctx, "ops", dashEditor.ID, access.Editor); err != nil {
		t.Fatal(err)
	}
	tara := addUser(t, s, "tara@example.com", pw, "") // given a role by the admin actions
	if err := db.CreateToken(ctx, auth.Token{ID: "tok_table", OrgID: auth.DefaultOrg, Name: "table", SecretHash: "unused", Scopes: []access.Permission{access.ViewCharts}}); err != nil {
		t.Fatal(err)
	}
	otherOrgAdmin(t, s, db, "gina@globex.example", pw)

	actors := []actor{{name: "anonymous", c: cookieClient(t)}}
	for _, name := range []string{"viewer", "analyst", "editor", "admin", "dasheditor", "member"} {
		actors = append(actors, signedIn(t, s, name, name+"@example.com", pw))
	}
	actors = append(actors, signedIn(t, s, "other-org admin", "gina@globex.example", pw))

	// want per actor, in the order above: anonymous, viewer, analyst,
	// editor, admin, dasheditor, member, other-org admin.
	const (
		ok        = "ok"
		login     = "login"
		forbidden = "forbidden"
		notFound  = "not_found"
		unauth    = "unauthorized"
	)
	actions := []struct {
		name string
		do   func(t *testing.T, a actor) string
		want [8]string
	}{
		{"page /dashboards/ops", func(t *testing.T, a actor) string { return pageOutcome(t, a, s.URL+"/dashboards/ops") },
			[8]string{login, ok, ok, ok, ok, ok, notFound, notFound}},
		{"GET /api/v1/dashboards/ops", func(t *testing.T, a actor) string { return apiOutcome(t, a, "GET", s.URL+"/api/v1/dashboards/ops", "") },
			[8]string{unauth, ok, ok, ok, ok, ok, notFound, notFound}},
		{"GET /api/v1/charts/orders", func(t *testing.T, a actor) string { return apiOutcome(t, a, "GET", s.URL+"/api/v1/charts/orders", "") },
			[8]string{unauth, ok, ok, ok, ok, ok, notFound, notFound}},
		{"publish over HTTP", func(t *testing.T, a actor) string {
			return apiOutcome(t, a, "POST", s.URL+"/api/v1/charts/orders/updates", `{"op":"append","rows":[["t",1]]}`)
		}, [8]string{unauth, forbidden, forbidden, ok, ok, ok, notFound, notFound}},
		{"subscribe on the socket", func(t *testing.T, a actor) string {
			return socketOutcome(t, s, a, map[string]any{"type": "subscribe", "chart": "orders"})
		}, [8]string{unauth, ok, ok, ok, ok, ok, notFound, notFound}},
		{"publish on the socket", func(t *testing.T, a actor) string {
			return socketOutcome(t, s, a, map[string]any{"type": "publish", "chart": "orders", "op": json.RawMessage(`{"op":"append","rows":[["t",1]]}`)})
		}, [8]string{unauth, forbidden, forbidden, ok, ok, ok, notFound, notFound}},
		{"read a chart's definition", func(t *testing.T, a actor) string {
			return apiOutcome(t, a, "GET", s.URL+"/api/v1/charts/orders/definition", "")
		}, [8]string{unauth, forbidden, forbidden, ok, ok, ok, notFound, notFound}},
		{"preview a config edit", func(t *testing.T, a actor) string {
			return apiOutcome(t, a, "POST", s.URL+"/api/v1/charts/orders/preview", editBody(t, db, a.name))
		}, [8]string{unauth, forbidden, forbidden, ok, ok, ok, notFound, notFound}},
		{"save a config edit", func(t *testing.T, a actor) string {
			return apiOutcome(t, a, "PUT", s.URL+"/api/v1/charts/orders/definition", editBody(t, db, a.name))
		}, [8]string{unauth, forbidden, forbidden, ok, ok, ok, notFound, notFound}},
		{"move a dashboard's charts", func(t *testing.T, a actor) string {
			l, err := db.Layout(context.Background(), "ops")
			if err != nil {
				t.Fatal(err)
			}
			slices.Reverse(l.Charts)
			b, _ := json.Marshal(l)
			return apiOutcome(t, a, "PUT", s.URL+"/api/v1/dashboards/ops/layout", string(b))
		}, [8]string{unauth, forbidden, forbidden, ok, ok, ok, notFound, notFound}},
		{"export CSV", func(t *testing.T, a actor) string {
			return apiOutcome(t, a, "GET", s.URL+"/api/v1/charts/orders/export.csv", "")
		},
			[8]string{unauth, forbidden, ok, ok, ok, ok, notFound, notFound}},
		// Administration last: it changes what later rows would see.
		{"give a role on ops", func(t *testing.T, a actor) string {
			return apiOutcome(t, a, "PUT", s.URL+"/api/v1/dashboards/ops/roles/"+tara.ID, `{"role":"viewer"}`)
		}, [8]string{unauth, forbidden, forbidden, forbidden, ok, forbidden, notFound, notFound}},
		{"revoke an API token", func(t *testing.T, a actor) string {
			return apiOutcome(t, a, "DELETE", s.URL+"/api/v1/tokens/tok_table", "")
		}, [8]string{unauth, forbidden, forbidden, forbidden, ok, forbidden, forbidden, notFound}},
		{"dashboard list shows ops", func(t *testing.T, a actor) string {
			status, body, _ := page(t, a.c, s.URL+"/")
			switch {
			case status == http.StatusSeeOther:
				return login
			case strings.Contains(body, `href="/dashboards/ops"`):
				return ok
			}
			return notFound
		}, [8]string{login, ok, ok, ok, ok, ok, notFound, notFound}},
	}
	for _, act := range actions {
		for i, a := range actors {
			t.Run(act.name+"/"+a.name, func(t *testing.T) {
				if got := act.do(t, a); got != act.want[i] {
					t.Errorf("got %s, want %s", got, act.want[i])
				}
			})
		}
	}
	// The session's CSRF token is needed for every change: without it, a
	// request forged from the admin's browser is refused, whatever it
	// asks.
	forged := actor{name: "forged", c: actors[4].c}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/api/v1/charts/orders/updates", `{"op":"append","rows":[["t",1]]}`},
		{"PUT", "/api/v1/charts/orders/definition", editBody(t, db, "admin")},
		{"POST", "/api/v1/charts/orders/preview", editBody(t, db, "admin")},
		{"PUT", "/api/v1/dashboards/ops/filters", `{"filters":{}}`},
		{"POST", "/api/v1/dashboards/ops/undo", `{}`},
		{"PUT", "/api/v1/dashboards/ops/layout", `{}`},
		{"POST", "/api/v1/dashboards/ops/charts", `{}`},
		{"POST", "/api/v1/dashboards/ops/charts/preview", `{}`},
		{"PUT", "/api/v1/dashboards/ops/roles/" + tara.ID, `{"role":"editor"}`},
		{"DELETE", "/api/v1/dashboards/ops/roles/" + tara.ID, ""},
		{"PUT", "/api/v1/members/" + tara.ID, `{"role":"admin"}`},
		{"DELETE", "/api/v1/members/" + tara.ID, ""},
		{"POST", "/api/v1/tokens", `{"name":"forged","scopes":["view_charts"]}`},
		{"DELETE", "/api/v1/tokens/tok_table", ""},
	} {
		if got := apiOutcome(t, forged, r.method, s.URL+r.path, r.body); got != forbidden {
			t.Errorf("%s %s from the admin's browser without the CSRF token: %s, want forbidden", r.method, r.path, got)
		}
	}
}

func pageOutcome(t *testing.T, a actor, url string) string {
	t.Helper()
	status, _, _ := page(t, a.c, url)
	switch status {
	case http.StatusOK:
		return "ok"
	case http.StatusSeeOther:
		return "login"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusForbidden:
		return "forbidden"
	}
	return fmt.Sprint(status)
}

func apiOutcome(t *testing.T, a actor, method, url, body string) string {
	t.Helper()
	status, b := a.send(t, method, url, body)
	if status/100 == 2 {
		return "ok"
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s %s: %d, body %q is not the JSON error shape", method, url, status, b)
	}
	want := map[string]int{"unauthorized": 401, "forbidden": 403, "not_found": 404}[e.Error.Code]
	if want != status {
		t.Errorf("%s %s: code %s with status %d", method, url, e.Error.Code, status)
	}
	return e.Error.Code
}

// editBody is a valid edit of the chart "orders" at its current version:
// its title becomes who.
func editBody(t *testing.T, db *store.Store, who string) string {
	t.Helper()
	def, v, err := db.ChartVersion(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	def.Config.Title = "Orders, by " + who
	b, err := json.Marshal(map[string]any{"chart": def, "version": v})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func socketOutcome(t *testing.T, s *testServer, a actor, msg map[string]any) string {
	t.Helper()
	c, resp, err := dialAs(t, s, a.c)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return "unauthorized"
		}
		t.Fatalf("dial: %v", err)
	}
	defer c.ws.Close(websocket.StatusNormalClosure, "")
	r := c.request("1", msg)
	if r.OK {
		return "ok"
	}
	if r.Error == nil {
		t.Fatalf("a refusal without an error: %+v", r)
	}
	return r.Error.Code
}

// otherOrgAdmin makes organization "globex" and its admin, a member of
// no other organization.
func otherOrgAdmin(t *testing.T, s *testServer, db *store.Store, email, pw string) auth.User {
	t.Helper()
	ctx := context.Background()
	if err := db.CreateOrganization(ctx, auth.Organization{ID: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	u := addUser(t, s, email, pw, "")
	if err := db.SetMembership(ctx, "globex", u.ID, access.Admin); err != nil {
		t.Fatal(err)
	}
	// addUser made them a member of default.
	if err := db.RemoveMembership(ctx, auth.DefaultOrg, u.ID); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestExportCSV: a chart's data as CSV, header first, numbers exact,
// null empty, and a text a spreadsheet would run as a formula defused.
func TestExportCSV(t *testing.T) {
	s := startServer(t)
	for _, op := range []string{seedOp, `{"op":"append","rows":[["=HYPERLINK(\"x\")",2.5],[null,null]]}`} {
		if code, body := post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(op)); code != http.StatusOK {
			t.Fatalf("publish: %d %v", code, body)
		}
	}
	resp, err := authGet(s.URL + "/api/v1/charts/orders/export.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := "t,n\na,1\n\"'=HYPERLINK(\"\"x\"\")\",2.5\n,\n"
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || string(b) != want {
		t.Errorf("export: %d %s\n%s\nwant\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b, want)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="orders.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
}

// TestReadsOfAQueryChartNoOneViews: a SQL chart that no page shows has its
// query run for its REST state and its CSV export, rather than an empty
// table.
func TestReadsOfAQueryChartNoOneViews(t *testing.T) {
	s := startServer(t)
	resp, err := authGet(s.URL + "/api/v1/charts/product-performance/export.csv")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if resp.StatusCode != http.StatusOK || lines[0] != "product,total" || len(lines) != 6 {
		t.Errorf("export: %d\n%s\nwant the header and the 5 products", resp.StatusCode, b)
	}
	if _, st := getState(t, s.URL, "product-performance"); len(st.Data.Rows) != 5 {
		t.Errorf("REST state rows %v, want the 5 products", st.Data.Rows)
	}
}

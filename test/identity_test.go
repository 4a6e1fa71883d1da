package test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// TestAnotherOrganizationsIDsReadAsMissing: for every route of the
// router and every socket message that names a dashboard, a chart, a
// token or a user, an id of another organization gets the very answer
// (status and body, byte for byte) a made-up id gets, so that nobody can
// tell which ids exist elsewhere. The routes are read from the router's
// own registrations, so a new route cannot be left out.
func TestAnotherOrganizationsIDsReadAsMissing(t *testing.T) {
	s := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemoGenerator: true, DemoOrg: auth.DefaultOrg})
	ctx := context.Background()
	db := s.db(t)
	const pw = "a long enough password"
	addUser(t, s, "ada@example.com", pw, access.Admin)
	tara := addUser(t, s, "tara@example.com", pw, access.Viewer)
	gina := otherOrgAdmin(t, s, db, "gina@globex.example", pw)
	globex, err := dashboard.Parse([]byte("id: globex-ops\ntitle: Globex\ncharts:\n  - {id: globex-orders, type: line, title: Orders, encoding: {x: t, y: n}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ProvisionDashboards(ctx, "identity-test", "globex", []dashboard.Dashboard{globex}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, auth.Token{ID: "tok_globex", OrgID: "globex", Name: "globex", SecretHash: "unused", Scopes: []access.Permission{access.ViewCharts}}); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	ada := signedIn(t, s, "ada", "ada@example.com", pw)

	// Each kind of id: one of the other organization, one nobody has, and
	// the one of ada's organization that fills the other parameters.
	type ids struct{ other, missing, own string }
	kinds := map[string]ids{
		"dashboard": {"globex-ops", "nope-dash", "ops"},
		"chart":     {"globex-orders", "nope-chart", "orders"},
		"token":     {"tok_globex", "tok_nope", "tok_tests"},
		"user":      {gina.ID, "usr_nope", tara.ID},
	}
	layout, err := db.Layout(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	layoutBody, _ := json.Marshal(layout)
	// Bodies that would be taken for ada's own resources, so that what
	// is compared is what the lookup answers, not a refused body.
	bodies := map[string]string{
		"POST /api/v1/charts/{id}/updates":            `{"op":"append","rows":[["t",1]]}`,
		"PUT /api/v1/charts/{id}/definition":          editBody(t, db, "ada"),
		"POST /api/v1/charts/{id}/preview":            editBody(t, db, "ada"),
		"PUT /api/v1/dashboards/{id}/filters":         `{"filters":{}}`,
		"POST /api/v1/dashboards/{id}/undo":           `{}`,
		"PUT /api/v1/dashboards/{id}/layout":          string(layoutBody),
		"POST /api/v1/dashboards/{id}/charts":         `{"chart":{"id":"new-one","config":{"type":"bar","title":"New"}}}`,
		"POST /api/v1/dashboards/{id}/charts/preview": `{"chart":{"id":"new-one","config":{"type":"bar","title":"New"}}}`,
		"PUT /api/v1/dashboards/{id}/roles/{user}":    `{"role":"viewer"}`,
		"PUT /api/v1/members/{user}":                  `{"role":"viewer"}`,
	}

	walked := 0
	for _, pattern := range routePatterns(t) {
		method, path, ok := strings.Cut(pattern, " ")
		params := routeParams(t, path)
		if !ok || len(params) == 0 {
			continue // a catch-all, or a route that names nothing
		}
		for param, kind := range params {
			t.Run(pattern+"/"+param, func(t *testing.T) {
				fill := func(variant func(ids) string) string {
					p := path
					for q, k := range params {
						v := kinds[k].own
						if q == param {
							v = variant(kinds[k])
						}
						p = strings.ReplaceAll(p, "{"+q+"}", v)
					}
					return s.URL + p
				}
				otherURL, missingURL := fill(func(i ids) string { return i.other }), fill(func(i ids) string { return i.missing })
				st1, b1 := ada.send(t, method, otherURL, bodies[pattern])
				st2, b2 := ada.send(t, method, missingURL, bodies[pattern])
				if st1/100 == 2 {
					t.Fatalf("%s %s (another organization's %s): %d %s", method, otherURL, kind, st1, b1)
				}
				// The answer may name the id asked for; nothing else differs.
				named := bytes.ReplaceAll(b1, []byte(kinds[kind].other), []byte(kinds[kind].missing))
				if st1 != st2 || !bytes.Equal(named, b2) {
					t.Errorf("another organization's %s and a made-up one differ:\n%s %s: %d %s\n%s %s: %d %s",
						kind, method, otherURL, st1, b1, method, missingURL, st2, b2)
				}
			})
			walked++
		}
	}
	if walked < 20 {
		t.Fatalf("walked %d routes with ids; the router's registrations were not found", walked)
	}

	// The socket: every message type the server handles is here, with the
	// field that names a dashboard or chart, or "" when it names none.
	messages := []struct {
		typ, field, kind string
		extra            map[string]any
		joinFirst        bool
	}{
		{"subscribe", "chart", "chart", nil, false},
		{"publish", "chart", "chart", map[string]any{"op": json.RawMessage(`{"op":"append","rows":[["t",1]]}`)}, false},
		{"unsubscribe", "stream", "chart", nil, false},
		{"join", "dashboard", "dashboard", nil, false},
		{"focus", "chart", "chart", nil, true},
		{"ping", "", "", nil, false},
		{"filter", "", "", nil, false},
		{"leave", "", "", nil, false},
	}
	handled := socketMessageTypes(t)
	for _, typ := range handled {
		if !slices.ContainsFunc(messages, func(m struct {
			typ, field, kind string
			extra            map[string]any
			joinFirst        bool
		}) bool {
			return m.typ == typ
		}) {
			t.Errorf("the socket handles message %q, which this test does not know: add it", typ)
		}
	}
	for _, m := range messages {
		if m.field == "" {
			continue
		}
		t.Run("socket "+m.typ, func(t *testing.T) {
			answer := func(id string) []byte {
				c, _, err := dialAs(t, s, ada.c)
				if err != nil {
					t.Fatal(err)
				}
				defer c.ws.Close(websocket.StatusNormalClosure, "")
				if m.joinFirst {
					if r := c.request("j", map[string]any{"type": "join", "dashboard": "ops"}); !r.OK {
						t.Fatalf("join ops: %+v", r)
					}
				}
				msg := map[string]any{"type": m.typ, "ref": "1", m.field: id}
				for k, v := range m.extra {
					msg[k] = v
				}
				b, _ := json.Marshal(msg)
				c.send(string(b))
				for {
					line := c.readLine()
					var f frame
					if err := json.Unmarshal(line, &f); err != nil {
						t.Fatal(err)
					}
					if f.Type == "reply" && f.Ref == "1" {
						if f.OK {
							t.Fatalf("%s of %q: %s", m.typ, id, line)
						}
						return line
					}
				}
			}
			i := kinds[m.kind]
			other := answer(i.other)
			named := bytes.ReplaceAll(other, []byte(i.other), []byte(i.missing))
			if missing := answer(i.missing); !bytes.Equal(named, missing) {
				t.Errorf("another organization's %s and a made-up one differ:\n%s\n%s", m.kind, other, missing)
			}
		})
	}
}

// routePatterns returns the patterns the router registers: the string
// literals given to mux.Handle and mux.HandleFunc in package web.
func routePatterns(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "internal", "web", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "mux" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Fatalf("%s: a route whose pattern is not a literal: this test cannot walk it", fset.Position(call.Pos()))
			}
			p, _ := strconv.Unquote(lit.Value)
			out = append(out, p)
			return true
		})
	}
	return out
}

// routeParams names the kind of id each parameter of path is.
func routeParams(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, "{") || seg == "{$}" {
			continue
		}
		name := strings.Trim(seg, "{}")
		switch {
		case name == "user":
			out[name] = "user"
		case i > 0 && segs[i-1] == "dashboards":
			out[name] = "dashboard"
		case i > 0 && segs[i-1] == "charts":
			out[name] = "chart"
		case i > 0 && segs[i-1] == "tokens":
			out[name] = "token"
		default:
			t.Fatalf("route %s: parameter %s names what this test does not know", path, seg)
		}
	}
	return out
}

// socketMessageTypes returns the message types the live socket's
// dispatch handles: the cases of the switch in conn.handle.
func socketMessageTypes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "internal", "live", "handlers.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "handle" {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			cc, ok := n.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, e := range cc.List {
				if lit, ok := e.(*ast.BasicLit); ok {
					if v, _ := strconv.Unquote(lit.Value); v != "" {
						out = append(out, v)
					}
				}
			}
			return true
		})
		return false
	})
	if len(out) == 0 {
		t.Fatal("found no message types in internal/live/handlers.go")
	}
	return out
}

// TestRemovingANonMemberIsNotFound: DELETE /api/v1/members/{user} of a
// user who is not a member answers 404 as PUT does, and so does taking
// their role on a dashboard away; a member removed once is not one the
// second time.
func TestRemovingANonMemberIsNotFound(t *testing.T) {
	s := startServer(t)
	const pw = "a long enough password"
	addUser(t, s, "ada@example.com", pw, access.Admin)
	tara := addUser(t, s, "tara@example.com", pw, access.Viewer)
	ada := signedIn(t, s, "ada", "ada@example.com", pw)

	if st, b := ada.send(t, "DELETE", s.URL+"/api/v1/members/"+tara.ID, ""); st != http.StatusNoContent {
		t.Fatalf("removing a member: %d %s", st, b)
	}
	_, put := ada.send(t, "PUT", s.URL+"/api/v1/members/"+tara.ID, `{"role":"viewer"}`)
	for _, path := range []string{"/api/v1/members/" + tara.ID, "/api/v1/dashboards/ops/roles/" + tara.ID} {
		st, b := ada.send(t, "DELETE", s.URL+path, "")
		if st != http.StatusNotFound || !bytes.Equal(b, put) {
			t.Errorf("DELETE %s of a non-member: %d %s, want 404 %s as PUT", path, st, b, put)
		}
	}
}

// TestViewersSeeNoQueries: a viewer (no edit_charts) gets no chart's SQL
// from any route the router registers that reads (GET), for the demo
// dashboard of SQL charts and each of its charts, nor from the socket's
// frames; an editor still gets the queries with the definition.
func TestViewersSeeNoQueries(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	const pw = "a long enough password"
	addUser(t, s, "vera@example.com", pw, access.Viewer)
	addUser(t, s, "ed@example.com", pw, access.Editor)
	viewer := signedIn(t, s, "viewer", "vera@example.com", pw)
	editor := signedIn(t, s, "editor", "ed@example.com", pw)
	const dash = "sales-analytics"
	d, err := s.db(t).Dashboard(ctx, dash)
	if err != nil {
		t.Fatal(err)
	}
	// Each query's SQL as it could appear: as is, in JSON and in HTML.
	var sqls []string
	for _, c := range d.Charts {
		if c.Query == nil {
			continue
		}
		j, _ := json.Marshal(c.Query.SQL)
		sqls = append(sqls, c.Query.SQL, strings.Trim(string(j), `"`), html.EscapeString(c.Query.SQL))
	}
	if len(sqls) == 0 {
		t.Fatalf("dashboard %s has no SQL chart", dash)
	}
	leaks := func(b []byte) bool {
		return slices.ContainsFunc(sqls, func(q string) bool { return bytes.Contains(b, []byte(q)) })
	}

	var urls []string
	for _, pattern := range routePatterns(t) {
		path, ok := strings.CutPrefix(pattern, "GET ")
		if !ok {
			continue
		}
		path = strings.TrimSuffix(path, "{$}")
		switch params := routeParams(t, path); {
		case len(params) == 0:
			urls = append(urls, path)
		case params["id"] == "dashboard":
			urls = append(urls, strings.ReplaceAll(path, "{id}", dash))
		case params["id"] == "chart":
			for _, c := range d.Charts {
				urls = append(urls, strings.ReplaceAll(path, "{id}", c.ID))
			}
		}
	}
	for _, u := range urls {
		if st, b := viewer.send(t, "GET", s.URL+u, ""); leaks(b) {
			t.Errorf("a viewer's GET %s (%d) shows a chart's SQL:\n%s", u, st, b)
		}
	}
	c, _, err := dialAs(t, s, viewer.c)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.request("j", map[string]any{"type": "join", "dashboard": dash}); !r.OK {
		t.Fatalf("join: %+v", r)
	}
	for _, ch := range d.Charts {
		c.send(`{"type":"subscribe","ref":"s","chart":"` + ch.ID + `"}`)
		for {
			line := c.readLine()
			if leaks(line) {
				t.Errorf("a viewer's socket frame shows a chart's SQL: %s", line)
			}
			var f frame
			if err := json.Unmarshal(line, &f); err != nil {
				t.Fatal(err)
			}
			if f.Type == "reply" && f.Ref == "s" {
				break
			}
		}
	}

	for _, u := range []string{"/api/v1/dashboards/" + dash, "/api/v1/charts/" + d.Charts[0].ID + "/definition"} {
		if st, b := editor.send(t, "GET", s.URL+u, ""); st != http.StatusOK || !leaks(b) {
			t.Errorf("an editor's GET %s: %d, without the query:\n%s", u, st, b)
		}
	}
}

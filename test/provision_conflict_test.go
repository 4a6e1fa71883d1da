package test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/logtest"
)

// TestProvisioningConflictDoesNotStopTheStart: an editor adds a chart
// whose id a dashboard file then uses. The next start serves everything
// but that chart of the file: the editor's chart stays, the file's
// dashboard comes with its other charts, the other dashboards serve, and
// the conflict is named in the log and on the admin page of the
// organization the file provisions into (not on another's).
func TestProvisioningConflictDoesNotStopTheStart(t *testing.T) {
	dir := t.TempDir()
	ops, err := os.ReadFile(filepath.Join(fixtures, "ops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ops.yaml"), ops, 0o644); err != nil {
		t.Fatal(err)
	}
	var log logtest.Buffer
	s := prepare(t, ashreports.Config{DashboardsDir: dir, NoDemoGenerator: true, DemoOrg: auth.DefaultOrg,
		Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	const pw = "a long enough password"
	addUser(t, s, "ed@example.com", pw, access.Editor)
	addUser(t, s, "ada@example.com", pw, access.Admin)
	otherOrgAdmin(t, s, s.db(t), "gina@globex.example", pw)
	s.start(t)

	ed := signedIn(t, s, "editor", "ed@example.com", pw)
	l, err := s.db(t).Layout(context.Background(), "ops")
	if err != nil {
		t.Fatal(err)
	}
	def := dashboard.Chart{ID: "incidents", Width: 6, Config: dashboardChart(t, "errors").Config}
	def.Config.Title = "Incidents, the editor's"
	if st, b := ed.send(t, "POST", s.URL+"/api/v1/dashboards/ops/charts", editJSON(t, def, l.Version)); st != http.StatusCreated {
		t.Fatalf("the editor adds incidents: %d %s", st, b)
	}
	file := "id: oncall\ntitle: On call\ncharts:\n" +
		"  - {id: incidents, type: bar, title: Incidents from the file, encoding: {x: service, y: count}}\n" +
		"  - {id: pages, type: bar, title: Pages, encoding: {x: service, y: count}}\n"
	if err := os.WriteFile(filepath.Join(dir, "oncall.yaml"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}

	s.Restart() // fails the test if the server does not start

	var got dashboard.Dashboard
	for id, want := range map[string][]string{"ops": {"orders", "errors", "incidents"}, "oncall": {"pages"}, "sales-analytics": nil} {
		st, b := ed.send(t, "GET", s.URL+"/api/v1/dashboards/"+id, "")
		if st != http.StatusOK || json.Unmarshal(b, &got) != nil {
			t.Errorf("GET dashboard %s after the restart: %d %s", id, st, b)
			continue
		}
		var ids []string
		for _, c := range got.Charts {
			ids = append(ids, c.ID)
		}
		if want != nil && strings.Join(ids, " ") != strings.Join(want, " ") {
			t.Errorf("dashboard %s has charts %v, want %v", id, ids, want)
		}
	}
	if st, b := ed.send(t, "GET", s.URL+"/api/v1/dashboards/ops", ""); !strings.Contains(string(b), "Incidents, the editor") {
		t.Errorf("the editor's chart was not kept: %d %s", st, b)
	}

	if !strings.Contains(log.String(), `"chart":"incidents"`) || !strings.Contains(log.String(), "provisioning conflict") {
		t.Errorf("the log does not name the conflict:\n%s", log.String())
	}
	ada := signedIn(t, s, "admin", "ada@example.com", pw)
	if st, body, _ := page(t, ada.c, s.URL+"/admin"); st != http.StatusOK || !strings.Contains(body, "data-conflict") ||
		!strings.Contains(body, "incidents") || !strings.Contains(body, "oncall") {
		t.Errorf("the admin page does not name the conflict: %d\n%s", st, body)
	}
	// Until it is resolved, every start names it again.
	s.Restart()
	if _, body, _ := page(t, ada.c, s.URL+"/admin"); !strings.Contains(body, `data-conflict="incidents"`) {
		t.Errorf("the second start's admin page does not name the conflict:\n%s", body)
	}
	gina := signedIn(t, s, "other-org admin", "gina@globex.example", pw)
	if _, body, _ := page(t, gina.c, s.URL+"/admin"); strings.Contains(body, "data-conflict") {
		t.Errorf("another organization's admin page names the conflict:\n%s", body)
	}
}

// dashboardChart is the fixture ops dashboard's chart id.
func dashboardChart(t *testing.T, id string) dashboard.Chart {
	t.Helper()
	d, err := dashboard.LoadDir(os.DirFS(fixtures))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range d[0].Charts {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no chart %s in %s", id, fixtures)
	return dashboard.Chart{}
}

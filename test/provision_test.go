package test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/store"
)

// TestDemoUsers: the demo makes up one user per role, prints their
// passwords at every start (from a file only the owner reads), and the
// printed password signs in.
func TestDemoUsers(t *testing.T) {
	dir := t.TempDir()
	cfg := ashreports.Config{DataDir: dir, DashboardsDir: fixtures, NoDemoGenerator: true} // ops, in default
	srv, err := ashreports.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(srv.Notes(), "\n")
	srv.Close()
	re := regexp.MustCompile(`viewer\s+viewer@demo\.example\s+(\S+)`)
	m := re.FindStringSubmatch(notes)
	if m == nil || !strings.Contains(notes, "admin@demo.example") || !strings.Contains(notes, "editor@demo.example") {
		t.Fatalf("notes %q lack the demo users", notes)
	}
	fi, err := os.Stat(filepath.Join(dir, "demo-credentials.txt"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v; want 0600", err, fi.Mode())
	}

	// The demo has its own organization, with its dashboard and users.
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, store.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	org, err := db.DashboardOrg(ctx, "sales-analytics")
	if err != nil || org != "demo" {
		t.Errorf("the demo dashboard's organization: %q %v, want demo", org, err)
	}
	viewer, err := db.UserByEmail(ctx, "viewer@demo.example")
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := db.Memberships(ctx, viewer.ID); len(ms) != 1 || ms[0].OrgID != "demo" || ms[0].Role != access.Viewer {
		t.Errorf("the demo viewer's memberships: %+v", ms)
	}
	db.Close()

	s := (&testServer{cfg: cfg, DataDir: dir}).start(t)
	if again := strings.Join(s.Notes(), "\n"); !strings.Contains(again, m[1]) {
		t.Errorf("second start: notes %q do not repeat the viewer's password", again)
	}
	c := cookieClient(t)
	signIn(t, s, c, "viewer@demo.example", m[1])
	if status, body, _ := page(t, c, s.URL+"/"); status != http.StatusOK || !strings.Contains(body, "/dashboards/sales-analytics") || strings.Contains(body, "/dashboards/ops") {
		t.Errorf("the demo viewer's list: %d, demo dashboard listed %v, default's ops listed %v", status, strings.Contains(body, "/dashboards/sales-analytics"), strings.Contains(body, "/dashboards/ops"))
	}
	if status, _, _ := page(t, c, s.URL+"/dashboards/ops"); status != http.StatusNotFound {
		t.Errorf("the demo viewer got %d for the default organization's dashboard, want 404", status)
	}
	// A user of the default organization does not see the demo's.
	addUser(t, s, "dee@example.com", "a long enough password", access.Admin)
	dee := cookieClient(t)
	signIn(t, s, dee, "dee@example.com", "a long enough password")
	if status, _, _ := page(t, dee, s.URL+"/dashboards/sales-analytics"); status != http.StatusNotFound {
		t.Errorf("another organization's admin got %d for the demo dashboard, want 404", status)
	}
}

// TestDemoOrganization: an explicit demo_org "demo" is made on a fresh
// data directory; a data directory whose demo is in the default
// organization (from before the demo had its own) keeps it there; an
// organization "demo" that holds anything else is not taken over.
func TestDemoOrganization(t *testing.T) {
	ctx := context.Background()
	start := func(cfg ashreports.Config) error {
		srv, err := ashreports.New(ctx, cfg)
		if err == nil {
			srv.Close()
		}
		return err
	}
	if err := start(ashreports.Config{DataDir: t.TempDir(), NoDemoGenerator: true, DemoOrg: "demo"}); err != nil {
		t.Errorf("demo_org demo on a fresh data directory: %v", err)
	}
	if err := start(ashreports.Config{DataDir: t.TempDir(), NoDemoGenerator: true, DemoOrg: "nowhere"}); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("demo_org of an organization that does not exist: %v, want not found", err)
	}

	old := t.TempDir()
	if err := start(ashreports.Config{DataDir: old, NoDemoGenerator: true, DemoOrg: auth.DefaultOrg}); err != nil {
		t.Fatal(err)
	}
	if err := start(ashreports.Config{DataDir: old, NoDemoGenerator: true}); err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(ctx, store.Path(old))
	if err != nil {
		t.Fatal(err)
	}
	if org, err := db.DashboardOrg(ctx, "sales-analytics"); err != nil || org != auth.DefaultOrg {
		t.Errorf("an older data directory's demo moved to %q (%v), want it kept in default", org, err)
	}
	db.Close()
	// Moved on purpose, the demo takes its users along; one an admin
	// removed stays removed.
	db, _ = store.OpenSQLite(ctx, store.Path(old))
	editor, _ := db.UserByEmail(ctx, "editor@demo.example")
	removed, _ := db.UserByEmail(ctx, "viewer@demo.example")
	if err := db.RemoveMembership(ctx, auth.DefaultOrg, removed.ID); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := start(ashreports.Config{DataDir: old, NoDemoGenerator: true, DemoOrg: "demo"}); err != nil {
		t.Fatal(err)
	}
	db, _ = store.OpenSQLite(ctx, store.Path(old))
	if org, err := db.DashboardOrg(ctx, "sales-analytics"); err != nil || org != "demo" {
		t.Errorf("demo_org demo: the demo is in %q (%v)", org, err)
	}
	if ms, _ := db.Memberships(ctx, editor.ID); !slices.Contains(ms, auth.Membership{OrgID: "demo", Role: access.Editor}) {
		t.Errorf("the demo editor's memberships after the move: %+v, want editor of demo", ms)
	}
	if ms, _ := db.Memberships(ctx, removed.ID); len(ms) != 0 {
		t.Errorf("the removed demo viewer's memberships after the move: %+v, want none", ms)
	}
	db.Close()

	taken := t.TempDir()
	db, err = store.OpenSQLite(ctx, store.Path(taken))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOrganization(ctx, auth.Organization{ID: "demo", Name: "Demolition Ltd"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := &testServer{DataDir: taken}
	addUser(t, s, "boss@demolition.example", "a long enough password", "")
	db, _ = store.OpenSQLite(ctx, store.Path(taken))
	boss, _ := db.UserByEmail(ctx, "boss@demolition.example")
	if err := db.SetMembership(ctx, "demo", boss.ID, access.Admin); err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = start(ashreports.Config{DataDir: taken, NoDemoGenerator: true})
	if err == nil || !strings.Contains(err.Error(), "demo_org") {
		t.Errorf("a start over someone else's organization demo: %v, want an error pointing to demo_org", err)
	}
}

// TestFirstAdmin: without users the notes say how to create the first
// admin; Config.Admin creates it once; a weak password is refused.
func TestFirstAdmin(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, err := ashreports.New(ctx, ashreports.Config{DataDir: dir, NoDemo: true})
	if err != nil {
		t.Fatal(err)
	}
	if notes := strings.Join(srv.Notes(), "\n"); !strings.Contains(notes, "ashreports user add --data-dir "+dir+" --email you@example.com --role admin") {
		t.Errorf("notes without users: %q", notes)
	}
	srv.Close()
	if _, err := ashreports.New(ctx, ashreports.Config{DataDir: dir, NoDemo: true, Admin: &ashreports.Admin{Email: "boss@example.com", Password: "short"}}); err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
		t.Fatalf("a short admin password: %v", err)
	}
	for _, email := range []string{"", "boss"} {
		if _, err := ashreports.New(ctx, ashreports.Config{DataDir: dir, NoDemo: true, Admin: &ashreports.Admin{Email: email, Password: "a long enough password"}}); err == nil || !strings.Contains(err.Error(), "email") {
			t.Errorf("admin email %q: %v, want a start error naming the email", email, err)
		}
	}
	cfg := ashreports.Config{DataDir: dir, NoDemo: true, Admin: &ashreports.Admin{Email: "boss@example.com", Password: "a long enough password"}}
	s := (&testServer{cfg: cfg, DataDir: dir}).start(t)
	if notes := strings.Join(s.Notes(), "\n"); !strings.Contains(notes, "created the first admin, boss@example.com") {
		t.Errorf("notes: %q", notes)
	}
	signIn(t, s, cookieClient(t), "boss@example.com", "a long enough password")
	s.Restart()
	if notes := strings.Join(s.Notes(), "\n"); strings.Contains(notes, "created") || strings.Contains(notes, "no users") {
		t.Errorf("notes after a restart: %q", notes)
	}
}

package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/apperr/apperrtest"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// TestUsersAndRoles: users, memberships and dashboard roles make the
// subject the authorization function sees, organization by organization.
func TestUsersAndRoles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.PutDashboard(ctx, dashboard.Dashboard{ID: "ops", Title: "Ops", Charts: []dashboard.Chart{lineChart("cpu", "CPU")}}, "file"); err != nil {
		t.Fatal(err)
	}
	apperrtest.Want(t, s.CreateOrganization(ctx, auth.Organization{ID: auth.DefaultOrg, Name: "Again"}), apperr.Conflict, "already exists")
	if err := s.CreateOrganization(ctx, auth.Organization{ID: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.User{{ID: "u1", Email: "ann@example.com", Name: "Ann", PasswordHash: "h1"}, {ID: "u2", Email: "bob@example.com", Name: "Bob", PasswordHash: "h2"}} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	apperrtest.Want(t, s.CreateUser(ctx, auth.User{ID: "u3", Email: "ANN@example.com", Name: "Ann 2", PasswordHash: "h"}), apperr.Conflict, "already exists")
	if u, err := s.UserByEmail(ctx, "Ann@Example.com"); err != nil || u.ID != "u1" || u.PasswordHash != "h1" || u.CreatedAt.IsZero() {
		t.Fatalf("UserByEmail = %+v, %v", u, err)
	}
	_, err := s.UserByEmail(ctx, "nobody@example.com")
	apperrtest.Want(t, err, apperr.NotFound)
	if n, err := s.UserCount(ctx); err != nil || n != 2 {
		t.Fatalf("UserCount = %d, %v", n, err)
	}

	// Bob is no member yet: no role on the dashboard can be given.
	apperrtest.Want(t, s.SetDashboardRole(ctx, "ops", "u2", access.Editor), apperr.NotFound)
	if err := s.SetMembership(ctx, auth.DefaultOrg, "u1", access.Admin); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMembership(ctx, auth.DefaultOrg, "u2", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMembership(ctx, "globex", "u2", access.Viewer); err != nil {
		t.Fatal(err)
	}
	apperrtest.Want(t, s.SetMembership(ctx, "initech", "u2", access.Viewer), apperr.NotFound)
	if err := s.SetDashboardRole(ctx, "ops", "u2", access.Editor); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Memberships(ctx, "u2")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]auth.Membership{{OrgID: auth.DefaultOrg}, {OrgID: "globex", Role: access.Viewer}}, ms); d != "" {
		t.Errorf("memberships (-want +got):\n%s", d)
	}

	bob, err := s.Subject(ctx, auth.DefaultOrg, "u2")
	if err != nil {
		t.Fatal(err)
	}
	want := access.Subject{Kind: access.User, ID: "u2", Name: "Bob", OrgID: auth.DefaultOrg, DashboardRoles: map[string]access.Role{"ops": access.Editor}}
	if d := cmp.Diff(want, bob); d != "" {
		t.Errorf("subject (-want +got):\n%s", d)
	}
	if !access.Decide(bob, access.EditCharts, dashRes("ops")).Allowed {
		t.Error("an editor of ops may not edit it")
	}
	// In Globex, Bob's role on ops (of another organization) counts for
	// nothing.
	bobG, err := s.Subject(ctx, "globex", "u2")
	if err != nil {
		t.Fatal(err)
	}
	if len(bobG.DashboardRoles) != 0 || bobG.OrgRole != access.Viewer {
		t.Errorf("subject in globex = %+v", bobG)
	}
	// Ann is no member of Globex: she sees nothing of it.
	annG, err := s.Subject(ctx, "globex", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if d := access.Decide(annG, access.ViewCharts, access.Resource{OrgID: "globex"}); d.Code != apperr.NotFound {
		t.Errorf("a non-member in globex: %+v, want not_found", d)
	}

	if err := s.RemoveMembership(ctx, "globex", "u2"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.Memberships(ctx, "u2"); len(ms) != 1 || ms[0].OrgID != auth.DefaultOrg {
		t.Errorf("memberships after leaving globex: %+v", ms)
	}
	if err := s.RemoveDashboardRole(ctx, "ops", "u2"); err != nil {
		t.Fatal(err)
	}
	bob, err = s.Subject(ctx, auth.DefaultOrg, "u2")
	if err != nil {
		t.Fatal(err)
	}
	if d := access.Decide(bob, access.ViewCharts, dashRes("ops")); d.Code != apperr.NotFound {
		t.Errorf("after the role was removed: %+v, want not_found", d)
	}
}

// dashRes is a dashboard of the default organization, for tests.
func dashRes(dash string) access.Resource {
	return access.Resource{OrgID: auth.DefaultOrg, DashboardID: dash}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tok := auth.Token{ID: "t1", OrgID: auth.DefaultOrg, Name: "ci", SecretHash: "abc", Scopes: []access.Permission{access.PublishData}, Charts: []string{"cpu"}, CreatedBy: "u1"}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	apperrtest.Want(t, s.CreateToken(ctx, auth.Token{ID: "t2", OrgID: "nope", SecretHash: "x"}), apperr.NotFound)
	got, err := s.TokenBySecretHash(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.IsZero() || !got.LastUsedAt.IsZero() || !got.RevokedAt.IsZero() {
		t.Errorf("times of a new token: %+v", got)
	}
	got.CreatedAt = time.Time{}
	if d := cmp.Diff(tok, got); d != "" {
		t.Errorf("token (-want +got):\n%s", d)
	}
	_, err = s.TokenBySecretHash(ctx, "other")
	apperrtest.Want(t, err, apperr.Unauthorized)

	used := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := s.TouchToken(ctx, "t1", used); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, auth.DefaultOrg, "t1"); err != nil {
		t.Fatal(err)
	}
	apperrtest.Want(t, s.RevokeToken(ctx, "globex", "t1"), apperr.NotFound)
	list, err := s.Tokens(ctx, auth.DefaultOrg)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].LastUsedAt.Equal(used) || list[0].RevokedAt.IsZero() {
		t.Fatalf("tokens = %+v", list)
	}
	first := list[0].RevokedAt
	if err := s.RevokeToken(ctx, auth.DefaultOrg, "t1"); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.TokenBySecretHash(ctx, "abc"); !again.RevokedAt.Equal(first) {
		t.Errorf("a second revoke moved the time from %v to %v", first, again.RevokedAt)
	}
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i, a := range []string{"login", "role_set", "token_used"} {
		if err := s.RecordAudit(ctx, audit.Entry{OrgID: auth.DefaultOrg, ActorKind: "user", ActorID: "u1", Action: a, Target: "ops", Outcome: "ok", Detail: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAudit(ctx, audit.Entry{OrgID: "globex", ActorKind: "user", Action: "login", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	page, err := s.AuditLog(ctx, auth.DefaultOrg, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Action != "token_used" || page[1].Action != "role_set" || page[0].At.IsZero() {
		t.Fatalf("first page = %+v", page)
	}
	rest, err := s.AuditLog(ctx, auth.DefaultOrg, page[1].ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].Action != "login" {
		t.Fatalf("second page = %+v", rest)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.CreateUser(ctx, auth.User{ID: "u1", Email: "ann@example.com", Name: "Ann", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	ss := auth.Session{IDHash: "h1", UserID: "u1", OrgID: auth.DefaultOrg, CSRFToken: "c", MaxConnections: 4, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour), IP: "127.0.0.1", UserAgent: "test"}
	for _, h := range []string{"h1", "h2"} {
		ss.IDHash = h
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Session(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	ss.IDHash = "h1"
	if d := cmp.Diff(ss, got); d != "" {
		t.Errorf("session (-want +got):\n%s", d)
	}
	_, err = s.Session(ctx, "nope")
	apperrtest.Want(t, err, apperr.Unauthorized)
	if err := s.TouchSession(ctx, "h1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Session(ctx, "h1"); !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("last seen %v after touch", got.LastSeenAt)
	}
	if err := s.RevokeSession(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Session(ctx, "h1"); got.RevokedAt.IsZero() {
		t.Error("revoked session has no revocation time")
	}
	ended, err := s.RevokeUserSessions(ctx, "u1")
	if err != nil || len(ended) != 1 || ended[0] != "h2" {
		t.Fatalf("RevokeUserSessions = %v, %v; want [h2] (h1 was already revoked)", ended, err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, time.Now().Add(time.Second)); err != nil || n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
}

// TestAccessVersion: role, membership, token and session changes move the
// version; other writes do not.
func TestAccessVersion(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	v := func() int64 {
		t.Helper()
		n, err := s.AccessVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.PutDashboard(ctx, dashboard.Dashboard{ID: "ops", Title: "Ops", Charts: []dashboard.Chart{lineChart("cpu", "CPU")}}, "file"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, auth.User{ID: "u1", Email: "a@example.com", Name: "A", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.ChartResource(ctx, "cpu"); err != nil || r != (access.Resource{OrgID: auth.DefaultOrg, DashboardID: "ops", ChartID: "cpu"}) {
		t.Errorf("ChartResource(cpu) = %+v, %v", r, err)
	}
	v0 := v()
	steps := []struct {
		name string
		do   func() error
	}{
		{"membership", func() error { return s.SetMembership(ctx, auth.DefaultOrg, "u1", access.Viewer) }},
		{"role change", func() error { return s.SetMembership(ctx, auth.DefaultOrg, "u1", access.Editor) }},
		{"dashboard role", func() error { return s.SetDashboardRole(ctx, "ops", "u1", access.Admin) }},
		{"dashboard role removed", func() error { return s.RemoveDashboardRole(ctx, "ops", "u1") }},
		{"token revoked", func() error {
			if err := s.CreateToken(ctx, auth.Token{ID: "t", OrgID: auth.DefaultOrg, Name: "t", SecretHash: "x", Scopes: []access.Permission{access.ViewCharts}}); err != nil {
				return err
			}
			return s.RevokeToken(ctx, auth.DefaultOrg, "t")
		}},
		{"session revoked", func() error {
			now := time.Now()
			if err := s.CreateSession(ctx, auth.Session{IDHash: "s", UserID: "u1", OrgID: auth.DefaultOrg, CSRFToken: "c", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				return err
			}
			return s.RevokeSession(ctx, "s")
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if v1 := v(); v1 <= v0 {
			t.Errorf("%s did not move the access version (%d)", st.name, v1)
		} else {
			v0 = v1
		}
	}
	if err := s.RecordAudit(ctx, audit.Entry{ActorKind: "user", Action: "login", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, "s", time.Now()); err != nil {
		t.Fatal(err)
	}
	if v1 := v(); v1 != v0 {
		t.Errorf("an audit entry or a session's activity moved the version")
	}
	if tok, err := s.TokenByID(ctx, "t"); err != nil || tok.RevokedAt.IsZero() {
		t.Errorf("TokenByID = %+v, %v", tok, err)
	}
}

package ashreports

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/live"
	"github.com/ashreports/ashreports/internal/store"
)

// TestRefreshIdentityOfASocket: what the minute's recheck decides for a
// session's socket. Past its lifetime the session's sockets end; idle it
// does not end them (an open socket is use), and the check moves the
// session's last use on; revoked, they end.
func TestRefreshIdentityOfASocket(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &Server{store: st, ident: newIdentities(st)}
	if err := st.CreateUser(ctx, auth.User{ID: "u", Email: "u@example.com", Name: "u", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMembership(ctx, auth.DefaultOrg, "u", access.Viewer); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	add := func(hash string, created, seen time.Time) live.Identity {
		t.Helper()
		if err := st.CreateSession(ctx, auth.Session{IDHash: hash, UserID: "u", OrgID: auth.DefaultOrg, CSRFToken: "c", MaxConnections: 10,
			CreatedAt: created, LastSeenAt: seen, ExpiresAt: created.Add(12 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return live.Identity{Subject: access.Subject{Kind: access.User, ID: "u", OrgID: auth.DefaultOrg}, Session: hash}
	}

	idle := add("idle", now.Add(-3*time.Hour), now.Add(-2*time.Hour)) // idle for 2 h, alive for 9 more
	sub, err := s.refreshIdentity(ctx, idle)
	if err != nil || sub.OrgRole != access.Viewer {
		t.Fatalf("an idle session's socket: %+v, %v; want it kept", sub, err)
	}
	if ss, _ := st.Session(ctx, "idle"); now.Sub(ss.LastSeenAt) > time.Minute {
		t.Errorf("the socket did not count as use: last seen %v", ss.LastSeenAt)
	}

	old := add("old", now.Add(-13*time.Hour), now.Add(-time.Minute))
	if _, err := s.refreshIdentity(ctx, old); apperr.CodeOf(err) != apperr.Unauthorized {
		t.Errorf("a session past its 12 hours: %v, want unauthorized", err)
	}

	gone := add("gone", now, now)
	if err := st.RevokeSession(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.refreshIdentity(ctx, gone); apperr.CodeOf(err) != apperr.Unauthorized {
		t.Errorf("a revoked session: %v, want unauthorized", err)
	}
}

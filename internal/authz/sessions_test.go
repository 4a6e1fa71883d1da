package authz

import (
	"context"
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/store/storetest"
)

// TestRefreshASocketsSession: what the minute's recheck decides for a
// session's socket. Past its lifetime the session's sockets end; idle it
// does not end them (an open socket is use), and the check moves the
// session's last use on; revoked, they end.
func TestRefreshASocketsSession(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	s := NewSessions(NewDirectory(st), auth.SessionPolicy{}, nil)
	storetest.MustUser(t, st, "u", "u@example.com", auth.DefaultOrg, access.Viewer)
	now := time.Now()
	add := func(hash string, created, seen time.Time) access.Subject {
		t.Helper()
		if err := st.CreateSession(ctx, auth.Session{IDHash: hash, UserID: "u", OrgID: auth.DefaultOrg, CSRFToken: "c", MaxConnections: 10,
			CreatedAt: created, LastSeenAt: seen, ExpiresAt: created.Add(12 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return access.Subject{Kind: access.User, ID: "u", OrgID: auth.DefaultOrg, Session: hash}
	}

	idle := add("idle", now.Add(-3*time.Hour), now.Add(-2*time.Hour)) // idle for 2 h, alive for 9 more
	sub, err := s.Refresh(ctx, idle, now)
	if err != nil || sub.OrgRole != access.Viewer || sub.Session != "idle" || sub.CSRFToken != "c" || sub.MaxConns != 10 || sub.Name != "u" {
		t.Fatalf("an idle session's socket: %+v, %v; want it kept, with its session", sub, err)
	}
	if ss, _ := st.Session(ctx, "idle"); now.Sub(ss.LastSeenAt) > time.Minute {
		t.Errorf("the socket did not count as use: last seen %v", ss.LastSeenAt)
	}

	old := add("old", now.Add(-13*time.Hour), now.Add(-time.Minute))
	if _, err := s.Refresh(ctx, old, now); apperr.CodeOf(err) != apperr.Unauthorized {
		t.Errorf("a session past its 12 hours: %v, want unauthorized", err)
	}

	gone := add("gone", now, now)
	if err := st.RevokeSession(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(ctx, gone, now); apperr.CodeOf(err) != apperr.Unauthorized {
		t.Errorf("a revoked session: %v, want unauthorized", err)
	}
}

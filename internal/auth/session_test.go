package auth

import (
	"testing"
	"time"

	"github.com/ashreports/ashreports/internal/apperr"
)

func TestSessionLifetime(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	p := SessionPolicy{TTL: 8 * time.Hour, Idle: 30 * time.Minute, MaxConnections: 3}
	id, s := NewSession("usr_1", "default", p, t0)
	id2, s2 := NewSession("usr_1", "default", p, t0)
	if id == id2 || s.IDHash == s2.IDHash || s.CSRFToken == s2.CSRFToken {
		t.Fatal("two sessions share an id or a CSRF token")
	}
	if s.IDHash != HashToken(id) || s.IDHash == id || s.MaxConnections != 3 || !s.ExpiresAt.Equal(t0.Add(8*time.Hour)) {
		t.Fatalf("session %+v", s)
	}
	for _, tc := range []struct {
		name   string
		seen   time.Duration // last activity after t0
		at     time.Duration // check time after t0
		revoke bool
		ok     bool
	}{
		{"fresh", 0, time.Minute, false, true},
		{"active for hours", 7*time.Hour + 50*time.Minute, 7*time.Hour + 55*time.Minute, false, true},
		{"idle", 0, 30 * time.Minute, false, false},
		{"past its lifetime though active", 8*time.Hour - time.Minute, 8 * time.Hour, false, false},
		{"signed out", 0, time.Minute, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s
			c.LastSeenAt = t0.Add(tc.seen)
			if tc.revoke {
				c.RevokedAt = t0
			}
			err := CheckSession(c, p, t0.Add(tc.at))
			if (err == nil) != tc.ok {
				t.Fatalf("CheckSession = %v, want ok %v", err, tc.ok)
			}
			if err != nil && apperr.CodeOf(err) != apperr.Unauthorized {
				t.Errorf("code %q, want unauthorized", apperr.CodeOf(err))
			}
		})
	}
	if d := (SessionPolicy{}).WithDefaults(); d.TTL != 12*time.Hour || d.Idle != time.Hour || d.MaxConnections != 10 {
		t.Errorf("defaults %+v", d)
	}
}

package auth

import (
	"crypto/rand"
	"time"

	"github.com/ashreports/ashreports/internal/apperr"
)

// SessionPolicy bounds sessions. Zero fields take the defaults below.
type SessionPolicy struct {
	// TTL is how long a session lasts from sign-in; 12h.
	TTL time.Duration
	// Idle is how long a session lasts without a request; 1h.
	Idle time.Duration
	// MaxConnections is how many live sockets a session may hold at once;
	// the next one is refused. 10.
	MaxConnections int
}

// WithDefaults returns p with its zero fields set to the defaults.
func (p SessionPolicy) WithDefaults() SessionPolicy {
	if p.TTL <= 0 {
		p.TTL = 12 * time.Hour
	}
	if p.Idle <= 0 {
		p.Idle = time.Hour
	}
	if p.MaxConnections <= 0 {
		p.MaxConnections = 10
	}
	return p
}

// NewSession starts a session of the user in the organization at now: it
// returns the id for the cookie (shown to nobody else, stored only as its
// hash) and the record to store.
func NewSession(userID, orgID string, p SessionPolicy, now time.Time) (id string, s Session) {
	p = p.WithDefaults()
	id = rand.Text() + rand.Text() // 260 random bits
	return id, Session{
		IDHash:         HashToken(id),
		UserID:         userID,
		OrgID:          orgID,
		CSRFToken:      rand.Text(),
		MaxConnections: p.MaxConnections,
		CreatedAt:      now,
		LastSeenAt:     now,
		ExpiresAt:      now.Add(p.TTL),
	}
}

// CheckSession returns nil when s may be used at now, else an
// unauthorized error saying why.
func CheckSession(s Session, p SessionPolicy, now time.Time) error {
	p = p.WithDefaults()
	switch {
	case !s.RevokedAt.IsZero():
		return apperr.Errorf(apperr.Unauthorized, "you were signed out: sign in again")
	case !now.Before(s.ExpiresAt):
		return apperr.Errorf(apperr.Unauthorized, "your session expired: sign in again")
	case now.Sub(s.LastSeenAt) >= p.Idle:
		return apperr.Errorf(apperr.Unauthorized, "your session ended after %s without activity: sign in again", p.Idle)
	}
	return nil
}

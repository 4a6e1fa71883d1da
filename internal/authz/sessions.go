package authz

import (
	"context"
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/audit"
	"github.com/ashreports/ashreports/internal/auth"
)

// Live is told when a session ends, to close its live connections at
// once.
type Live interface {
	EndSession(idHash string)
}

// Sessions resolves the credentials a request or a live connection
// carries (a session cookie, an API token) to the subject that asks, with
// one session policy, and starts and ends browser sessions. It is safe for
// concurrent use.
type Sessions struct {
	dir    *Directory
	policy auth.SessionPolicy
	live   Live
}

// NewSessions returns the sessions of dir under policy (zero fields take
// auth's defaults); live, when not nil, hears of every session that ends
// here.
func NewSessions(dir *Directory, policy auth.SessionPolicy, live Live) *Sessions {
	return &Sessions{dir: dir, policy: policy.WithDefaults(), live: live}
}

// touchEvery is how stale a session's or token's last-use time may get
// before a request writes it again: one write per minute, not per request.
const touchEvery = time.Minute

// Token resolves an Authorization header, "Bearer ashr_…": the token's
// subject, or unauthorized for a malformed header or an unknown or revoked
// token. Its use is recorded (and audited) once a minute at most.
func (s *Sessions) Token(ctx context.Context, header string, now time.Time) (access.Subject, error) {
	secret, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || !strings.HasPrefix(secret, auth.TokenPrefix) {
		return access.Subject{}, apperr.Errorf(apperr.Unauthorized, `the Authorization header must be "Bearer %s…"`, auth.TokenPrefix)
	}
	t, err := s.dir.TokenBySecretHash(ctx, auth.HashToken(secret))
	if err != nil {
		return access.Subject{}, err
	}
	if !t.RevokedAt.IsZero() {
		return access.Subject{}, apperr.Errorf(apperr.Unauthorized, "the API token %s was revoked", t.ID)
	}
	if now.Sub(t.LastUsedAt) >= touchEvery {
		if err := s.dir.TouchToken(ctx, t.ID, now); err != nil {
			return access.Subject{}, err
		}
		if err := s.dir.RecordAudit(ctx, audit.Entry{OrgID: t.OrgID, ActorKind: "token", ActorID: t.ID, Action: "token_used", Target: t.ID, Outcome: "ok", Detail: t.Name}); err != nil {
			return access.Subject{}, err
		}
	}
	return t.Subject(), nil
}

// Session resolves a session cookie's value: the user's subject in the
// session's organization, with the session. A session that ended
// (signed out, expired, idle) is unauthorized, saying why.
func (s *Sessions) Session(ctx context.Context, cookie string, now time.Time) (access.Subject, error) {
	ss, err := s.dir.Session(ctx, auth.HashToken(cookie))
	if err != nil {
		return access.Subject{}, err
	}
	if err := auth.CheckSession(ss, s.policy, now); err != nil {
		return access.Subject{}, err
	}
	if now.Sub(ss.LastSeenAt) >= touchEvery {
		if err := s.dir.TouchSession(ctx, ss.IDHash, now); err != nil {
			return access.Subject{}, err
		}
	}
	sub, err := s.dir.Subject(ctx, ss.OrgID, ss.UserID)
	if err != nil {
		return access.Subject{}, err
	}
	return withSession(sub, ss), nil
}

func withSession(sub access.Subject, ss auth.Session) access.Subject {
	sub.Session, sub.CSRFToken, sub.MaxConns = ss.IDHash, ss.CSRFToken, ss.MaxConnections
	return sub
}

// Refresh is a live connection's subject as the store has it now, read
// past the cache: an error when its session or token ended. An open socket
// is use of its session: the idle timeout does not close it, and it keeps
// the session from going idle (its last use is moved on); the session's
// lifetime still ends it. A subject of neither kind (a call from Go) is
// returned as it is.
func (s *Sessions) Refresh(ctx context.Context, sub access.Subject, now time.Time) (access.Subject, error) {
	switch {
	case sub.Session != "":
		ss, err := s.dir.Store.Session(ctx, sub.Session)
		if err != nil {
			return access.Subject{}, err
		}
		ss.LastSeenAt = now
		if err := auth.CheckSession(ss, s.policy, now); err != nil {
			return access.Subject{}, err
		}
		if err := s.dir.TouchSession(ctx, ss.IDHash, now); err != nil {
			return access.Subject{}, err
		}
		fresh, err := s.dir.Store.Subject(ctx, ss.OrgID, ss.UserID)
		if err != nil {
			return access.Subject{}, err
		}
		return withSession(fresh, ss), nil
	case sub.Kind == access.Token:
		t, err := s.dir.Store.TokenByID(ctx, sub.ID)
		if err != nil {
			return access.Subject{}, err
		}
		if !t.RevokedAt.IsZero() {
			return access.Subject{}, apperr.Errorf(apperr.Unauthorized, "the API token %s was revoked", t.ID)
		}
		return t.Subject(), nil
	}
	return sub, nil
}

// Start begins a session of the user in the organization, made at now
// from the address ip with the browser userAgent (cut to 256 bytes): it
// returns the value for the session cookie (shown to nobody else, stored
// only as its hash) and the session.
func (s *Sessions) Start(ctx context.Context, userID, orgID, ip, userAgent string, now time.Time) (string, auth.Session, error) {
	id, ss := auth.NewSession(userID, orgID, s.policy, now)
	ss.IP, ss.UserAgent = ip, truncate(userAgent, 256)
	if err := s.dir.CreateSession(ctx, ss); err != nil {
		return "", auth.Session{}, err
	}
	return id, ss, nil
}

// End ends the session whose id hashes to idHash (sign-out, a new
// sign-in), here at once and on its live connections.
func (s *Sessions) End(ctx context.Context, idHash string) error {
	if err := s.dir.RevokeSession(ctx, idHash); err != nil {
		return err
	}
	if s.live != nil {
		s.live.EndSession(idHash)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

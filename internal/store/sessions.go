package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
)

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, ss auth.Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, org_id, csrf_token, max_connections, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ss.IDHash, ss.UserID, ss.OrgID, ss.CSRFToken, ss.MaxConnections,
		formatTime(ss.CreatedAt), formatTime(ss.LastSeenAt), formatTime(ss.ExpiresAt), ss.IP, ss.UserAgent)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns the session whose id hashes to idHash, revoked or
// expired or not: the caller judges.
func (s *Store) Session(ctx context.Context, idHash string) (auth.Session, error) {
	ss := auth.Session{IDHash: idHash}
	var created, seen, expires, revoked string
	err := s.db.QueryRowContext(ctx, `SELECT user_id, org_id, csrf_token, max_connections, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent
		FROM sessions WHERE id_hash = ?`, idHash).Scan(&ss.UserID, &ss.OrgID, &ss.CSRFToken, &ss.MaxConnections, &created, &seen, &expires, &revoked, &ss.IP, &ss.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, apperr.Errorf(apperr.Unauthorized, "no such session: sign in again")
	}
	if err != nil {
		return ss, fmt.Errorf("session: %w", err)
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.RevokedAt = parseTime(created), parseTime(seen), parseTime(expires), parseTime(revoked)
	return ss, nil
}

// TouchSession records activity of the session at t.
func (s *Store) TouchSession(ctx context.Context, idHash string, t time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, formatTime(t), idHash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// RevokeSession ends the session (sign-out, or an admin's revocation).
func (s *Store) RevokeSession(ctx context.Context, idHash string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at = ''`, now(), idHash); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions ends every session of the user and returns the
// hashes of those it ended.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = '' RETURNING id_hash`, now(), userID)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("revoke sessions: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// DeleteExpiredSessions removes sessions that ended before t; it returns
// how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ? OR (revoked_at != '' AND revoked_at < ?)`, formatTime(t), formatTime(t))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}

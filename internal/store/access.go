package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
)

// isUnique reports whether err is a violated UNIQUE or PRIMARY KEY
// constraint.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// CreateOrganization adds an organization; an id in use is a conflict.
func (s *Store) CreateOrganization(ctx context.Context, o auth.Organization) error {
	if o.ID == "" || o.Name == "" {
		return &apperr.Error{Code: apperr.Invalid, Field: "organization", Message: "an organization needs an id and a name"}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)`, o.ID, o.Name, now())
	if isUnique(err) {
		return apperr.Errorf(apperr.Conflict, "organization %q already exists", o.ID)
	}
	if err != nil {
		return fmt.Errorf("create organization: %w", err)
	}
	return nil
}

// Organization returns the organization id.
func (s *Store) Organization(ctx context.Context, id string) (auth.Organization, error) {
	o := auth.Organization{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT name FROM organizations WHERE id = ?`, id).Scan(&o.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return o, apperr.Errorf(apperr.NotFound, "no organization %q", id)
	}
	if err != nil {
		return o, fmt.Errorf("organization %q: %w", id, err)
	}
	return o, nil
}

// CreateUser adds a user; an email in use (in any letter case) is a
// conflict.
func (s *Store) CreateUser(ctx context.Context, u auth.User) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, u.PasswordHash, now())
	if isUnique(err) {
		return &apperr.Error{Code: apperr.Conflict, Field: "email", Message: fmt.Sprintf("a user with email %q already exists", u.Email)}
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

const userColumns = `id, email, name, password_hash, created_at`

func scanUser(row *sql.Row) (auth.User, error) {
	var u auth.User
	var created string
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &created)
	u.CreatedAt = parseTime(created)
	return u, err
}

// UserByEmail returns the user with email, in any letter case.
func (s *Store) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return u, apperr.Errorf(apperr.NotFound, "no user with email %q", email)
	}
	if err != nil {
		return u, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// User returns the user id.
func (s *Store) User(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, apperr.Errorf(apperr.NotFound, "no user %q", id)
	}
	if err != nil {
		return u, fmt.Errorf("user %q: %w", id, err)
	}
	return u, nil
}

// UserCount is the number of users.
func (s *Store) UserCount(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetMembership makes the user a member of the organization with role
// ("" for no organization-wide role), or changes the role.
func (s *Store) SetMembership(ctx context.Context, orgID, userID string, role access.Role) error {
	if _, err := s.Organization(ctx, orgID); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, ?)
		ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, string(role))
	if err != nil {
		return fmt.Errorf("set membership: %w", err)
	}
	return nil
}

// Memberships returns the organizations the user belongs to.
func (s *Store) Memberships(ctx context.Context, userID string) ([]auth.Membership, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT org_id, role FROM memberships WHERE user_id = ? ORDER BY org_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer rows.Close()
	var out []auth.Membership
	for rows.Next() {
		var m auth.Membership
		var role string
		if err := rows.Scan(&m.OrgID, &role); err != nil {
			return nil, fmt.Errorf("memberships: %w", err)
		}
		m.Role = access.Role(role)
		out = append(out, m)
	}
	return out, rows.Err()
}

// RemoveMembership takes the user out of the organization, with their
// roles on its dashboards.
func (s *Store) RemoveMembership(ctx context.Context, orgID, userID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("remove membership: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM dashboard_roles WHERE user_id = ? AND dashboard_id IN (SELECT id FROM dashboards WHERE org_id = ?)`, userID, orgID); err != nil {
		return fmt.Errorf("remove membership: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
		return fmt.Errorf("remove membership: %w", err)
	}
	return tx.Commit()
}

// SetDashboardRole gives the user role on the dashboard; the user must be
// a member of the dashboard's organization.
func (s *Store) SetDashboardRole(ctx context.Context, dashboardID, userID string, role access.Role) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO dashboard_roles (dashboard_id, user_id, role)
		SELECT d.id, m.user_id, ? FROM dashboards d JOIN memberships m ON m.org_id = d.org_id
		WHERE d.id = ? AND m.user_id = ?
		ON CONFLICT (dashboard_id, user_id) DO UPDATE SET role = excluded.role`, string(role), dashboardID, userID)
	if err != nil {
		return fmt.Errorf("set dashboard role: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.NotFound, "no dashboard %q with user %q in its organization", dashboardID, userID)
	}
	return nil
}

// DashboardOrg returns the organization of dashboard id.
func (s *Store) DashboardOrg(ctx context.Context, id string) (string, error) {
	var org string
	err := s.db.QueryRowContext(ctx, `SELECT org_id FROM dashboards WHERE id = ?`, id).Scan(&org)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.Errorf(apperr.NotFound, "no dashboard %q", id)
	}
	if err != nil {
		return "", fmt.Errorf("dashboard %q: %w", id, err)
	}
	return org, nil
}

// ChartResource returns where chart id lives: its organization and
// dashboard.
func (s *Store) ChartResource(ctx context.Context, id string) (access.Resource, error) {
	r := access.Resource{ChartID: id}
	err := s.db.QueryRowContext(ctx, `SELECT d.org_id, d.id FROM charts c JOIN dashboards d ON d.id = c.dashboard_id WHERE c.id = ?`, id).Scan(&r.OrgID, &r.DashboardID)
	if errors.Is(err, sql.ErrNoRows) {
		return r, apperr.Errorf(apperr.NotFound, "chart %q not found", id)
	}
	if err != nil {
		return r, fmt.Errorf("chart %q: %w", id, err)
	}
	return r, nil
}

// RemoveDashboardRole takes the user's role on the dashboard away.
func (s *Store) RemoveDashboardRole(ctx context.Context, dashboardID, userID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM dashboard_roles WHERE dashboard_id = ? AND user_id = ?`, dashboardID, userID); err != nil {
		return fmt.Errorf("remove dashboard role: %w", err)
	}
	return nil
}

// Subject returns the user as the authorization function sees them in the
// organization, with the name others see: their organization role and
// their roles on its dashboards. A user who is not a member gets a subject of that
// organization with no role at all.
func (s *Store) Subject(ctx context.Context, orgID, userID string) (access.Subject, error) {
	sub := access.Subject{Kind: access.User, ID: userID, OrgID: orgID, DashboardRoles: map[string]access.Role{}}
	if u, err := s.User(ctx, userID); err == nil {
		sub.Name = u.DisplayName()
	} else if apperr.CodeOf(err) != apperr.NotFound {
		return sub, err
	}
	var role string
	err := s.db.QueryRowContext(ctx, `SELECT role FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		sub.OrgID = "" // not a member: sees nothing of the organization
		return sub, nil
	case err != nil:
		return sub, fmt.Errorf("subject: %w", err)
	}
	sub.OrgRole = access.Role(role)
	rows, err := s.db.QueryContext(ctx, `SELECT r.dashboard_id, r.role FROM dashboard_roles r
		JOIN dashboards d ON d.id = r.dashboard_id WHERE d.org_id = ? AND r.user_id = ?`, orgID, userID)
	if err != nil {
		return sub, fmt.Errorf("subject: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, role string
		if err := rows.Scan(&id, &role); err != nil {
			return sub, fmt.Errorf("subject: %w", err)
		}
		sub.DashboardRoles[id] = access.Role(role)
	}
	return sub, rows.Err()
}

// CreateToken stores a token (its secret's hash).
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	if _, err := s.Organization(ctx, t.OrgID); err != nil {
		return err
	}
	scopes, _ := json.Marshal(t.Scopes)
	charts, _ := json.Marshal(append([]string{}, t.Charts...))
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (id, org_id, name, secret_hash, scopes, charts, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.OrgID, t.Name, t.SecretHash, string(scopes), string(charts), t.CreatedBy, now())
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

const tokenColumns = `id, org_id, name, secret_hash, scopes, charts, created_by, created_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (auth.Token, error) {
	var t auth.Token
	var scopes, charts, created, used, revoked string
	if err := row.Scan(&t.ID, &t.OrgID, &t.Name, &t.SecretHash, &scopes, &charts, &t.CreatedBy, &created, &used, &revoked); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return t, fmt.Errorf("token %s scopes: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(charts), &t.Charts); err != nil {
		return t, fmt.Errorf("token %s charts: %w", t.ID, err)
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = parseTime(created), parseTime(used), parseTime(revoked)
	return t, nil
}

// TokenBySecretHash returns the token whose secret hashes to hash, revoked
// or not.
func (s *Store) TokenBySecretHash(ctx context.Context, hash string) (auth.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE secret_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, apperr.Errorf(apperr.Unauthorized, "unknown API token")
	}
	if err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Tokens lists the organization's tokens, newest first.
func (s *Store) Tokens(ctx context.Context, orgID string) ([]auth.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE org_id = ? ORDER BY created_at DESC, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	var out []auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TouchToken records that the token was used at t.
func (s *Store) TouchToken(ctx context.Context, id string, t time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, formatTime(t), id); err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}

// RevokeToken revokes the organization's token id; revoking twice keeps
// the first time.
func (s *Store) RevokeToken(ctx context.Context, orgID, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = CASE WHEN revoked_at = '' THEN ? ELSE revoked_at END
		WHERE org_id = ? AND id = ?`, now(), orgID, id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.NotFound, "no token %q", id)
	}
	return nil
}

// AccessVersion is a number that changes whenever roles, memberships,
// token or session revocations change, whichever process changed them.
func (s *Store) AccessVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.QueryRowContext(ctx, `SELECT v FROM access_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("access version: %w", err)
	}
	return v, nil
}

// TokenByID returns the organization's token id.
func (s *Store) TokenByID(ctx context.Context, id string) (auth.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, apperr.Errorf(apperr.Unauthorized, "the API token %s no longer exists", id)
	}
	if err != nil {
		return t, fmt.Errorf("token %s: %w", id, err)
	}
	return t, nil
}

// Members lists the organization's members by email.
func (s *Store) Members(ctx context.Context, orgID string) ([]auth.Member, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT u.id, u.email, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? ORDER BY u.email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	defer rows.Close()
	var out []auth.Member
	for rows.Next() {
		var m auth.Member
		var role string
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &role); err != nil {
			return nil, fmt.Errorf("members: %w", err)
		}
		m.Role = access.Role(role)
		out = append(out, m)
	}
	return out, rows.Err()
}

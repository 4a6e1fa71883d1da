package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ashreports/ashreports/internal/access"
)

// AuditEntry is one line of the audit log. Callers never put a secret in
// it (passwords, token secrets, session ids).
type AuditEntry struct {
	ID        int64
	OrgID     string // "" for events outside any organization (a failed login)
	At        time.Time
	ActorKind string // "user", "token", "anonymous", "cli"
	ActorID   string
	Action    string // e.g. "login", "login_failed", "role_set", "token_used", "denied"
	Target    string // what the action was on: a dashboard, chart, user or token id
	Outcome   string // "ok" or "denied"
	Detail    string // a short text: the reason of a denial, the role given
	IP        string
}

// DenialEntry is the audit entry of a denial of who doing p on target
// (a dashboard or chart id), with the reason access.Decide gave.
func DenialEntry(who access.Subject, p access.Permission, target, reason string) AuditEntry {
	return AuditEntry{OrgID: who.OrgID, ActorKind: who.Kind.String(), ActorID: who.ID, Action: "denied", Target: target, Outcome: "denied", Detail: string(p) + ": " + reason}
}

// RecordAudit appends e to the audit log; a zero At is now.
func (s *Store) RecordAudit(ctx context.Context, e AuditEntry) error {
	at := formatTime(e.At)
	if at == "" {
		at = now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (org_id, at, actor_kind, actor_id, action, target, outcome, detail, ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.OrgID, at, e.ActorKind, e.ActorID, e.Action, e.Target, e.Outcome, e.Detail, e.IP)
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	return nil
}

// AuditLog returns the organization's entries before id before (0: from
// the newest), newest first, at most limit.
func (s *Store) AuditLog(ctx context.Context, orgID string, before int64, limit int) ([]AuditEntry, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, org_id, at, actor_kind, actor_id, action, target, outcome, detail, ip
		FROM audit_log WHERE org_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, orgID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.ID, &e.OrgID, &at, &e.ActorKind, &e.ActorID, &e.Action, &e.Target, &e.Outcome, &e.Detail, &e.IP); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Change is one saved change of a dashboard's chart, from the audit log.
type Change struct {
	At      time.Time
	UserID  string
	Name    string // the user's name (or the part of their email before the @; their id if they are gone)
	ChartID string
	What    string
}

// DashboardHistory returns the saved changes of the charts of a
// dashboard, newest first, at most limit.
func (s *Store) DashboardHistory(ctx context.Context, dashboardID string, limit int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT a.at, a.actor_id, coalesce(nullif(u.name, ''), nullif(substr(u.email, 1, instr(u.email, '@') - 1), ''), a.actor_id), a.target, a.detail
		FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
		WHERE a.action = 'chart_edited' AND a.outcome = 'ok'
			AND a.org_id = (SELECT org_id FROM dashboards WHERE id = ?)
			AND a.target IN (SELECT id FROM charts WHERE dashboard_id = ?)
		ORDER BY a.id DESC LIMIT ?`, dashboardID, dashboardID, limit)
	if err != nil {
		return nil, fmt.Errorf("dashboard history: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var at string
		if err := rows.Scan(&at, &c.UserID, &c.Name, &c.ChartID, &c.What); err != nil {
			return nil, fmt.Errorf("dashboard history: %w", err)
		}
		c.At = parseTime(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

package store

import (
	"context"
	"fmt"

	"github.com/ashreports/ashreports/internal/audit"
)

// RecordAudit appends e to the audit log; a zero At is now.
func (s *Store) RecordAudit(ctx context.Context, e audit.Entry) error {
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
func (s *Store) AuditLog(ctx context.Context, orgID string, before int64, limit int) ([]audit.Entry, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, org_id, at, actor_kind, actor_id, action, target, outcome, detail, ip
		FROM audit_log WHERE org_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, orgID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at string
		if err := rows.Scan(&e.ID, &e.OrgID, &at, &e.ActorKind, &e.ActorID, &e.Action, &e.Target, &e.Outcome, &e.Detail, &e.IP); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DashboardHistory returns the saved changes of the charts of a
// dashboard, newest first, at most limit.
func (s *Store) DashboardHistory(ctx context.Context, dashboardID string, limit int) ([]audit.Change, error) {
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
	var out []audit.Change
	for rows.Next() {
		var c audit.Change
		var at string
		if err := rows.Scan(&at, &c.UserID, &c.Name, &c.ChartID, &c.What); err != nil {
			return nil, fmt.Errorf("dashboard history: %w", err)
		}
		c.At = parseTime(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

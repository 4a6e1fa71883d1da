package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// Layout returns a dashboard's layout.
func (s *Store) Layout(ctx context.Context, dashboardID string) (dashboard.Layout, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return dashboard.Layout{}, fmt.Errorf("layout %q: %w", dashboardID, err)
	}
	defer tx.Rollback()
	return layoutOf(ctx, tx, dashboardID)
}

func layoutOf(ctx context.Context, tx *sql.Tx, dashboardID string) (dashboard.Layout, error) {
	var l dashboard.Layout
	err := tx.QueryRowContext(ctx, `SELECT layout_version FROM dashboards WHERE id = ?`, dashboardID).Scan(&l.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return l, apperr.Errorf(apperr.NotFound, "no dashboard %q", dashboardID)
	}
	if err != nil {
		return l, fmt.Errorf("layout %q: %w", dashboardID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT definition FROM charts WHERE dashboard_id = ? ORDER BY position`, dashboardID)
	if err != nil {
		return l, fmt.Errorf("layout %q: %w", dashboardID, err)
	}
	defer rows.Close()
	l.Charts = []dashboard.Slot{}
	for rows.Next() {
		c, err := scanChart(rows)
		if err != nil {
			return l, err
		}
		l.Charts = append(l.Charts, dashboard.Slot{ID: c.ID, Width: c.Width, Title: c.Config.Title})
	}
	return l, rows.Err()
}

// checkLayout begins a change of a dashboard's layout that was based on
// version: a conflict if the layout moved on since.
func (s *Store) checkLayout(ctx context.Context, dashboardID string, version int) (*sql.Tx, dashboard.Layout, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, dashboard.Layout{}, fmt.Errorf("layout %q: %w", dashboardID, err)
	}
	cur, err := layoutOf(ctx, tx, dashboardID)
	if err != nil {
		tx.Rollback()
		return nil, cur, err
	}
	if cur.Version != version {
		tx.Rollback()
		return nil, cur, &apperr.Error{Code: apperr.Conflict, Field: "version",
			Message: fmt.Sprintf("the dashboard's charts were changed by someone else since you loaded it (your version %d, now %d); look at their change and make yours again", version, cur.Version)}
	}
	return tx, cur, nil
}

// SetLayout makes a dashboard's charts those of slots, in that order and
// with those widths, if its layout is still at version: charts it leaves
// out are removed (with their saved data). It returns the new version and
// the ids of the charts removed.
func (s *Store) SetLayout(ctx context.Context, dashboardID string, version int, slots []dashboard.Slot) (int, []string, error) {
	seen := map[string]bool{}
	for i, sl := range slots {
		if seen[sl.ID] {
			return 0, nil, &apperr.Error{Code: apperr.Invalid, Field: fmt.Sprintf("charts[%d].id", i), Message: fmt.Sprintf("chart %q is listed twice", sl.ID)}
		}
		seen[sl.ID] = true
		if sl.Width < 1 || sl.Width > dashboard.GridColumns {
			return 0, nil, &apperr.Error{Code: apperr.Invalid, Field: fmt.Sprintf("charts[%d].width", i), Message: fmt.Sprintf("must be between 1 and %d columns", dashboard.GridColumns)}
		}
	}
	tx, cur, err := s.checkLayout(ctx, dashboardID, version)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	var removed []string
	for _, sl := range cur.Charts {
		if !seen[sl.ID] {
			removed = append(removed, sl.ID)
		}
	}
	for i, sl := range slots {
		var def string
		err := tx.QueryRowContext(ctx, `SELECT definition FROM charts WHERE id = ? AND dashboard_id = ?`, sl.ID, dashboardID).Scan(&def)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, &apperr.Error{Code: apperr.Invalid, Field: fmt.Sprintf("charts[%d].id", i), Message: fmt.Sprintf("dashboard %q has no chart %q", dashboardID, sl.ID)}
		}
		if err != nil {
			return 0, nil, fmt.Errorf("set layout: %w", err)
		}
		var c dashboard.Chart
		if err := json.Unmarshal([]byte(def), &c); err != nil {
			return 0, nil, fmt.Errorf("decode chart definition: %w", err)
		}
		// A new width is a change of the chart's definition too, and
		// moves its version on.
		bump := 0
		if c.Width != sl.Width {
			c.Width, bump = sl.Width, 1
		}
		b, err := json.Marshal(c)
		if err != nil {
			return 0, nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE charts SET position = ?, definition = ?, version = version + ?, updated_at = ? WHERE id = ?`,
			i, string(b), bump, now(), sl.ID); err != nil {
			return 0, nil, fmt.Errorf("set layout: %w", err)
		}
	}
	for _, id := range removed {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO removed_charts (id, removed_at) VALUES (?, ?)`, id, now()); err != nil {
			return 0, nil, fmt.Errorf("set layout: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM chart_states WHERE chart_id = ?`, id); err != nil {
			return 0, nil, fmt.Errorf("set layout: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM charts WHERE id = ?`, id); err != nil {
			return 0, nil, fmt.Errorf("set layout: %w", err)
		}
	}
	return s.commitLayout(ctx, tx, dashboardID, version, removed)
}

func (s *Store) commitLayout(ctx context.Context, tx *sql.Tx, dashboardID string, version int, removed []string) (int, []string, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE dashboards SET layout_version = layout_version + 1, updated_at = ? WHERE id = ?`, now(), dashboardID); err != nil {
		return 0, nil, fmt.Errorf("layout %q: %w", dashboardID, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("layout %q: %w", dashboardID, err)
	}
	return version + 1, removed, nil
}

// AddChart adds a chart at the end of a dashboard, if its layout is still
// at version, and returns the new version. A chart id in use anywhere is
// a conflict.
func (s *Store) AddChart(ctx context.Context, dashboardID string, version int, c dashboard.Chart) (int, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	def, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	tx, cur, err := s.checkLayout(ctx, dashboardID, version)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if len(cur.Charts) >= dashboard.MaxChartsPerDash {
		return 0, &apperr.Error{Code: apperr.Invalid, Field: "charts", Message: fmt.Sprintf("a dashboard holds at most %d charts", dashboard.MaxChartsPerDash)}
	}
	if err := newChartID(ctx, tx, c.ID); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO charts (id, dashboard_id, position, definition, version, updated_at) VALUES (?, ?, ?, ?, 1, ?)`,
		c.ID, dashboardID, len(cur.Charts), string(def), now()); err != nil {
		return 0, fmt.Errorf("add chart: %w", err)
	}
	v, _, err := s.commitLayout(ctx, tx, dashboardID, version, nil)
	return v, err
}

// LastEdit returns a user's last chart edit on a dashboard that is not
// undone and is not itself an undo; NotFound when there is none.
func (s *Store) LastEdit(ctx context.Context, userID, dashboardID string) (dashboard.Edit, error) {
	var e dashboard.Edit
	var before string
	err := s.db.QueryRowContext(ctx, `SELECT h.id, h.chart_id, h.to_version, h.before FROM chart_history h
		JOIN charts c ON c.id = h.chart_id
		WHERE h.user_id = ? AND c.dashboard_id = ? AND h.undone = 0 AND h.is_undo = 0
		ORDER BY h.id DESC LIMIT 1`, userID, dashboardID).Scan(&e.ID, &e.ChartID, &e.ToVersion, &before)
	if errors.Is(err, sql.ErrNoRows) {
		return e, apperr.Errorf(apperr.NotFound, "you have no change on this dashboard to undo")
	}
	if err != nil {
		return e, fmt.Errorf("last edit: %w", err)
	}
	if err := json.Unmarshal([]byte(before), &e.Before); err != nil {
		return e, fmt.Errorf("decode chart definition: %w", err)
	}
	return e, nil
}

// Undo puts back the definition from before edit e, if nothing changed
// the chart since but the user's own undone edits and undos: a conflict
// otherwise. It returns the new version.
func (s *Store) Undo(ctx context.Context, userID string, e dashboard.Edit) (int, error) {
	var cur, own int
	err := s.db.QueryRowContext(ctx, `SELECT version,
			(SELECT count(*) FROM chart_history WHERE chart_id = ? AND to_version > ? AND user_id = ? AND (undone = 1 OR is_undo = 1))
		FROM charts WHERE id = ?`, e.ChartID, e.ToVersion, userID, e.ChartID).Scan(&cur, &own)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.Errorf(apperr.NotFound, "no chart %q", e.ChartID)
	}
	if err != nil {
		return 0, fmt.Errorf("undo: %w", err)
	}
	expect := cur
	if cur-e.ToVersion != own {
		expect = e.ToVersion // someone else's change came after: refused below
	}
	v, err := s.updateChart(ctx, e.Before, expect, userID, e.ID)
	if apperr.CodeOf(err) == apperr.Conflict {
		return 0, &apperr.Error{Code: apperr.Conflict, Field: "version", Message: "the chart was changed again after your change (a save, a resize or a saved default filter), so undoing yours would undo that too; change it back by hand"}
	}
	return v, err
}

// NewChartID reports whether id may be a new chart's: a conflict if a
// chart has it, or had it and was removed. Chart ids are the server's, so
// the message names no dashboard.
func (s *Store) NewChartID(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("chart id: %w", err)
	}
	defer tx.Rollback()
	return newChartID(ctx, tx, id)
}

func newChartID(ctx context.Context, tx *sql.Tx, id string) error {
	var used int
	err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM charts WHERE id = ?) + (SELECT count(*) FROM removed_charts WHERE id = ?)`, id, id).Scan(&used)
	if err != nil {
		return fmt.Errorf("chart id: %w", err)
	}
	if used > 0 {
		return &apperr.Error{Code: apperr.Conflict, Field: "chart.id", Message: fmt.Sprintf("chart id %q is taken (chart ids are unique on the server, and a removed chart's is not used again): choose another", id)}
	}
	return nil
}

package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the SQLite driver, registered as "sqlite"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/engine"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the metadata database.
type Store struct {
	db *sql.DB
}

// Path is where the metadata database lives in a data directory.
func Path(dataDir string) string { return filepath.Join(dataDir, "ashreports.db") }

// OpenSQLite opens (creating if needed) the SQLite database at path and
// migrates it to the latest version.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	// synchronous(NORMAL) in WAL mode: a commit survives the process's
	// death (it is in the WAL file), though not a power loss. The WAL file
	// is cut back to 64 MiB after a checkpoint.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=journal_size_limit(67108864)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open metadata db: %w", err)
	}
	// SQLite allows one writer; one connection avoids SQLITE_BUSY between
	// our own writers and keeps transactions simple.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata db %s: %w", path, err)
	}
	if err := incrementalVacuum(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		db.Close()
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate metadata db: %w", err)
	}
	return &Store{db: db}, nil
}

// incrementalVacuum makes the database give free pages back on request
// (giveBackSpace). The mode is kept in the file; a database made before it
// is rewritten once (VACUUM) to take it.
func incrementalVacuum(ctx context.Context, db *sql.DB) error {
	var mode int
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("metadata db: %w", err)
	}
	const incremental = 2
	if mode == incremental {
		return nil
	}
	if _, err := db.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return fmt.Errorf("metadata db: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("metadata db: vacuum: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// PutDashboard creates or replaces a dashboard and all its charts in one
// transaction. origin records where the definition came from ("file",
// "demo"). A chart id used by another dashboard is a conflict.
func (s *Store) PutDashboard(ctx context.Context, d dashboard.Dashboard, origin string) error {
	return s.put(ctx, origin, auth.DefaultOrg, []dashboard.Dashboard{d}, false)
}

// ProvisionDashboards makes the dashboards of origin exactly ds, in one
// transaction: it creates or replaces each of them and deletes the other
// dashboards of that origin. Charts may move between the dashboards of ds.
// A dashboard whose definition is the same as when it was last provisioned
// is left as it is, with the edits made to it since. The dashboards belong
// to organization orgID.
func (s *Store) ProvisionDashboards(ctx context.Context, origin, orgID string, ds []dashboard.Dashboard) error {
	return s.put(ctx, origin, orgID, ds, true)
}

func (s *Store) put(ctx context.Context, origin, orgID string, ds []dashboard.Dashboard, exclusive bool) error {
	var dashIDs, chartIDs []string
	hashes := make([]string, len(ds))
	for i := range ds {
		ds[i].Charts = slices.Clone(ds[i].Charts) // Validate fills defaults in; not into the caller's
		if err := ds[i].Validate(); err != nil {
			return err
		}
		b, err := json.Marshal(ds[i])
		if err != nil {
			return fmt.Errorf("encode dashboard %q: %w", ds[i].ID, err)
		}
		sum := sha256.Sum256(b)
		hashes[i] = hex.EncodeToString(sum[:])
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put dashboards: %w", err)
	}
	defer tx.Rollback()
	var kept []string // provisioned before with the same definition
	for i := range ds {
		if exclusive {
			var same bool
			err := tx.QueryRowContext(ctx, `SELECT origin = ? AND source_hash = ? AND org_id = ? FROM dashboards WHERE id = ?`,
				origin, hashes[i], orgID, ds[i].ID).Scan(&same)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("put dashboards: %w", err)
			}
			if same {
				kept = append(kept, ds[i].ID)
				continue
			}
		}
		dashIDs = append(dashIDs, ds[i].ID)
		for _, c := range ds[i].Charts {
			chartIDs = append(chartIDs, c.ID)
		}
	}
	// The dashboards whose charts are replaced: those of ds and, when
	// exclusive, every other dashboard of the origin, but those kept.
	const replaced = `SELECT value FROM json_each(?) UNION SELECT id FROM dashboards WHERE ? AND origin = ? AND id NOT IN (SELECT value FROM json_each(?))`
	args := []any{jsonIDs(dashIDs), exclusive, origin, jsonIDs(kept)}
	// A replaced chart's version goes on from the one it had, so that an
	// editor's save based on the version before is refused.
	versions := map[string]int{}
	rows, err := tx.QueryContext(ctx, `SELECT id, version FROM charts WHERE dashboard_id IN (`+replaced+`)`, args...)
	if err != nil {
		return fmt.Errorf("put dashboards: %w", err)
	}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return fmt.Errorf("put dashboards: %w", err)
		}
		versions[id] = v
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("put dashboards: %w", err)
	}
	// Charts that go away take their saved state with them.
	if _, err := tx.ExecContext(ctx, `DELETE FROM chart_states WHERE chart_id IN
		(SELECT id FROM charts WHERE dashboard_id IN (`+replaced+`))
		AND chart_id NOT IN (SELECT value FROM json_each(?))`, append(args, jsonIDs(chartIDs))...); err != nil {
		return fmt.Errorf("put dashboards: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM charts WHERE dashboard_id IN (`+replaced+`)`, args...); err != nil {
		return fmt.Errorf("put dashboards: %w", err)
	}
	if exclusive {
		if _, err := tx.ExecContext(ctx, `DELETE FROM dashboards WHERE origin = ? AND id NOT IN (SELECT value FROM json_each(?))
			AND id NOT IN (SELECT value FROM json_each(?))`,
			origin, jsonIDs(dashIDs), jsonIDs(kept)); err != nil {
			return fmt.Errorf("put dashboards: %w", err)
		}
	}
	ts := now()
	for i, d := range ds {
		if slices.Contains(kept, d.ID) {
			continue
		}
		hash := ""
		if exclusive {
			hash = hashes[i]
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dashboards (id, org_id, title, description, origin, source_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET org_id = excluded.org_id, title = excluded.title, description = excluded.description,
				origin = excluded.origin, source_hash = excluded.source_hash, updated_at = excluded.updated_at,
				layout_version = dashboards.layout_version + 1`,
			d.ID, orgID, d.Title, d.Description, origin, hash, ts, ts); err != nil {
			return fmt.Errorf("put dashboard %q: %w", d.ID, err)
		}
		for i, c := range d.Charts {
			taken := &dashboard.ChartIDTaken{Chart: c.ID, Dashboard: d.ID, Origin: origin, OrgID: orgID}
			err := tx.QueryRowContext(ctx, `SELECT c.dashboard_id, d.org_id FROM charts c JOIN dashboards d ON d.id = c.dashboard_id WHERE c.id = ?`,
				c.ID).Scan(&taken.UsedBy, &taken.UsedByOrg)
			if err == nil {
				return taken
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("put dashboard %q: %w", d.ID, err)
			}
			def, err := json.Marshal(c)
			if err != nil {
				return fmt.Errorf("encode chart %q: %w", c.ID, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO charts (id, dashboard_id, position, definition, version, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				c.ID, d.ID, i, string(def), versions[c.ID]+1, ts); err != nil {
				return fmt.Errorf("put chart %q: %w", c.ID, err)
			}
		}
	}
	return tx.Commit()
}

// Dashboards lists every dashboard by title.
func (s *Store) Dashboards(ctx context.Context) ([]dashboard.Summary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, d.org_id, d.title, d.description, count(c.id)
		FROM dashboards d LEFT JOIN charts c ON c.dashboard_id = d.id
		GROUP BY d.id ORDER BY d.title, d.id`)
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	defer rows.Close()
	var out []dashboard.Summary
	for rows.Next() {
		var s dashboard.Summary
		if err := rows.Scan(&s.ID, &s.OrgID, &s.Title, &s.Description, &s.Charts); err != nil {
			return nil, fmt.Errorf("list dashboards: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Dashboard returns a dashboard with its charts in grid order.
func (s *Store) Dashboard(ctx context.Context, id string) (dashboard.Dashboard, error) {
	d := dashboard.Dashboard{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT title, description FROM dashboards WHERE id = ?`, id).Scan(&d.Title, &d.Description)
	if errors.Is(err, sql.ErrNoRows) {
		return d, apperr.Errorf(apperr.NotFound, "no dashboard %q", id)
	}
	if err != nil {
		return d, fmt.Errorf("get dashboard %q: %w", id, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT definition FROM charts WHERE dashboard_id = ? ORDER BY position`, id)
	if err != nil {
		return d, fmt.Errorf("get dashboard %q charts: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanChart(rows)
		if err != nil {
			return d, err
		}
		d.Charts = append(d.Charts, c)
	}
	return d, rows.Err()
}

// Chart returns one chart definition.
func (s *Store) Chart(ctx context.Context, id string) (dashboard.Chart, error) {
	c, _, err := s.ChartVersion(ctx, id)
	return c, err
}

// ChartVersion returns a chart definition and its version, which each save
// moves on.
func (s *Store) ChartVersion(ctx context.Context, id string) (dashboard.Chart, int, error) {
	var def string
	var c dashboard.Chart
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT definition, version FROM charts WHERE id = ?`, id).Scan(&def, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return c, 0, apperr.Errorf(apperr.NotFound, "no chart %q", id)
	}
	if err != nil {
		return c, 0, fmt.Errorf("get chart %q: %w", id, err)
	}
	if err := json.Unmarshal([]byte(def), &c); err != nil {
		return c, 0, fmt.Errorf("decode chart definition: %w", err)
	}
	return c, v, nil
}

// UpdateChart replaces a chart's definition, if its version is still
// version, and returns the new version. A save based on another version is
// a conflict, which names the chart's current version. The definition
// before is kept for its author by, a user id, to undo (see LastEdit);
// "" keeps none.
func (s *Store) UpdateChart(ctx context.Context, c dashboard.Chart, version int, by string) (int, error) {
	return s.updateChart(ctx, c, version, by, 0)
}

func (s *Store) updateChart(ctx context.Context, c dashboard.Chart, version int, by string, undoes int64) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("update chart %q: %w", c.ID, err)
	}
	defer tx.Rollback()
	v, err := updateChartTx(ctx, tx, c, version, by, undoes)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("update chart %q: %w", c.ID, err)
	}
	return v, nil
}

// UpdateCharts saves several charts' definitions in one transaction: all,
// or none if any is refused. They are kept for no one's undo.
func (s *Store) UpdateCharts(ctx context.Context, us []dashboard.VersionedChart) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update charts: %w", err)
	}
	defer tx.Rollback()
	for _, u := range us {
		if _, err := updateChartTx(ctx, tx, u.Chart, u.Version, "", 0); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update charts: %w", err)
	}
	return nil
}

func updateChartTx(ctx context.Context, tx *sql.Tx, c dashboard.Chart, version int, by string, undoes int64) (int, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	def, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("encode chart %q: %w", c.ID, err)
	}
	var cur int
	var before string
	err = tx.QueryRowContext(ctx, `SELECT version, definition FROM charts WHERE id = ?`, c.ID).Scan(&cur, &before)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.Errorf(apperr.NotFound, "no chart %q", c.ID)
	}
	if err != nil {
		return 0, fmt.Errorf("update chart %q: %w", c.ID, err)
	}
	if cur != version {
		return 0, &apperr.Error{Code: apperr.Conflict, Field: "version",
			Message: fmt.Sprintf("the chart was changed by someone else since you opened it (your version %d, now %d); look at their change and make yours again", version, cur)}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE charts SET definition = ?, version = version + 1, updated_at = ? WHERE id = ?`,
		string(def), now(), c.ID); err != nil {
		return 0, fmt.Errorf("update chart %q: %w", c.ID, err)
	}
	if by != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO chart_history (chart_id, user_id, to_version, before, is_undo, at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.ID, by, cur+1, before, undoes != 0, now()); err != nil {
			return 0, fmt.Errorf("update chart %q: %w", c.ID, err)
		}
	}
	if undoes != 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE chart_history SET undone = 1 WHERE id = ?`, undoes); err != nil {
			return 0, fmt.Errorf("update chart %q: %w", c.ID, err)
		}
	}
	// A new width changes the dashboard's layout too.
	var old dashboard.Chart
	if err := json.Unmarshal([]byte(before), &old); err != nil {
		return 0, fmt.Errorf("decode chart definition: %w", err)
	}
	if old.Width != c.Width {
		if _, err := tx.ExecContext(ctx, `UPDATE dashboards SET layout_version = layout_version + 1
			WHERE id = (SELECT dashboard_id FROM charts WHERE id = ?)`, c.ID); err != nil {
			return 0, fmt.Errorf("update chart %q: %w", c.ID, err)
		}
	}
	return cur + 1, nil
}

func scanChart(row interface{ Scan(...any) error }) (dashboard.Chart, error) {
	var def string
	var c dashboard.Chart
	if err := row.Scan(&def); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(def), &c); err != nil {
		return c, fmt.Errorf("decode chart definition: %w", err)
	}
	return c, nil
}

func jsonIDs(ids []string) string {
	if ids == nil {
		return "[]" // not null, which json_each would give as one NULL value
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// SaveStates saves chart states, replacing earlier ones, in one
// transaction.
func (s *Store) SaveStates(ctx context.Context, states map[string]engine.SavedState) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save chart states: %w", err)
	}
	defer tx.Rollback()
	ts := now()
	for id, st := range states {
		if _, err := tx.ExecContext(ctx, `INSERT INTO chart_states (chart_id, "offset", epoch, state, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(chart_id) DO UPDATE SET "offset" = excluded."offset", epoch = excluded.epoch, state = excluded.state, updated_at = excluded.updated_at`,
			id, int64(st.Offset), st.Epoch, string(st.State), ts); err != nil {
			return fmt.Errorf("save chart state %q: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save chart states: %w", err)
	}
	return s.giveBackSpace(ctx)
}

// freePagesKept is how many free pages (4 KiB each) the database keeps
// before giving them back to the file system.
const freePagesKept = 1024

// giveBackSpace returns the database's free pages to the file system once
// there are more than freePagesKept: a chart state that shrank, or data
// replaced, does not keep the file at its largest size.
func (s *Store) giveBackSpace(ctx context.Context) error {
	var free int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
		return fmt.Errorf("free pages: %w", err)
	}
	if free <= freePagesKept {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
		return fmt.Errorf("give back free pages: %w", err)
	}
	return nil
}

// LoadState returns a chart's saved state; ok is false when there is none.
func (s *Store) LoadState(ctx context.Context, chartID string) (st engine.SavedState, ok bool, err error) {
	var off int64
	var epoch, state string
	err = s.db.QueryRowContext(ctx, `SELECT "offset", epoch, state FROM chart_states WHERE chart_id = ?`, chartID).Scan(&off, &epoch, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("load chart state %q: %w", chartID, err)
	}
	return engine.SavedState{Offset: uint64(off), Epoch: epoch, State: []byte(state)}, true, nil
}

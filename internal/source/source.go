package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/sqlparam"
)

// Defaults for queries.
const (
	DefaultTimeout = 5 * time.Second
	DefaultMaxRows = 10_000
)

// DB is a named, read-only data source.
type DB struct {
	Name    string
	db      *sql.DB
	style   int
	timeout time.Duration
	maxRows int
}

// OpenSQLite opens the SQLite database file at path read-only as a data
// source.
func OpenSQLite(name, path string) (*DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open source %q: %w", name, err)
	}
	return &DB{Name: name, db: db, style: sqlparam.Question, timeout: DefaultTimeout, maxRows: DefaultMaxRows}, nil
}

// Close closes the source's connections.
func (d *DB) Close() error { return d.db.Close() }

// Query runs query with params bound and returns the result as a table
// whose column types come from the values: numbers, strings, bools and
// times. A column with only NULLs is a string column.
func (d *DB) Query(ctx context.Context, query string, params map[string]string) (chart.Table, error) {
	q, args, err := sqlparam.Bind(query, d.style, params)
	if err != nil {
		return chart.Table{}, apperr.Errorf(apperr.Invalid, "source %q: %v", d.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return chart.Table{}, queryError(d.Name, err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return chart.Table{}, queryError(d.Name, err)
	}
	t := chart.Table{Columns: make([]chart.Column, len(names)), Rows: [][]any{}}
	for i, n := range names {
		t.Columns[i].Name = n
	}
	for rows.Next() {
		if len(t.Rows) >= d.maxRows {
			return chart.Table{}, apperr.Errorf(apperr.Invalid, "source %q: query returned more than %d rows", d.Name, d.maxRows)
		}
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return chart.Table{}, queryError(d.Name, err)
		}
		for i, v := range vals {
			vals[i], err = cell(&t.Columns[i], v)
			if err != nil {
				return chart.Table{}, apperr.Errorf(apperr.Invalid, "source %q: column %q: %v", d.Name, names[i], err)
			}
		}
		t.Rows = append(t.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return chart.Table{}, queryError(d.Name, err)
	}
	for i := range t.Columns {
		if t.Columns[i].Type == "" {
			t.Columns[i].Type = chart.String
		}
	}
	if err := t.Validate(); err != nil {
		return chart.Table{}, apperr.Errorf(apperr.Invalid, "source %q: result is not a chart table: %v", d.Name, err)
	}
	return t, nil
}

// cell converts a scanned value and fixes or checks its column's type.
func cell(col *chart.Column, v any) (any, error) {
	var typ chart.ColumnType
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		typ, v = chart.Number, float64(x)
	case float64:
		typ = chart.Number
	case bool:
		typ = chart.Bool
	case []byte:
		typ, v = chart.String, string(x)
	case string:
		typ = chart.String
	case time.Time:
		typ, v = chart.Time, x.UTC().Format(time.RFC3339Nano)
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
	switch {
	case col.Type == "":
		col.Type = typ
	case col.Type != typ:
		return nil, fmt.Errorf("mixes %s and %s values", col.Type, typ)
	}
	return v, nil
}

func queryError(name string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return apperr.Errorf(apperr.Unavailable, "source %q: query timed out", name)
	}
	// The database's message helps the dashboard's author fix the query.
	return apperr.Errorf(apperr.Invalid, "source %q: %s", name, strings.TrimSpace(err.Error()))
}

// Registry holds the configured data sources by name.
type Registry struct {
	mu  sync.RWMutex
	dbs map[string]*DB
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{dbs: map[string]*DB{}} }

// Add registers db under its name, replacing none: a second source with the
// same name is an error.
func (r *Registry) Add(db *DB) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.dbs[db.Name]; ok {
		return fmt.Errorf("data source %q is defined twice", db.Name)
	}
	r.dbs[db.Name] = db
	return nil
}

// Get returns the source named name.
func (r *Registry) Get(name string) (*DB, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	db, ok := r.dbs[name]
	if !ok {
		return nil, apperr.Errorf(apperr.NotFound, "no data source %q", name)
	}
	return db, nil
}

// Close closes every source.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, db := range r.dbs {
		errs = append(errs, db.Close())
	}
	r.dbs = map[string]*DB{}
	return errors.Join(errs...)
}

// Query runs sql on the named source.
func (r *Registry) Query(ctx context.Context, name, sql string, params map[string]string) (chart.Table, error) {
	db, err := r.Get(name)
	if err != nil {
		return chart.Table{}, err
	}
	return db.Query(ctx, sql, params)
}

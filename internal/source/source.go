package source

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/sqlparam"
	"github.com/ashreports/ashreports/internal/telemetry"
)

// Limits bound the queries of every data source. Zero fields take the
// defaults below.
type Limits struct {
	// Timeout is how long one query may run; 5s.
	Timeout time.Duration
	// MaxRows is the rows of one result; 10,000 (at most chart.MaxRows).
	MaxRows int
	// MaxColumns is the columns of one result; 64 (at most
	// chart.MaxColumns).
	MaxColumns int
	// MaxResultBytes is the bytes of one result's cells, counted as rows
	// are read (a string its length, any other value 8); 4 MiB.
	MaxResultBytes int
	// MaxValueBytes is the longest string or blob SQLite itself may make
	// while it runs a query (its SQLITE_LIMIT_LENGTH, which also bounds a
	// row it builds to sort or group); 1 MiB. SQLite refuses a longer one
	// before allocating it. A cell returned is further bounded by
	// chart.MaxStringBytes.
	MaxValueBytes int
	// MaxRunning is the queries running at once on all sources; 4.
	MaxRunning int
	// MaxRunningPerSource is the queries running at once on one source;
	// 2.
	MaxRunningPerSource int
	// QueueWait is how long a query waits for a free slot before it is
	// refused as unavailable; 2s.
	QueueWait time.Duration
}

// Defaults for Limits.
const (
	DefaultTimeout             = 5 * time.Second
	DefaultMaxRows             = 10_000
	DefaultMaxColumns          = chart.MaxColumns
	DefaultMaxResultBytes      = 4 << 20
	DefaultMaxValueBytes       = 1 << 20
	DefaultMaxRunning          = 4
	DefaultMaxRunningPerSource = 2
	DefaultQueueWait           = 2 * time.Second
)

// withDefaults fills the zero fields of l.
func (l Limits) withDefaults() Limits {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.MaxRows, DefaultMaxRows)
	set(&l.MaxColumns, DefaultMaxColumns)
	set(&l.MaxResultBytes, DefaultMaxResultBytes)
	set(&l.MaxValueBytes, DefaultMaxValueBytes)
	set(&l.MaxRunning, DefaultMaxRunning)
	set(&l.MaxRunningPerSource, DefaultMaxRunningPerSource)
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.QueueWait <= 0 {
		l.QueueWait = DefaultQueueWait
	}
	l.MaxRows = min(l.MaxRows, chart.MaxRows)
	l.MaxColumns = min(l.MaxColumns, chart.MaxColumns)
	return l
}

// Config configures a Registry.
type Config struct {
	Limits  Limits
	Metrics *telemetry.Metrics
}

// Registry holds the configured data sources by name, and the slots of
// the queries running on all of them.
type Registry struct {
	lim     Limits
	metrics *telemetry.Metrics
	slots   chan struct{} // one per query running on any source

	mu  sync.RWMutex
	dbs map[string]*DB
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg Config) *Registry {
	if cfg.Metrics == nil {
		cfg.Metrics = telemetry.Discard()
	}
	lim := cfg.Limits.withDefaults()
	return &Registry{lim: lim, metrics: cfg.Metrics, slots: make(chan struct{}, lim.MaxRunning), dbs: map[string]*DB{}}
}

// DB is a named, read-only data source.
type DB struct {
	Name  string
	db    *sql.DB
	r     *Registry
	slots chan struct{} // one per query running on this source
}

// OpenSQLite opens the SQLite database file at path read-only as the data
// source name and adds it to the registry; a second source of the same
// name is an error.
//
// Each connection is read-only twice over (mode=ro and query_only), and
// SQLite's authorizer lets a statement only read: see authorize.
func (r *Registry) OpenSQLite(name, path string) (*DB, error) {
	base, err := sqlite.NewConnector("file:" + path + "?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open source %q: %w", name, err)
	}
	db := sql.OpenDB(authorizing{base})
	db.SetMaxOpenConns(r.lim.MaxRunningPerSource)
	db.SetMaxIdleConns(r.lim.MaxRunningPerSource)
	d := &DB{Name: name, db: db, r: r, slots: make(chan struct{}, r.lim.MaxRunningPerSource)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.dbs[name]; ok {
		db.Close()
		return nil, fmt.Errorf("data source %q is defined twice", name)
	}
	r.dbs[name] = d
	return d, nil
}

// authorizing installs authorize on every connection it opens, before
// the connection runs any query.
type authorizing struct{ driver.Connector }

func (a authorizing) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := a.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ar, ok := c.(sqlite.AuthorizerRegisterer)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("sqlite connection %T has no authorizer", c)
	}
	if err := ar.RegisterAuthorizer(authorize); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// deniedFunctions are SQL functions that reach past the data source:
// files, extensions, the process's terminal.
var deniedFunctions = map[string]bool{"load_extension": true, "readfile": true, "writefile": true, "edit": true, "fts3_tokenizer": true}

// schemaPragmas are the pragmas a query may read, as table functions
// (pragma_table_info('t')): they describe the source's tables and have
// no form that changes anything.
var schemaPragmas = map[string]bool{"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true, "index_xinfo": true, "foreign_key_list": true}

// authorize is SQLite's authorizer of a data source's statements: they
// may read tables, call functions other than deniedFunctions, read
// schemaPragmas and recurse (WITH RECURSIVE), nothing else. So ATTACH,
// DETACH, other pragmas, writes, transactions and schema changes fail to
// compile ("not authorized"), whatever text got them past package
// sqlparam.
func authorize(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch {
	case action == sqlite.AuthSelect, action == sqlite.AuthRead, action == sqlite.AuthRecursive,
		action == sqlite.AuthFunction && !deniedFunctions[strings.ToLower(arg2)],
		action == sqlite.AuthPragma && schemaPragmas[strings.ToLower(arg1)]:
		return sqlite.AuthorizerOK
	}
	return sqlite.AuthorizerDeny
}

// Close closes the source's connections.
func (d *DB) Close() error { return d.db.Close() }

// Query runs query with params bound and returns the result as a table
// whose column types come from the values: numbers, strings, bools and
// times. A column with only NULLs is a string column.
func (d *DB) Query(ctx context.Context, query string, params map[string]string) (chart.Table, error) {
	q, args, err := sqlparam.Bind(query, sqlparam.Question, params)
	if err != nil {
		return chart.Table{}, apperr.Errorf(apperr.Invalid, "source %q: %v", d.Name, err)
	}
	return d.run(ctx, q, args)
}

// run runs q, a statement with positional arguments, within the limits.
func (d *DB) run(ctx context.Context, q string, args []any) (chart.Table, error) {
	release, err := d.acquire(ctx)
	if err != nil {
		return chart.Table{}, err
	}
	defer release()
	lim := d.r.lim
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return chart.Table{}, d.queryError(err)
	}
	defer conn.Close()
	// Per connection, and cheap: set at each query rather than tracked.
	for _, l := range [][2]int{{sqlite3.SQLITE_LIMIT_LENGTH, lim.MaxValueBytes}, {sqlite3.SQLITE_LIMIT_ATTACHED, 0}} {
		if _, err := sqlite.Limit(conn, l[0], l[1]); err != nil {
			return chart.Table{}, fmt.Errorf("source %q: set limit: %w", d.Name, err)
		}
	}
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return chart.Table{}, d.queryError(err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return chart.Table{}, d.queryError(err)
	}
	if len(names) > lim.MaxColumns {
		return chart.Table{}, d.refuse("columns", "query returned %d columns, more than the limit of %d", len(names), lim.MaxColumns)
	}
	t := chart.Table{Columns: make([]chart.Column, len(names)), Rows: [][]any{}}
	for i, n := range names {
		t.Columns[i].Name = n
	}
	size := 0
	for rows.Next() {
		if len(t.Rows) >= lim.MaxRows {
			return chart.Table{}, d.refuse("rows", "query returned more than %d rows, the limit", lim.MaxRows)
		}
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return chart.Table{}, d.queryError(err)
		}
		for i, v := range vals {
			n := cellBytes(v)
			if n > chart.MaxStringBytes {
				return chart.Table{}, d.refuse("cell", "column %q: a value of %d bytes is larger than the cell limit of %d bytes", names[i], n, chart.MaxStringBytes)
			}
			size += n
			vals[i], err = cell(&t.Columns[i], v)
			if err != nil {
				return chart.Table{}, apperr.Errorf(apperr.Invalid, "source %q: column %q: %v", d.Name, names[i], err)
			}
		}
		if size > lim.MaxResultBytes {
			return chart.Table{}, d.refuse("bytes", "query returned more than %d bytes, the limit", lim.MaxResultBytes)
		}
		t.Rows = append(t.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return chart.Table{}, d.queryError(err)
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

// acquire takes a slot of the source, then one of the registry, waiting
// up to QueueWait for both. Every query takes them in that order, and a
// holder of the registry's slot waits for nothing, so no two queries wait
// on each other.
func (d *DB) acquire(ctx context.Context) (release func(), err error) {
	wait := time.NewTimer(d.r.lim.QueueWait)
	defer wait.Stop()
	take := func(slots chan struct{}) error {
		select {
		case slots <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-wait.C:
			return d.refuse("running", "too many queries are running (at most %d on this source, %d in all); try again in a moment", d.r.lim.MaxRunningPerSource, d.r.lim.MaxRunning)
		}
	}
	if err := take(d.slots); err != nil {
		return nil, err
	}
	if err := take(d.r.slots); err != nil {
		<-d.slots
		return nil, err
	}
	d.r.metrics.QueriesRunning.Inc()
	return func() {
		d.r.metrics.QueriesRunning.Dec()
		<-d.r.slots
		<-d.slots
	}, nil
}

// refuse counts a refusal by the limit it names and returns its error:
// unavailable for a query that found no slot, too_large for a result.
func (d *DB) refuse(limit, format string, args ...any) error {
	d.r.metrics.QueryRefusals.WithLabelValues(limit).Inc()
	code := apperr.TooLarge
	if limit == "running" {
		code = apperr.Unavailable
	}
	return apperr.Errorf(code, "source %q: %s", d.Name, fmt.Sprintf(format, args...))
}

// cellBytes is what a scanned value counts toward MaxResultBytes.
func cellBytes(v any) int {
	switch x := v.(type) {
	case []byte:
		return len(x)
	case string:
		return len(x)
	case nil:
		return 0
	}
	return 8
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

func (d *DB) queryError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		d.r.metrics.QueryRefusals.WithLabelValues("timeout").Inc()
		return apperr.Errorf(apperr.Unavailable, "source %q: query timed out after %s", d.Name, d.r.lim.Timeout)
	}
	// SQLite's authorizer refuses a statement with SQLITE_AUTH, or a
	// function with SQLITE_ERROR and "not authorized to use function".
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		switch code := se.Code() & 0xff; {
		case code == sqlite3.SQLITE_TOOBIG:
			return d.refuse("value", "a value is larger than the limit of %d bytes", d.r.lim.MaxValueBytes)
		case code == sqlite3.SQLITE_AUTH, code == sqlite3.SQLITE_ERROR && strings.Contains(se.Error(), "not authorized"):
			d.r.metrics.QueryRefusals.WithLabelValues("denied").Inc()
			return apperr.Errorf(apperr.Invalid, "source %q: a chart query may only read (SELECT, WITH or VALUES): %s", d.Name, strings.TrimSpace(err.Error()))
		}
	}
	// The database's message helps the dashboard's author fix the query.
	return apperr.Errorf(apperr.Invalid, "source %q: %s", d.Name, strings.TrimSpace(err.Error()))
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

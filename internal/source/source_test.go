package source

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite" // the package relies on its user to register "sqlite"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/apperr/apperrtest"
)

// salesSchema is the data source most tests read.
var salesSchema = []string{
	`CREATE TABLE sales (
		id     INTEGER PRIMARY KEY,
		region TEXT NOT NULL,
		amount REAL NOT NULL,
		qty    INTEGER NOT NULL,
		note   TEXT,
		day    DATETIME
	)`,
	`INSERT INTO sales VALUES
		(1, 'North', 10.5, 3, NULL, '2024-01-02 03:04:05'),
		(2, 'South', 20.0, 5, NULL, '2024-01-03 00:00:00'),
		(3, 'North', 7.25, 1, NULL, NULL)`,
	`CREATE TABLE labels (name TEXT NOT NULL)`,
	`INSERT INTO labels VALUES ('plain'), (''' OR 1=1 --')`,
}

// createDB creates a SQLite file in a temporary directory, runs stmts on it
// through a writable connection and returns its path.
func createDB(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return path
}

// openSource opens path as the data source "sales" of a registry with
// the default limits, closed when the test ends.
func openSource(t *testing.T, path string) *DB {
	t.Helper()
	return openLimited(t, path, Limits{})
}

// openLimited is openSource with limits.
func openLimited(t *testing.T, path string, lim Limits) *DB {
	t.Helper()
	r := NewRegistry(Config{Limits: lim})
	db, err := r.OpenSQLite("sales", path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return db
}

// dump returns every row of table, read through a separate connection, one
// string per row.
func dump(t *testing.T, path, table string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY rowid`)
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v", vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestQueryColumnTypes(t *testing.T) {
	db := openSource(t, createDB(t, salesSchema...))
	tests := []struct {
		name  string
		query string
		want  chart.Table
	}{
		{
			name:  "integer and real columns are numbers as float64, text is string",
			query: `SELECT region, amount, qty FROM sales ORDER BY id`,
			want: chart.Table{
				Columns: []chart.Column{{Name: "region", Type: chart.String}, {Name: "amount", Type: chart.Number}, {Name: "qty", Type: chart.Number}},
				Rows:    [][]any{{"North", 10.5, 3.0}, {"South", 20.0, 5.0}, {"North", 7.25, 1.0}},
			},
		},
		{
			name:  "a column of only NULLs is a string column",
			query: `SELECT note FROM sales ORDER BY id`,
			want: chart.Table{
				Columns: []chart.Column{{Name: "note", Type: chart.String}},
				Rows:    [][]any{{nil}, {nil}, {nil}},
			},
		},
		{
			name:  "NULL then a number is a number column",
			query: `SELECT NULL AS v UNION ALL SELECT 4`,
			want: chart.Table{
				Columns: []chart.Column{{Name: "v", Type: chart.Number}},
				Rows:    [][]any{{nil}, {4.0}},
			},
		},
		{
			name:  "integers and reals mix in a number column",
			query: `SELECT 1 AS v UNION ALL SELECT 2.5`,
			want: chart.Table{
				Columns: []chart.Column{{Name: "v", Type: chart.Number}},
				Rows:    [][]any{{1.0}, {2.5}},
			},
		},
		{
			name:  "a blob is a string",
			query: `SELECT x'6869' AS b`,
			want: chart.Table{
				Columns: []chart.Column{{Name: "b", Type: chart.String}},
				Rows:    [][]any{{"hi"}},
			},
		},
		{
			name:  "a DATETIME column is a time column in RFC 3339",
			query: `SELECT day FROM sales ORDER BY id`,
			want: chart.Table{
				Columns: []chart.Column{{Name: "day", Type: chart.Time}},
				Rows:    [][]any{{"2024-01-02T03:04:05Z"}, {"2024-01-03T00:00:00Z"}, {nil}},
			},
		},
		{
			name:  "an empty result has typed columns and an empty, non-nil row list",
			query: `SELECT region, qty FROM sales WHERE 0`,
			want: chart.Table{
				Columns: []chart.Column{{Name: "region", Type: chart.String}, {Name: "qty", Type: chart.String}},
				Rows:    [][]any{},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Query(context.Background(), tt.query, nil)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("table (-want +got):\n%s", d)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	db := openSource(t, createDB(t, salesSchema...))
	tests := []struct {
		name   string
		query  string
		params map[string]string
		subs   []string
	}{
		{
			name:  "mixed value types in a column",
			query: `SELECT qty AS v FROM sales UNION ALL SELECT region FROM sales`,
			subs:  []string{`source "sales"`, `column "v"`, "mixes number and string values"},
		},
		{
			name:  "unknown column: the database's message reaches the caller",
			query: `SELECT nope FROM sales`,
			subs:  []string{`source "sales"`, "no such column: nope"},
		},
		{
			name:  "syntax error",
			query: `SELECT region FROM sales WHERE`,
			subs:  []string{`source "sales"`, `incomplete input`},
		},
		{
			name:  "not a query",
			query: `DELETE FROM sales`,
			subs:  []string{`source "sales"`, `must start with SELECT, WITH or VALUES, not "DELETE"`},
		},
		{
			name:  "second statement",
			query: "SELECT 1 AS x; -- fine\n PRAGMA query_only = 0",
			subs:  []string{`source "sales"`, "only one SQL statement"},
		},
		{
			name:  "unknown table",
			query: `SELECT x FROM missing`,
			subs:  []string{"no such table: missing"},
		},
		{
			name:   "undeclared parameter",
			query:  `SELECT region FROM sales WHERE region = :region`,
			params: map[string]string{"other": "x"},
			subs:   []string{`source "sales"`, ":region is not declared"},
		},
		{
			name:  "unterminated literal",
			query: `SELECT 'x AS s`,
			subs:  []string{"unterminated quote"},
		},
		{
			name:  "a column name a chart table cannot hold",
			query: `SELECT count(*) FROM sales`,
			subs:  []string{"result is not a chart table", "count(*)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Query(context.Background(), tt.query, tt.params)
			if err == nil {
				t.Fatalf("Query(%q) = %+v, want an error", tt.query, got)
			}
			apperrtest.Want(t, err, apperr.Invalid, tt.subs...)
			if d := cmp.Diff(chart.Table{}, got); d != "" {
				t.Errorf("Query returned a table with its error:\n%s", d)
			}
		})
	}
}

func TestQueryBindsFilterValuesAsData(t *testing.T) {
	db := openSource(t, createDB(t, salesSchema...))
	ctx := context.Background()
	const injection = "' OR 1=1 --"
	tests := []struct {
		name   string
		query  string
		params map[string]string
		want   [][]any
	}{
		{
			name:   "a plain value selects its rows",
			query:  `SELECT id FROM sales WHERE region = :region ORDER BY id`,
			params: map[string]string{"region": "North"},
			want:   [][]any{{1.0}, {3.0}},
		},
		{
			name:   "an injection attempt matches nothing",
			query:  `SELECT id FROM sales WHERE region = :region ORDER BY id`,
			params: map[string]string{"region": injection},
			want:   [][]any{},
		},
		{
			name:   "an injection attempt in a comparison built by concatenation matches nothing",
			query:  `SELECT id FROM sales WHERE region = '' || :region ORDER BY id`,
			params: map[string]string{"region": injection},
			want:   [][]any{},
		},
		{
			name:   "the injection text is found as a value",
			query:  `SELECT name FROM labels WHERE name = :name`,
			params: map[string]string{"name": injection},
			want:   [][]any{{injection}},
		},
		{
			name:   "a repeated parameter gets its value at every use",
			query:  `SELECT id FROM sales WHERE region = :region AND :region <> '' ORDER BY id`,
			params: map[string]string{"region": "South"},
			want:   [][]any{{2.0}},
		},
		{
			name:   "a parameter-like text in a literal is not bound",
			query:  `SELECT ':region' AS s`,
			params: map[string]string{"region": "South"},
			want:   [][]any{{":region"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Query(ctx, tt.query, tt.params)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if d := cmp.Diff(tt.want, got.Rows); d != "" {
				t.Errorf("rows (-want +got):\n%s", d)
			}
		})
	}
}

func TestQueryRowLimit(t *testing.T) {
	db := openLimited(t, createDB(t, salesSchema...), Limits{MaxRows: 2})
	ctx := context.Background()

	got, err := db.Query(ctx, `SELECT id FROM sales WHERE id <= 2 ORDER BY id`, nil)
	if err != nil {
		t.Fatalf("exactly maxRows rows: %v", err)
	}
	if d := cmp.Diff([][]any{{1.0}, {2.0}}, got.Rows); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}

	got, err = db.Query(ctx, `SELECT id FROM sales ORDER BY id`, nil)
	if err == nil {
		t.Fatalf("maxRows+1 rows: got %d rows, want an error", len(got.Rows))
	}
	apperrtest.Want(t, err, apperr.TooLarge, `source "sales"`, "more than 2 rows")
}

func TestQueryIsReadOnly(t *testing.T) {
	path := createDB(t, salesSchema...)
	db := openSource(t, path)
	before := dump(t, path, "sales")
	if len(before) != 3 {
		t.Fatalf("fixture has %d rows, want 3", len(before))
	}
	tests := []struct {
		name  string
		query string
	}{
		{"insert", `INSERT INTO sales (region, amount, qty) VALUES ('East', 1, 1)`},
		{"insert returning", `INSERT INTO sales (region, amount, qty) VALUES ('East', 1, 1) RETURNING id`},
		{"update", `UPDATE sales SET amount = 0`},
		{"delete", `DELETE FROM sales`},
		{"drop table", `DROP TABLE sales`},
		{"create table", `CREATE TABLE extra (x INTEGER)`},
		{"create table as select", `CREATE TABLE extra AS SELECT * FROM sales`},
		{"write after a select in one query", `SELECT 1 AS x; DELETE FROM sales`},
		{"write before a select in one query", `DELETE FROM sales; SELECT 1 AS x`},
		{"turning query_only off does not make the file writable", `PRAGMA query_only = 0; DELETE FROM sales; SELECT 1 AS x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Query(context.Background(), tt.query, nil)
			if err == nil {
				t.Fatalf("Query(%q) = %+v, want an error", tt.query, got)
			}
			apperrtest.Want(t, err, apperr.Invalid, `source "sales"`)
		})
	}
	if d := cmp.Diff(before, dump(t, path, "sales")); d != "" {
		t.Errorf("data changed through a read-only source (-before +after):\n%s", d)
	}
	tables := dump(t, path, "sqlite_master")
	for _, row := range tables {
		if strings.Contains(row, "extra") {
			t.Errorf("a table was created through a read-only source: %s", row)
		}
	}
}

// TestQueryCannotWriteThroughAttach checks that a query cannot reach a
// writable database by attaching one, which would bypass the read-only mode
// of the source's own connection.
func TestQueryCannotWriteThroughAttach(t *testing.T) {
	path := createDB(t, salesSchema...)
	db := openSource(t, path)
	before := dump(t, path, "sales")
	created := filepath.Join(t.TempDir(), "created.db")
	for _, q := range []string{
		`PRAGMA query_only = 0; ATTACH DATABASE 'file:` + path + `?mode=rw' AS w; INSERT INTO w.sales (region, amount, qty) VALUES ('East', 1, 1); SELECT 1 AS x`,
		`ATTACH DATABASE 'file:` + created + `?mode=rwc' AS c`,
	} {
		_, _ = db.Query(context.Background(), q, nil)
	}
	if d := cmp.Diff(before, dump(t, path, "sales")); d != "" {
		t.Errorf("data changed through a read-only source (-before +after):\n%s", d)
	}
	if _, err := os.Stat(created); err == nil {
		t.Errorf("a query created the file %s", created)
	}
}

func TestQueryTimeout(t *testing.T) {
	db := openLimited(t, createDB(t, `CREATE TABLE empty (x INTEGER)`), Limits{Timeout: 50 * time.Millisecond})
	// A query that never ends, so that only the timeout stops it.
	_, err := db.Query(context.Background(), `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c`, nil)
	apperrtest.Want(t, err, apperr.Unavailable, `source "sales"`, "timed out")
}

func TestRegistry(t *testing.T) {
	path := createDB(t, salesSchema...)
	ctx := context.Background()
	r := NewRegistry(Config{})
	t.Cleanup(func() { r.Close() })

	sales, err := r.OpenSQLite("sales", path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	_, err = r.OpenSQLite("sales", path)
	if err == nil || !strings.Contains(err.Error(), `"sales" is defined twice`) {
		t.Fatalf("OpenSQLite of a second source named sales: %v, want a duplicate error naming it", err)
	}
	if got, err := r.Get("sales"); err != nil || got != sales {
		t.Fatalf("Get(sales) = %p, %v; want the first source %p", got, err, sales)
	}

	t.Run("query a known source", func(t *testing.T) {
		got, err := r.Query(ctx, "sales", `SELECT count(*) AS n FROM sales WHERE region = :r`, map[string]string{"r": "North"})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([][]any{{2.0}}, got.Rows); d != "" {
			t.Errorf("rows (-want +got):\n%s", d)
		}
	})
	t.Run("unknown source", func(t *testing.T) {
		_, err := r.Get("nope")
		apperrtest.Want(t, err, apperr.NotFound, `"nope"`)
		_, err = r.Query(ctx, "nope", `SELECT 1 AS x`, nil)
		apperrtest.Want(t, err, apperr.NotFound, `"nope"`)
	})
	t.Run("close closes and forgets every source", func(t *testing.T) {
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, err := r.Get("sales")
		apperrtest.Want(t, err, apperr.NotFound)
		if _, err := sales.Query(ctx, `SELECT 1 AS x`, nil); err == nil {
			t.Error("a closed source still answers queries")
		}
	})
}

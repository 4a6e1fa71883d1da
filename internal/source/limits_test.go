package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/apperr/apperrtest"
	"github.com/ashreports/ashreports/internal/telemetry"
	"github.com/ashreports/ashreports/internal/wait"
)

// forever is a query that runs until its context ends.
const forever = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c`

// TestQueryResultLimits checks each bound of a result, as its rows are
// read: a result past one is refused with too_large naming the limit,
// and counted.
func TestQueryResultLimits(t *testing.T) {
	path := createDB(t, salesSchema...)
	tests := []struct {
		name, limit, query string
		lim                Limits
		want               string
	}{
		// zeroblob makes no bytes until it is read: SQLite refuses it
		// before it allocates them.
		{"a huge blob", "value", `SELECT zeroblob(999000000) AS a, 1 AS b`, Limits{}, "larger than the limit of 1048576 bytes"},
		{"a huge string", "value", `SELECT length(printf('%.*c', 2000000, 'x')) AS a`, Limits{}, "larger than the limit of 1048576 bytes"},
		{"a value past a lower limit", "value", `SELECT length(zeroblob(2000)) AS a`, Limits{MaxValueBytes: 1000}, "larger than the limit of 1000 bytes"},
		{"a cell past 4 KiB", "cell", `SELECT 1 AS n, printf('%.5000c', 'x') AS a`, Limits{}, `column "a": a value of 5000 bytes is larger than the cell limit of 4096 bytes`},
		{"too many columns", "columns", `SELECT 1 AS a, 2 AS b, 3 AS c`, Limits{MaxColumns: 2}, "3 columns, more than the limit of 2"},
		{"too many rows", "rows", `SELECT id FROM sales`, Limits{MaxRows: 2}, "more than 2 rows"},
		{"too many bytes", "bytes", `SELECT printf('%.40c', 'x') AS a FROM sales`, Limits{MaxResultBytes: 100}, "more than 100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := telemetry.Discard()
			r := NewRegistry(Config{Limits: tt.lim, Metrics: m})
			t.Cleanup(func() { r.Close() })
			if _, err := r.OpenSQLite("sales", path); err != nil {
				t.Fatal(err)
			}
			got, err := r.Query(context.Background(), "sales", tt.query, nil)
			if err == nil {
				t.Fatalf("got %d rows, want a refusal", len(got.Rows))
			}
			apperrtest.Want(t, err, apperr.TooLarge, `source "sales"`, tt.want)
			if n := testutil.ToFloat64(m.QueryRefusals.WithLabelValues(tt.limit)); n != 1 {
				t.Errorf("refusals{limit=%q} = %v, want 1", tt.limit, n)
			}
		})
	}
	// At the limits, a result is whole.
	db := openLimited(t, path, Limits{MaxRows: 3, MaxColumns: 2, MaxResultBytes: 3 * (40 + 8)})
	got, err := db.Query(context.Background(), `SELECT printf('%.40c', 'x') AS a, id FROM sales`, nil)
	if err != nil || len(got.Rows) != 3 {
		t.Fatalf("a result at every limit: %d rows, %v", len(got.Rows), err)
	}
}

// TestQuerySlots checks the caps on queries running at once: a query
// waits for a slot of its source and one of the server, and past
// QueueWait is refused as unavailable; a query whose context ends stops
// running in SQLite and gives its slot back.
func TestQuerySlots(t *testing.T) {
	path := createDB(t, salesSchema...)
	m := telemetry.Discard()
	r := NewRegistry(Config{Limits: Limits{MaxRunning: 2, MaxRunningPerSource: 1, QueueWait: 10 * time.Millisecond, Timeout: time.Hour}, Metrics: m})
	t.Cleanup(func() { r.Close() })
	for _, name := range []string{"a", "b", "c"} {
		if _, err := r.OpenSQLite(name, path); err != nil {
			t.Fatal(err)
		}
	}
	running := func(want float64) {
		t.Helper()
		wait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
			if n := testutil.ToFloat64(m.QueriesRunning); n != want {
				return fmt.Errorf("%v queries running, want %v", n, want)
			}
			return nil
		})
	}
	// hold runs a query that never ends on source until stop is called.
	hold := func(source string) (stop func() error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := r.Query(ctx, source, forever, nil)
			done <- err
		}()
		return func() error { cancel(); return <-done }
	}
	ctx := context.Background()

	stopA := hold("a")
	running(1)
	_, err := r.Query(ctx, "a", `SELECT 1 AS x`, nil)
	apperrtest.Want(t, err, apperr.Unavailable, `source "a"`, "too many queries are running (at most 1 on this source, 2 in all)")
	if _, err := r.Query(ctx, "b", `SELECT 1 AS x`, nil); err != nil {
		t.Fatalf("another source, while a's slot is taken: %v", err)
	}
	stopB := hold("b")
	running(2)
	_, err = r.Query(ctx, "c", `SELECT 1 AS x`, nil)
	apperrtest.Want(t, err, apperr.Unavailable, `source "c"`, "2 in all")
	if n := testutil.ToFloat64(m.QueryRefusals.WithLabelValues("running")); n != 2 {
		t.Errorf("refusals{limit=running} = %v, want 2", n)
	}

	// Canceling interrupts SQLite: the query returns, and its slot is free.
	if err := stopA(); !errors.Is(err, context.Canceled) && apperr.CodeOf(err) != apperr.Invalid {
		t.Errorf("canceled query: %v", err)
	}
	running(1)
	if _, err := r.Query(ctx, "a", `SELECT 1 AS x`, nil); err != nil {
		t.Fatalf("a, after its query stopped: %v", err)
	}
	stopB()
	running(0)
}

// TestQueryWaitsForASlot: a query queued behind another runs when the
// other ends, within QueueWait.
func TestQueryWaitsForASlot(t *testing.T) {
	path := createDB(t, salesSchema...)
	m := telemetry.Discard()
	r := NewRegistry(Config{Limits: Limits{MaxRunningPerSource: 1, QueueWait: time.Hour}, Metrics: m})
	t.Cleanup(func() { r.Close() })
	if _, err := r.OpenSQLite("a", path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := r.Query(ctx, "a", forever, nil); first <- err }()
	wait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if testutil.ToFloat64(m.QueriesRunning) != 1 {
			return errors.New("the first query is not running")
		}
		return nil
	})
	second := make(chan error, 1)
	go func() { _, err := r.Query(context.Background(), "a", `SELECT 1 AS x`, nil); second <- err }()
	cancel()
	<-first
	if err := <-second; err != nil {
		t.Fatalf("the queued query: %v", err)
	}
}

// TestQueryOnlyReads runs statements on a real source's connection past
// package sqlparam, as a flaw in its check would let them through: the
// authorizer refuses each, so no query reaches another database file
// (the metadata database), writes, or loads code.
func TestQueryOnlyReads(t *testing.T) {
	path := createDB(t, salesSchema...)
	db := openSource(t, path)
	meta := createDB(t, `CREATE TABLE users (email TEXT)`, `INSERT INTO users VALUES ('admin@example.com')`)
	copyTo := filepath.Join(t.TempDir(), "copy.db")
	before := dump(t, path, "sales")
	for _, q := range []string{
		`ATTACH DATABASE '` + meta + `' AS m`,
		`ATTACH DATABASE 'file:` + meta + `?mode=ro' AS m`,
		`DETACH DATABASE main`,
		`PRAGMA query_only = 0`,
		`PRAGMA writable_schema = 1`,
		`PRAGMA journal_mode = delete`,
		`VACUUM INTO '` + copyTo + `'`,
		`SELECT load_extension('/tmp/x.so') AS x`,
		`SELECT readfile('` + meta + `') AS x`,
		`WITH x AS (SELECT 1) DELETE FROM sales`,
		`CREATE TEMP TABLE t AS SELECT 1 AS x`,
		`BEGIN IMMEDIATE`,
	} {
		t.Run(q, func(t *testing.T) {
			got, err := db.run(context.Background(), q, nil)
			if err == nil {
				t.Fatalf("run(%q) = %+v, want a refusal", q, got)
			}
			apperrtest.Want(t, err, apperr.Invalid, `source "sales"`)
		})
	}
	t.Run("named refusals", func(t *testing.T) {
		for _, q := range []string{`ATTACH DATABASE '` + meta + `' AS m`, `PRAGMA query_only = 0`, `DETACH DATABASE main`, `SELECT load_extension('/tmp/x.so') AS x`, `VACUUM INTO '` + copyTo + `'`, `WITH x AS (SELECT 1) DELETE FROM sales`} {
			_, err := db.run(context.Background(), q, nil)
			apperrtest.Want(t, err, apperr.Invalid, "a chart query may only read")
		}
	})
	if _, err := os.Stat(copyTo); err == nil {
		t.Errorf("VACUUM INTO wrote %s", copyTo)
	}
	if d := dump(t, path, "sales"); len(d) != len(before) {
		t.Errorf("the source changed: %d rows, want %d", len(d), len(before))
	}
	// What a chart does still works: reading, functions, recursion and
	// pragma table functions.
	if _, err := db.run(context.Background(), `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT upper(region) AS r, (SELECT count(*) FROM c) AS n, (SELECT count(*) FROM pragma_table_info('sales')) AS cols FROM sales`, nil); err != nil {
		t.Errorf("a read: %v", err)
	}
}

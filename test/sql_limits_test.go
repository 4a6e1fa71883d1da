package test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/store"
)

// previewSQL sends a preview of the chart product-performance with sql as
// its query, and returns the status and the error of the reply.
func previewSQL(t *testing.T, s *testServer, a actor, sql string) (int, apiError) {
	t.Helper()
	def, v := definition(t, s, a, "product-performance")
	def.Query.SQL, def.Query.Params = sql, nil
	status, b := a.send(t, "POST", s.URL+"/api/v1/charts/product-performance/preview", editJSON(t, def, v))
	var e apiError
	_ = json.Unmarshal(b, &e)
	return status, e
}

// TestPreviewOfAHugeValue: an editor's preview of a query making a
// 999 MB blob is refused with too_large naming the limit, and the
// process's peak memory (the server runs in it) grows by less than 64 MiB:
// SQLite refuses the blob before making it.
func TestPreviewOfAHugeValue(t *testing.T) {
	s := startServer(t)
	ed := editor(t, s)
	definition(t, s, ed, "product-performance") // warm up what a preview uses
	resetPeakMemory(t)
	before := procMemory(t, "self", "VmRSS")
	status, e := previewSQL(t, s, ed, `SELECT zeroblob(999000000) AS a, 1 AS b`)
	grew := procMemory(t, "self", "VmHWM") - before
	if status != http.StatusRequestEntityTooLarge || e.Error.Code != "too_large" || !strings.Contains(e.Error.Message, "larger than the limit of 1048576 bytes") {
		t.Errorf("preview of a 999 MB blob: %d %+v, want 413 too_large naming the 1 MiB value limit", status, e)
	}
	const ceiling = 64 << 20
	if grew > ceiling {
		t.Errorf("the peak resident size grew by %d MiB during the preview, more than %d MiB", grew>>20, ceiling>>20)
	}
}

// TestConcurrentSlowPreviews: 40 previews of a query that never ends, at
// once: the queries running are capped (2 on the demo source), those that
// find no slot within the queue wait are refused with 503 unavailable,
// and a signed-in user is answered meanwhile.
func TestConcurrentSlowPreviews(t *testing.T) {
	s := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemoGenerator: true, DemoOrg: auth.DefaultOrg,
		Queries: ashreports.QueryLimits{Timeout: 3 * time.Second, QueueWait: 100 * time.Millisecond}}).start(t)
	ed := editor(t, s)
	def, v := definition(t, s, ed, "product-performance")
	def.Query.SQL = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 'p' AS product, count(*) AS total FROM c`
	def.Query.Params = nil
	body := editJSON(t, def, v)

	const n = 40
	type result struct {
		status int
		e      apiError
		err    error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, err := http.NewRequest("POST", s.URL+"/api/v1/charts/product-performance/preview", strings.NewReader(body))
			if err != nil {
				results <- result{err: err}
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", ed.csrf)
			resp, err := ed.c.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var e apiError
			_ = json.NewDecoder(resp.Body).Decode(&e)
			results <- result{status: resp.StatusCode, e: e}
		})
	}
	// Once one is refused, the slots are taken: a signed-in user is
	// still answered.
	first := <-results
	if status, b := ed.send(t, "GET", s.URL+"/api/v1/dashboards/sales-analytics", ""); status != http.StatusOK {
		t.Errorf("a signed-in user's request during the previews: %d %s", status, b)
	}
	wg.Wait()
	close(results)
	all := []result{first}
	for r := range results {
		all = append(all, r)
	}
	refused, timedOut := 0, 0
	for _, r := range all {
		switch {
		case r.err != nil:
			t.Errorf("preview: %v", r.err)
		case r.status != http.StatusServiceUnavailable || r.e.Error.Code != "unavailable":
			t.Errorf("preview: %d %+v, want 503 unavailable", r.status, r.e)
		case strings.Contains(r.e.Error.Message, "too many queries are running (at most 2 on this source, 4 in all)"):
			refused++
		case strings.Contains(r.e.Error.Message, "timed out"):
			timedOut++
		default:
			t.Errorf("preview: %+v, want a refusal or a timeout", r.e)
		}
	}
	// Previews a slot freed up for may run; most find none.
	if refused < n/2 || refused+timedOut != n {
		t.Errorf("%d previews refused for want of a slot and %d timed out, want at least %d refused of %d", refused, timedOut, n/2, n)
	}
}

// TestPreviewOnlyReads: what could reach past the data source (the
// metadata database through ATTACH, a pragma, an extension, a write
// behind WITH, SQLite's own parameters hiding a second statement) is
// refused as invalid, on the real demo source.
func TestPreviewOnlyReads(t *testing.T) {
	s := startServer(t)
	ed := editor(t, s)
	meta := store.Path(s.DataDir)
	for _, tt := range []struct{ sql, want string }{
		{`ATTACH DATABASE '` + meta + `' AS m`, "must start with SELECT, WITH or VALUES"},
		{`SELECT $a(') ; ATTACH DATABASE '` + meta + `' AS m; SELECT (')`, "SQLite's own parameter syntax"},
		{`SELECT :a(;) ; PRAGMA query_only = 0`, "SQLite's own parameter syntax"},
		{`SELECT ?1 AS product, 1 AS total`, "SQLite's own parameter syntax"},
		{`SELECT @a AS product, 1 AS total`, "SQLite's own parameter syntax"},
		{`SELECT name AS product, 1 AS total FROM pragma_database_list`, "not authorized"},
		{`SELECT load_extension('/tmp/x.so') AS product, 1 AS total`, "not authorized"},
		{`WITH x AS (SELECT 1) DELETE FROM sales`, "not authorized"},
		{`SELECT readfile('` + meta + `') AS product, 1 AS total`, "no such function"},
	} {
		t.Run(tt.sql, func(t *testing.T) {
			status, e := previewSQL(t, s, ed, tt.sql)
			if status != http.StatusBadRequest || e.Error.Code != "invalid" || e.Error.Field != "query.sql" || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("preview: %d %+v, want 400 invalid on query.sql with %q", status, e, tt.want)
			}
		})
	}
	if status, e := previewSQL(t, s, ed, `SELECT product, sum(amount) AS total FROM sales GROUP BY product`); status != http.StatusOK {
		t.Errorf("a read: %d %+v", status, e)
	}
}

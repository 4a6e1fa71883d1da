package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/store"
	"github.com/ashreports/ashreports/internal/wait"
)

// bigDashboard holds a pushed chart with the default byte budget.
const bigDashboard = `id: big
title: Big
charts:
  - id: big
    type: bar
    title: Big pushes
    encoding: {x: k, y: v}
`

// TestPushesPastTheChartBudgetAreBounded is the attack of a publisher who
// fills one chart: 300 appends of 960 KB each (288 MB, each within the
// request limit of 1 MiB) into a server process of its own. The chart
// takes what fits its budget (chart.DefaultMaxBytes); every other append
// is refused with 413 too_large naming the budget, and counted. The
// server's peak memory stays under a ceiling, a viewer still gets the
// chart, and the metadata database stays small.
func TestPushesPastTheChartBudgetAreBounded(t *testing.T) {
	dir, dashboards := t.TempDir(), t.TempDir()
	grantTestToken(t, dir)
	if err := os.WriteFile(filepath.Join(dashboards, "big.yaml"), []byte(bigDashboard), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startChild(t, dir, dashboards)
	url := srv.base + "/api/v1/charts/big/updates"
	cols := `{"op":"replace","data":{"columns":[{"name":"k","type":"string"},{"name":"v","type":"number"}],"rows":[]}}`
	if code, out := post(t, url, "application/json", []byte(cols)); code != http.StatusOK {
		t.Fatalf("the chart's columns: %d %v", code, out)
	}

	const pushes, rowsEach, cell = 300, 240, 4000
	var (
		mu       sync.Mutex
		accepted int
		refused  int
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				var b bytes.Buffer
				b.WriteString(`{"op":"append","rows":[`)
				for r := range rowsEach {
					if r > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `["%d-%d-%s",%d]`, i, r, strings.Repeat("x", cell), r)
				}
				b.WriteString(`]}`)
				code, body := postRaw(t, url, b.Bytes())
				mu.Lock()
				switch {
				case code == http.StatusOK:
					accepted++
				case code == http.StatusRequestEntityTooLarge && strings.Contains(body, `"too_large"`) &&
					strings.Contains(body, strconv.Itoa(chart.DefaultMaxBytes)) && strings.Contains(body, "max_bytes"):
					refused++
				default:
					t.Errorf("append %d: %d %s, want 200 or 413 too_large naming the budget", i, code, body)
				}
				mu.Unlock()
			}
		})
	}
	for i := range pushes {
		next <- i
	}
	close(next)
	wg.Wait()

	// What fits: about 4 MiB of 960 KB appends.
	if fit := chart.DefaultMaxBytes / (rowsEach * cell); accepted < fit-1 || accepted > fit {
		t.Errorf("%d appends taken, want the %d that fit the budget", accepted, fit)
	}
	if refused != pushes-accepted {
		t.Errorf("%d refused, want %d", refused, pushes-accepted)
	}
	if n := labelledMetric(t, srv.base, `ashreports_updates_refused_total{reason="budget"}`); n != float64(refused) {
		t.Errorf(`ashreports_updates_refused_total{reason="budget"} = %v, want %d`, n, refused)
	}
	// 288 MB pushed; without the budget the chart, its saved copy and
	// their encodings take well over 1 GB.
	const ceiling = 300 << 20
	if peak := procMemory(t, strconv.Itoa(srv.cmd.Process.Pid), "VmHWM"); peak > ceiling {
		t.Errorf("the server's peak memory is %d MiB, over the ceiling of %d MiB", peak>>20, ceiling>>20)
	} else {
		t.Logf("the server's peak memory: %d MiB", peak>>20)
	}
	// A viewer gets the chart as it stands, within the budget.
	v := dial(t, srv.base)
	snap := v.subscribe("s", "big", nil)
	if n := len(snap.State.Data.Rows); n != accepted*rowsEach {
		t.Errorf("the chart holds %d rows, want %d", n, accepted*rowsEach)
	}
	// The chart's state is saved within a second or so: then the metadata
	// database holds about one copy of it.
	dbBytes := func() int64 {
		var n int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(store.Path(dir) + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	wait.For(t, 20*time.Second, 100*time.Millisecond, func() error {
		if n := dbBytes(); n < int64(accepted*rowsEach*cell) {
			return fmt.Errorf("the chart's state was not saved: the metadata database takes %d bytes", n)
		}
		return nil
	})
	if n := dbBytes(); n > 64<<20 {
		t.Errorf("the metadata database takes %d MiB on disk, want at most 64", n>>20)
	}
}

// postRaw posts an op with the test token and returns the status and body.
func postRaw(t *testing.T, url string, body []byte) (int, string) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header = bearer()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// labelledMetric returns the value of the metric line that starts with
// series (name{labels}), 0 when there is none.
func labelledMetric(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

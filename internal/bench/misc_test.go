package bench

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ashreports/ashreports/internal/dashboard"
)

func TestDashboardsLoad(t *testing.T) {
	for _, charts := range []int{1, 40, 41, 100} {
		files := Dashboards(charts, 100)
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys[f.Name] = &fstest.MapFile{Data: f.YAML}
		}
		ds, err := dashboard.LoadDir(fsys)
		if err != nil {
			t.Fatalf("%d charts: LoadDir: %v", charts, err)
		}
		var ids []string
		for _, d := range ds {
			for _, c := range d.Charts {
				ids = append(ids, c.ID)
				if c.Query != nil || c.Config.Retention != 100 || c.Config.Encoding.Y != "ts" || len(c.Config.Key) != 1 {
					t.Errorf("chart %s: %+v", c.ID, c)
				}
			}
		}
		if len(ids) != charts {
			t.Fatalf("%d charts: got %d", charts, len(ids))
		}
		seen := map[string]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		for i := range charts {
			if !seen[ChartID(i)] {
				t.Errorf("%d charts: no %s", charts, ChartID(i))
			}
		}
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (ash (re) ports) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 12 0 100 1000 200 18446744073709551615\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3800 * time.Millisecond; got != want {
		t.Errorf("parseStat() = %v, want %v (380 ticks)", got, want)
	}
	if _, err := parseStat([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("a short stat line parsed")
	}
}

func TestProcSelf(t *testing.T) {
	rss, err := procRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Errorf("procRSS(self) = %d, %v", rss, err)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}
	if _, err := procRSS(-1); err == nil {
		t.Error("procRSS(-1) did not fail")
	}
}

func TestCheckOpenFiles(t *testing.T) {
	if err := checkOpenFiles(10); err != nil {
		t.Errorf("10 viewers: %v", err)
	}
	err := checkOpenFiles(1 << 30)
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), "cannot be raised") {
		t.Errorf("a billion viewers: %v", err)
	}
}

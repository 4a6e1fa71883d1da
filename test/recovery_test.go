package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/chart"
)

// view is a client's copy of one stream.
type view struct {
	epoch  string
	offset uint64
	state  chart.State
	snaps  int
}

// apply takes a snapshot or op frame into the view, failing the test on a
// gap or repeat.
func (v *view) apply(t *testing.T, f frame) {
	t.Helper()
	switch f.Type {
	case "snapshot":
		v.epoch, v.offset, v.state = f.Epoch, f.Offset, *f.State
		v.snaps++
	case "op":
		if f.Epoch != v.epoch || f.Offset != v.offset+1 {
			t.Fatalf("op %d of epoch %s after offset %d of epoch %s", f.Offset, f.Epoch, v.offset, v.epoch)
		}
		op, err := chart.ParseOp(f.Op)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.state.Apply(op); err != nil {
			t.Fatalf("op %d: %v", f.Offset, err)
		}
		v.offset = f.Offset
	default:
		t.Fatalf("unexpected frame %+v", f)
	}
}

func appendOp(i int) string {
	return fmt.Sprintf(`{"op":"append","rows":[["k%d",%d]]}`, i, i)
}

// TestReconnectResumesWithExactlyTheMissedOps drops a viewer mid-stream
// and reconnects it with its offset: it gets the missed ops, no snapshot,
// no repeat, and ends with the server's state.
func TestReconnectResumesWithExactlyTheMissedOps(t *testing.T) {
	s := startServer(t)
	post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(seedOp))
	c := dial(t, s.URL)
	var v view
	v.apply(t, c.subscribe("1", "orders", nil))
	for i := range 3 {
		post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(appendOp(i)))
		v.apply(t, c.read())
	}
	c.ws.CloseNow() // no close frame: a dropped connection
	for i := 3; i < 10; i++ {
		post(t, s.URL+"/api/v1/charts/orders/updates", "application/json", []byte(appendOp(i)))
	}

	c = dial(t, s.URL)
	c.send(fmt.Sprintf(`{"ref":"r","type":"subscribe","chart":"orders","offset":%d,"epoch":%q}`, v.offset, v.epoch))
	for {
		f := c.read()
		if f.Type == "reply" {
			if !f.OK {
				t.Fatalf("resume refused: %+v", f.Error)
			}
			break
		}
		v.apply(t, f)
	}
	if v.snaps != 1 {
		t.Errorf("the resumed viewer got %d snapshots, want only its first", v.snaps)
	}
	off, st := getState(t, s.URL, "orders")
	if v.offset != off || cmp.Diff(st, v.state) != "" {
		t.Fatalf("viewer at %d, server at %d; diff (-server +viewer):\n%s", v.offset, off, cmp.Diff(st, v.state))
	}

	// A viewer from another epoch, or too far behind, gets a snapshot.
	c.send(`{"ref":"old","type":"subscribe","chart":"orders","offset":2,"epoch":"000000000000"}`)
	if f := c.read(); f.Type != "snapshot" || f.Offset != off {
		t.Fatalf("resume from another epoch got %+v, want a snapshot at %d", f, off)
	}
}

// TestSlowViewerConvergesBySnapshot stops reading on one viewer while
// updates flow: its pending updates are conflated, the other viewer gets
// every op, and the slow one ends with the server's state once it reads
// again.
func TestSlowViewerConvergesBySnapshot(t *testing.T) {
	ctx := context.Background()
	srv := prepare(t, ashreports.Config{DashboardsDir: fixtures, NoDemo: true, MaxPendingOps: 4,
		// The slow viewer's write stays blocked while the test publishes;
		// a loaded machine must not make that look like a dead viewer.
		WriteTimeout: 5 * time.Minute}).start(t)
	url := srv.URL

	if code, body := post(t, url+"/api/v1/charts/orders/updates", "application/json", []byte(seedOp)); code != 200 {
		t.Fatal(body)
	}
	fast, slow := dial(t, url), dial(t, url)
	var fv, sv view
	fv.apply(t, fast.subscribe("f", "orders", nil))
	sv.apply(t, slow.subscribe("s", "orders", nil))

	// Big rows, so that the slow viewer's socket buffers fill and the
	// server's queue for it overflows.
	const ops = 1500
	pad := strings.Repeat("x", 4000)
	for i := range ops {
		op := chart.Op{Kind: chart.OpUpsert, Rows: [][]any{{pad[:len(pad)-i%7] + fmt.Sprint(i%3), float64(i)}}}
		if _, err := srv.BroadcastChartUpdate(ctx, "orders", op, ashreports.HighPriority()); err != nil {
			t.Fatal(err)
		}
		fv.apply(t, fast.read()) // the fast viewer keeps up
	}
	final, st := getState(t, url, "orders")
	if fv.offset != final {
		t.Fatalf("fast viewer at %d, server at %d", fv.offset, final)
	}
	for sv.offset != final {
		sv.apply(t, slow.read())
	}
	if d := cmp.Diff(st, sv.state); d != "" {
		t.Fatalf("slow viewer's state (-server +viewer):\n%s", d)
	}
	if sv.snaps < 2 {
		t.Errorf("slow viewer got %d snapshots; its updates were never conflated", sv.snaps)
	}
	if n := metric(t, url, "ashreports_conflations_total"); n < 1 {
		t.Errorf("ashreports_conflations_total = %v after a conflation", n)
	}
	if n := metric(t, url, "ashreports_connections"); n != 2 {
		t.Errorf("ashreports_connections = %v, want 2", n)
	}
	b, _ := json.Marshal(map[string]int{"fast_snapshots": fv.snaps, "slow_snapshots": sv.snaps})
	t.Logf("%s", b)
}

// metric returns the value of an unlabelled metric from /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in /metrics", name)
	return 0
}

package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ashreports/ashreports"
)

// The child server: the test binary run again with childEnv set serves
// the data directory and dashboards of childData and childDashboards on
// a loopback port, which it prints, until it is killed. Tests kill it with
// SIGKILL, as a crash would.
const (
	childEnv        = "ASHREPORTS_TEST_CHILD"
	childData       = "ASHREPORTS_TEST_CHILD_DATA"
	childDashboards = "ASHREPORTS_TEST_CHILD_DASHBOARDS"
)

// serveChild runs the child server; it returns only on a failure to
// start.
func serveChild() int {
	ctx := context.Background()
	srv, err := ashreports.New(ctx, ashreports.Config{DataDir: os.Getenv(childData), DashboardsDir: os.Getenv(childDashboards), NoDemo: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child server:", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child server:", err)
		return 1
	}
	fmt.Printf("http://%s\n", ln.Addr())
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "child server:", err)
	}
	return 1
}

// child is a server in a process of its own.
type child struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

// startChild starts a child server on dir and dashboards and waits until
// it answers.
func startChild(t *testing.T, dir, dashboards string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childData+"="+dir, childDashboards+"="+dashboards)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill(t) })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case c.base = <-line:
	case <-c.done:
		t.Fatal("the child server exited before it served")
	case <-time.After(60 * time.Second):
		t.Fatal("the child server did not start within 60s")
	}
	return c
}

// kill ends the child with SIGKILL and waits for it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the child server did not exit within 30s of SIGKILL")
	}
}

// durableDashboard holds the chart the durability test appends to: a row
// per op, (id, n), up to 100,000 rows.
const durableDashboard = `id: durable
title: Durable
charts:
  - id: acked
    type: bar
    title: Acknowledged appends
    encoding: {x: id, y: n}
`

// acked is an op the server acknowledged: the id of the row it appended
// and its offset.
type acked struct {
	id     string
	offset uint64
}

// TestAcknowledgedOpsSurviveSIGKILL publishes appends from several
// concurrent publishers to a real server process, kills it with SIGKILL
// mid-stream, starts it again on the same data directory and checks that
// every acknowledged op is in the chart exactly once, at its offset (the
// chart's rows are its ops in offset order: the last row is the op at the
// chart's offset). It does so at several kill points, one after another
// on the same data. A viewer that saw the ops before the last kill
// resumes after the restart with the ops it missed, not a snapshot.
//
// ASHREPORTS_DURABILITY_OPS sets the ops acknowledged in all (3,000 by
// default; docs/BENCHMARKS.md runs it with 100,000).
func TestAcknowledgedOpsSurviveSIGKILL(t *testing.T) {
	total := 3000
	if v := os.Getenv("ASHREPORTS_DURABILITY_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 || n > 99_000 {
			t.Fatalf("ASHREPORTS_DURABILITY_OPS=%q: want a number of ops from 3 to 99000", v)
		}
		total = n
	}
	dir, dashboards := t.TempDir(), t.TempDir()
	grantTestToken(t, dir)
	if err := os.WriteFile(filepath.Join(dashboards, "durable.yaml"), []byte(durableDashboard), 0o600); err != nil {
		t.Fatal(err)
	}
	const publishers = 8
	// Kill points: after a sixth, a half and all of the ops are
	// acknowledged, the publishers still publishing.
	killAt := []int{total / 6, total / 2, total}
	var all []acked
	var viewer *client
	var seenEpoch string
	var seenOffset uint64
	for round, target := range killAt {
		srv := startChild(t, dir, dashboards)
		if round == 0 {
			cols := `{"op":"replace","data":{"columns":[{"name":"id","type":"string"},{"name":"n","type":"number"}],"rows":[]}}`
			if code, out := post(t, srv.base+"/api/v1/charts/acked/updates", "application/json", []byte(cols)); code != http.StatusOK {
				t.Fatalf("the chart's columns: %d %v", code, out)
			}
		} else {
			checkAcked(t, srv.base, all)
		}
		if round == len(killAt)-1 {
			viewer = dial(t, srv.base)
			snap := viewer.subscribe("v", "acked", nil)
			seenEpoch, seenOffset = snap.Epoch, snap.Offset
		}
		got := publishUntil(t, srv, publishers, round, target-len(all))
		all = append(all, got...)
		if viewer != nil {
			// The ops the viewer saw before the kill.
			for {
				f, ok := viewer.tryRead(2 * time.Second)
				if !ok {
					break
				}
				if f.Type == "op" || f.Type == "snapshot" {
					seenEpoch, seenOffset = f.Epoch, f.Offset
				}
			}
		}
		t.Logf("round %d: %d ops acknowledged, %d in all; killed", round+1, len(got), len(all))
	}

	srv := startChild(t, dir, dashboards)
	offset := checkAcked(t, srv.base, all)
	if offset <= seenOffset {
		t.Fatalf("the chart's offset %d after the restart is not past what the viewer saw, %d", offset, seenOffset)
	}
	// The viewer reconnects with what it holds and gets the ops it missed.
	again := dial(t, srv.base)
	r := again.request("r", map[string]any{"type": "subscribe", "chart": "acked", "epoch": seenEpoch, "offset": seenOffset})
	if !r.OK || !r.Resumed {
		t.Fatalf("a viewer at epoch %s offset %d resubscribing after the restart: reply %+v, want resumed with the missed ops", seenEpoch, seenOffset, r)
	}
	for want := seenOffset + 1; want <= offset; want++ {
		f := again.read()
		if f.Type != "op" || f.Offset != want || f.Epoch != seenEpoch {
			t.Fatalf("resumed viewer got %s %d (epoch %s), want op %d of epoch %s", f.Type, f.Offset, f.Epoch, want, seenEpoch)
		}
	}
}

// publishUntil runs n publishers that append rows to the chart until at
// least target ops are acknowledged, then kills the server while they
// publish, and returns the acknowledged ops.
func publishUntil(t *testing.T, srv *child, n, round, target int) []acked {
	t.Helper()
	var (
		mu   sync.Mutex
		got  []acked
		done atomic.Bool
		wg   sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for p := range n {
		wg.Go(func() {
			hc := &http.Client{Timeout: 30 * time.Second}
			for i := 0; !done.Load(); i++ {
				id := fmt.Sprintf("r%d-p%d-%d", round, p, i)
				body := fmt.Sprintf(`{"op":"append","rows":[[%q,%d]]}`, id, i)
				req, _ := http.NewRequest(http.MethodPost, srv.base+"/api/v1/charts/acked/updates", strings.NewReader(body))
				req.Header = bearer()
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					return // the server is gone
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					if !done.Load() {
						t.Errorf("append %s: %d %s", id, resp.StatusCode, b)
					}
					return
				}
				var out struct {
					Offset uint64 `json:"offset"`
				}
				if err := json.Unmarshal(b, &out); err != nil || out.Offset == 0 {
					t.Errorf("append %s: answer %s", id, b)
					return
				}
				mu.Lock()
				got = append(got, acked{id, out.Offset})
				if len(got) >= target {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	stopped := make(chan struct{})
	go func() {
		wg.Wait()
		close(stopped)
	}()
	select {
	case <-enough:
	case <-stopped:
		t.Fatal("the publishers stopped before the kill")
	case <-time.After(5 * time.Minute):
		t.Error("the publishers did not get their ops acknowledged within 5 minutes")
	}
	done.Store(true)
	srv.kill(t) // mid-stream: the publishers are still sending
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return got
}

// checkAcked checks that the chart holds every acknowledged op exactly
// once, at its offset, and returns the chart's offset.
func checkAcked(t *testing.T, base string, all []acked) uint64 {
	t.Helper()
	offset, st := getState(t, base, "acked")
	at := map[string][]int{}
	for i, row := range st.Data.Rows {
		id, _ := row[0].(string)
		at[id] = append(at[id], i)
	}
	missing, twice, moved := 0, 0, 0
	for _, a := range all {
		rows := at[a.id]
		switch {
		case len(rows) == 0:
			missing++
		case len(rows) > 1:
			twice++
		case uint64(rows[0]) != uint64(len(st.Data.Rows))-1-(offset-a.offset):
			// The last row is the op at the chart's offset.
			moved++
		}
	}
	if missing+twice+moved > 0 {
		t.Fatalf("of %d acknowledged ops, %d are missing, %d are there more than once, %d are not at their offset (chart at offset %d with %d rows)",
			len(all), missing, twice, moved, offset, len(st.Data.Rows))
	}
	if len(all) > 0 && offset < all[len(all)-1].offset {
		t.Fatalf("chart offset %d is before an acknowledged op's, %d", offset, all[len(all)-1].offset)
	}
	return offset
}

// tryRead returns the next frame, or false when none comes within d.
func (c *client) tryRead(d time.Duration) (frame, bool) {
	c.t.Helper()
	if len(c.held) == 0 && len(c.lines) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		_, b, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			return frame{}, false
		}
		c.lines = bytes.Split(b, []byte("\n"))
	}
	return c.read(), true
}

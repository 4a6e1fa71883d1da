package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// chartsPerDashboard is how many bench charts go in one dashboard file (a
// dashboard holds at most 48).
const chartsPerDashboard = 40

// DashboardFile is one provisioning file of the bench charts.
type DashboardFile struct {
	Name string // file name, such as bench-1.yaml
	YAML []byte
}

// Dashboards returns the dashboard YAML files that define charts bench-0
// … bench-(charts-1): push line charts of columns seq and ts (the publish
// time, Unix nanoseconds), keyed by seq, keeping retention rows. Put them
// in a server's --dashboards-dir; each must be a file of its own.
func Dashboards(charts, retention int) []DashboardFile {
	var out []DashboardFile
	for d := 0; d*chartsPerDashboard < charts; d++ {
		first := d * chartsPerDashboard
		last := min(first+chartsPerDashboard, charts) - 1
		var b strings.Builder
		fmt.Fprintf(&b, "# Charts %s … %s of `ashreports bench --charts %d`: they hold what the bench pushes.\n", ChartID(first), ChartID(last), charts)
		fmt.Fprintf(&b, "id: bench-dashboard-%d\n", d+1)
		fmt.Fprintf(&b, "title: Bench %d\n", d+1)
		b.WriteString("description: Push charts for ashreports bench (columns seq and ts, the publish time in Unix nanoseconds).\n")
		b.WriteString("charts:\n")
		for i := first; i <= last; i++ {
			fmt.Fprintf(&b, "  - id: %s\n", ChartID(i))
			b.WriteString("    type: line\n")
			fmt.Fprintf(&b, "    title: Bench chart %d\n", i)
			b.WriteString("    width: 3\n")
			b.WriteString("    encoding: {x: seq, y: ts}\n")
			b.WriteString("    key: [seq]\n")
			fmt.Fprintf(&b, "    retention: %d\n", retention)
		}
		out = append(out, DashboardFile{Name: fmt.Sprintf("bench-%d.yaml", d+1), YAML: []byte(b.String())})
	}
	return out
}

// WriteDashboards writes the files of Dashboards into dir.
func WriteDashboards(dir string, charts, retention int) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, f := range Dashboards(charts, retention) {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.YAML, 0o640); err != nil {
			return err
		}
	}
	return nil
}

// grantToken creates an API token of the default organization that may
// view and publish, in the data directory dataDir, the way an operator
// does: with the ashreports command exe, `token create`. It returns the
// token's secret.
func grantToken(ctx context.Context, exe, dataDir string) (string, error) {
	cmd := exec.CommandContext(ctx, exe, "token", "create", "--data-dir", dataDir, "--name", "bench", "--scopes", "view_charts,publish_data")
	cmd.Env = serverEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s token create: %v\n%s", exe, err, out)
	}
	for line := range strings.Lines(string(out)) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "ashr_") {
			return line, nil
		}
	}
	return "", fmt.Errorf("%s token create printed no token:\n%s", exe, out)
}

// serverEnv is a clean environment for the server the bench starts: no
// config file or settings of the user's own server.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASHREPORTS_") {
			env = append(env, kv)
		}
	}
	return env
}

// Server is an AshReports server that the bench started as a child
// process: its own process, so that its sockets and memory are its own.
type Server struct {
	URL string // http://127.0.0.1:PORT
	PID int
	// Token is an API token of the server for the bench charts (scopes
	// publish_data and view_charts).
	Token string

	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	err  error // of Wait, once done is closed
	tail *tailBuffer
	once sync.Once
}

// ServerOptions says how to start a server.
type ServerOptions struct {
	// Exe is the ashreports binary; os.Executable() when empty.
	Exe       string
	Charts    int
	Retention int
	// LogLevel of the server; warn when empty.
	LogLevel string
}

var runningRE = regexp.MustCompile(`AshReports is running at (https?://[^/\s]+)/`)

// StartServer starts `ashreports serve` on a free loopback port with a
// fresh data directory and the bench dashboards, and waits until it says
// where it listens. Stop it with Stop.
func StartServer(ctx context.Context, o ServerOptions) (_ *Server, err error) {
	if o.Exe == "" {
		if o.Exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the ashreports binary: %w", err)
		}
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	dir, err := os.MkdirTemp("", "ashreports-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	dash := filepath.Join(dir, "dashboards")
	if err := WriteDashboards(dash, o.Charts, o.Retention); err != nil {
		return nil, err
	}
	token, err := grantToken(ctx, o.Exe, filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Exe, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--dashboards-dir", dash, "--demo=false", "--log-level", o.LogLevel)
	cmd.Env = serverEnv()
	// On Linux the server dies with the bench, whatever happens to the
	// bench.
	cmd.SysProcAttr = childAttr()
	tail := &tailBuffer{max: 16 << 10}
	cmd.Stderr = tail
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the server: %w", err)
	}
	s := &Server{PID: cmd.Process.Pid, Token: token, cmd: cmd, dir: dir, done: make(chan struct{}), tail: tail}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if m := runningRE.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				urlc <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case s.URL = <-urlc:
		return s, nil
	case <-s.done:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the server exited before it listened (%v):\n%s", s.err, tail.String())
	case <-t.C:
		err = errors.New("the server did not say where it listens within 60 s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Stop()
	return nil, fmt.Errorf("%w\n%s", err, tail.String())
}

// Exited is closed when the server process ended.
func (s *Server) Exited() <-chan struct{} { return s.done }

// Log returns the end of the server's standard error.
func (s *Server) Log() string { return s.tail.String() }

// Stop sends SIGTERM, waits for the server to shut down (killing it after
// 30 s) and removes its data directory.
func (s *Server) Stop() error {
	var err error
	s.once.Do(func() {
		if s.cmd.Process.Signal(syscall.SIGTERM) != nil {
			_ = s.cmd.Process.Kill() // no SIGTERM on Windows
		}
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		select {
		case <-s.done:
		case <-t.C:
			_ = s.cmd.Process.Kill()
			<-s.done
			err = errors.New("the server did not stop within 30 s of SIGTERM; killed")
		}
		if err == nil && s.err != nil {
			var ee *exec.ExitError
			if !errors.As(s.err, &ee) || !ee.Exited() || ee.ExitCode() != 0 {
				err = fmt.Errorf("server: %v\n%s", s.err, s.tail.String())
			}
		}
		os.RemoveAll(s.dir)
	})
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// UsageError is a mistake in the command line.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Main is `ashreports bench`: it parses args, runs the bench (starting a
// server unless --url is given) and prints the report on stdout, progress
// on stderr. It returns an error when the run failed its checks (not
// converged, or an op lost without slow viewers), after printing the
// report.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: ashreports bench [flags]

Opens many WebSocket viewers of a server, publishes updates through the HTTP
API and reports latency, delivery, convergence, server memory and CPU.
Without --url it starts its own server (a child process). See
docs/BENCHMARKS.md.

flags:
`)
		fs.PrintDefaults()
	}
	var cfg Config
	fs.StringVar(&cfg.URL, "url", "", "URL of a running server (http://host:port) whose charts bench-0… exist (see --print-dashboard); without it the bench starts a server")
	fs.StringVar(&cfg.Token, "token", os.Getenv("ASHREPORTS_TOKEN"), "with --url: an API token of the server with scopes publish_data,view_charts (ashreports token create); env ASHREPORTS_TOKEN")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "with --url: process id of the server, to report its memory and CPU (same machine)")
	fs.IntVar(&cfg.Viewers, "viewers", 1000, "WebSocket viewers")
	fs.IntVar(&cfg.Charts, "charts", 10, "charts; viewer i watches chart bench-(i mod charts)")
	fs.Float64Var(&cfg.Rate, "rate", 100, "updates per second over all charts (0: viewers stay idle for the duration)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the publish phase")
	fs.Float64Var(&cfg.Ramp, "ramp", 2000, "viewers connected per second")
	fs.Float64Var(&cfg.ReconnectFrac, "reconnect-frac", 0, "fraction of viewers that drop their connection once mid-run and resume")
	fs.DurationVar(&cfg.ReconnectPause, "reconnect-pause", 500*time.Millisecond, "how long a dropped viewer waits before reconnecting")
	fs.Float64Var(&cfg.SlowFrac, "slow-frac", 0, "fraction of viewers that stop reading once mid-run")
	fs.DurationVar(&cfg.SlowPause, "slow-pause", 3*time.Second, "how long slow viewers stop reading")
	fs.IntVar(&cfg.SlowRcvBuf, "slow-rcvbuf", 16384, "socket receive buffer of slow viewers in bytes (0: the kernel's)")
	fs.DurationVar(&cfg.Settle, "settle", 10*time.Second, "most time to wait after publishing for viewers to catch up")
	fs.IntVar(&cfg.Publishers, "publishers", 0, "concurrent publish requests (default min(32, max(charts, rate/200)))")
	fs.IntVar(&cfg.ViewersPerAddr, "viewers-per-addr", 10000, "viewers per loopback source address (127.0.0.1, 127.0.0.2, …)")
	seed := fs.Uint64("seed", 0, "random seed for who drops or pauses, and when (default: from the clock)")
	retention := fs.Int("retention", 100, "rows each bench chart keeps (for the dashboards the bench writes)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	printDash := fs.Bool("print-dashboard", false, "print the dashboard YAML of the bench charts and exit")
	writeDash := fs.String("write-dashboards", "", "write the dashboard YAML files of the bench charts into this directory and exit")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	logLevel := fs.String("server-log-level", "warn", "log level of the server the bench starts")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the bench process (not the server) over the whole run to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return UsageError{err}
	}
	if fs.NArg() > 0 {
		return UsageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg.Seed = *seed
	if *retention < 1 {
		return UsageError{errors.New("retention: must be at least 1")}
	}
	if cfg.Charts < 1 {
		return UsageError{errors.New("charts: must be at least 1")}
	}
	if *printDash {
		files := Dashboards(cfg.Charts, *retention)
		for i, f := range files {
			if len(files) > 1 {
				if i > 0 {
					fmt.Fprintln(stdout)
				}
				fmt.Fprintf(stdout, "# ===== file %s (one dashboard per file; --write-dashboards DIR writes them) =====\n", f.Name)
			}
			stdout.Write(f.YAML)
		}
		return nil
	}
	if *writeDash != "" {
		if err := WriteDashboards(*writeDash, cfg.Charts, *retention); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d dashboard file(s) for charts bench-0 … bench-%d into %s\n", len(Dashboards(cfg.Charts, *retention)), cfg.Charts-1, *writeDash)
		return nil
	}
	if cfg.ServerPID != 0 && cfg.URL == "" {
		return UsageError{errors.New("--server-pid goes with --url")}
	}
	if cfg.URL != "" && cfg.Token == "" {
		return UsageError{errors.New("--token: a running server needs an API token with scopes publish_data,view_charts: ashreports token create --name bench --scopes publish_data,view_charts")}
	}
	if cfg.URL == "" && cfg.Token != "" {
		return UsageError{errors.New("--token goes with --url (the server the bench starts gets its own)")}
	}
	if cfg.Publishers == 0 {
		cfg.Publishers = defaultPublishers(cfg.Charts, cfg.Rate)
	}
	check := cfg
	if check.URL == "" {
		check.URL = "http://127.0.0.1:1" // the server the bench will start
	}
	if err := check.validate(); err != nil {
		return UsageError{err}
	}
	cfg.defaults()
	if !*quiet {
		cfg.Progress = stderr
	}
	if err := checkOpenFiles(cfg.Viewers); err != nil {
		return err
	}

	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// The bench shares the machine's CPU with the server it measures,
		// and a collection of its viewers' chart copies (hundreds of MiB)
		// showed as a burst of 100–300 ms latency in most 30 s runs. It
		// collects only when its heap nears gcLimit(), which a run of a
		// few minutes at 100,000 deliveries/s does not reach.
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(gcLimit())
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var srv *Server
	if cfg.URL == "" {
		cfg.logf("starting a server with %d bench charts", cfg.Charts)
		var err error
		srv, err = StartServer(ctx, ServerOptions{Charts: cfg.Charts, Retention: *retention, LogLevel: *logLevel})
		if err != nil {
			return err
		}
		defer srv.Stop()
		cfg.URL, cfg.ServerPID, cfg.SelfStarted, cfg.Token = srv.URL, srv.PID, true, srv.Token
		cfg.logf("server pid %d at %s", srv.PID, srv.URL)
		// A server that dies ends the run.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-srv.Exited():
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	rep, err := Run(ctx, cfg)
	if srv != nil {
		select {
		case <-srv.Exited():
			return fmt.Errorf("the server exited during the run:\n%s", srv.Log())
		default:
		}
		if serr := srv.Stop(); serr != nil {
			if err == nil {
				rep.note("stopping the server: %v", serr)
			}
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return errors.New("interrupted")
		}
		return err
	}
	rep.Command = "ashreports bench " + strings.Join(args, " ")
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if !rep.Pass {
		return fmt.Errorf("bench failed: %s", strings.Join(rep.Failures, "; "))
	}
	return nil
}

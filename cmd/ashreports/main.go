// Command ashreports runs the AshReports server, manages the identities of
// its data directory, and load-tests it (docs/configuration.md).
//
//	ashreports serve [flags]         run the server
//	ashreports check-config FILE     validate a config file
//	ashreports user add [flags]      create a user, or give one a role
//	ashreports token create [flags]  create an API token (its secret is printed once)
//	ashreports token list [flags]    list an organization's API tokens
//	ashreports token revoke --id ID  revoke an API token
//	ashreports org add [flags]       create an organization
//	ashreports bench [flags]         load-test a server (docs/BENCHMARKS.md)
//	ashreports version               print the version
//
// The identity commands may run while the server runs; it sees their
// changes within a second.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/ashreports/ashreports"
	"github.com/ashreports/ashreports/internal/bench"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ashreports:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

const usage = `usage: ashreports <command> [flags]

commands:
  serve         run the server (ashreports serve -h for flags)
  check-config  validate a config file: ashreports check-config FILE
  user add      create a user, or give one a role (ashreports user add -h)
  token create  create an API token for machines (ashreports token create -h)
  token list    list an organization's API tokens
  token revoke  revoke an API token (ashreports token revoke --id ID)
  org add       create an organization (ashreports org add -h)
  bench         load-test a server with many viewers (ashreports bench -h for flags)
  version       print the version
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command given")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		err := bench.Main(ctx, args[1:], stdout, stderr)
		var ue bench.UsageError
		if errors.As(err, &ue) {
			return usageError{err}
		}
		return err
	case "user", "token", "org":
		return admin(ctx, args, getenv, stdin, stdout, stderr)
	case "check-config":
		if len(args) != 2 {
			return usageError{errors.New("usage: ashreports check-config FILE")}
		}
		if _, err := loadFile(args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "ashreports", version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := resolve(args, getenv, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // checked by resolve
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopDebug()
	}
	srv, err := ashreports.New(ctx, ashreports.Config{
		DataDir:         cfg.DataDir,
		DashboardsDir:   cfg.DashboardsDir,
		NoDemo:          !cfg.Demo,
		NoDemoGenerator: !cfg.DemoGenerator,
		DemoRate:        cfg.DemoRate,
		DemoOrg:         cfg.DemoOrg,
		Sources:         cfg.Sources,
		OriginPatterns:  cfg.OriginPatterns,
		Queries:         ashreports.QueryLimits(cfg.Queries),
		Edge: ashreports.Edge{
			MaxConns: cfg.MaxConns, MaxConnsPerAddr: cfg.MaxConnsPerAddr,
			HeaderTimeout: cfg.HeaderTimeout, BodyTimeout: cfg.BodyTimeout, IdleTimeout: cfg.IdleTimeout,
			PasswordHashes: cfg.PasswordHashes, PasswordHashWait: cfg.PasswordHashWait,
		},
		Admin:  firstAdmin(getenv),
		Logger: log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "AshReports is running at http://%s/ (data in %s; Ctrl-C to stop)\n", displayAddr(ln.Addr()), cfg.DataDir)
	for _, n := range srv.Notes() {
		fmt.Fprintln(stdout, n)
	}
	err = srv.Serve(ctx, ln)
	log.Info("shutting down")
	return err
}

// displayAddr turns a wildcard listen address into one a browser can open.
// firstAdmin is the admin to create when the server has no user, from
// ASHREPORTS_ADMIN_EMAIL and ASHREPORTS_ADMIN_PASSWORD; nil without them.
func firstAdmin(getenv func(string) string) *ashreports.Admin {
	email, pw := getenv("ASHREPORTS_ADMIN_EMAIL"), getenv("ASHREPORTS_ADMIN_PASSWORD")
	if email == "" && pw == "" {
		return nil
	}
	return &ashreports.Admin{Email: email, Password: pw}
}

func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
}

package ashreportstest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ashreports/ashreports"
)

// Server is a running server and where it listens.
type Server struct {
	*ashreports.Server
	// URL is http://127.0.0.1:PORT, without a trailing slash.
	URL string
	// Config is what the server was started with; its DataDir is set.
	Config ashreports.Config

	tb   testing.TB
	stop func()
}

// NewServer starts a server with cfg on 127.0.0.1 and a free port; an empty
// DataDir is a temporary directory of tb's. It fails tb if the server does
// not start, and closes the server when tb's test ends.
func NewServer(tb testing.TB, cfg ashreports.Config) *Server {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	s := &Server{Config: cfg, tb: tb}
	s.start("127.0.0.1:0")
	tb.Cleanup(s.Close)
	return s
}

// start runs the server on addr.
func (s *Server) start(addr string) {
	s.tb.Helper()
	ctx := context.Background()
	srv, err := ashreports.New(ctx, s.Config)
	if err != nil {
		s.tb.Fatalf("ashreports.New: %v", err)
	}
	// A restart listens on the port it had; meanwhile another process may
	// hold it briefly, as the local end of a connection (the error that
	// says so differs by system: any error is tried again, for a while).
	var ln net.Listener
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		srv.Close()
		s.tb.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	s.Server, s.URL = srv, "http://"+ln.Addr().String()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.tb.Errorf("Serve: %v", err)
		}
		srv.Close()
	}
}

// Close shuts the server down, as a signal would, and waits; it may be
// called more than once.
func (s *Server) Close() { s.stop() }

// Restart closes the server and starts a new one with the same
// configuration, data directory and address: what a server finds after a
// restart, its viewers too.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Close()
	s.start(strings.TrimPrefix(s.URL, "http://"))
}

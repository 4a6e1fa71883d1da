package ashreports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ashreports/ashreports/internal/accounts"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/authz"
	"github.com/ashreports/ashreports/internal/demo"
	"github.com/ashreports/ashreports/internal/edit"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/i18n"
	"github.com/ashreports/ashreports/internal/live"
	"github.com/ashreports/ashreports/internal/natsbroker"
	"github.com/ashreports/ashreports/internal/provision"
	"github.com/ashreports/ashreports/internal/room"
	"github.com/ashreports/ashreports/internal/source"
	"github.com/ashreports/ashreports/internal/store"
	"github.com/ashreports/ashreports/internal/telemetry"
	"github.com/ashreports/ashreports/internal/web"
)

// Config configures a Server. The zero value, with a DataDir, runs the
// demo with its generator.
type Config struct {
	// DataDir holds the metadata database, the broker's files and the
	// demo database. It is created if missing.
	DataDir string
	// DashboardsDir, when set, is a directory of dashboard YAML files
	// (docs/dashboards.md) provisioned at start.
	DashboardsDir string
	// NoDemo turns off the demo data source and dashboard.
	NoDemo bool
	// NoDemoGenerator stops the demo generator from inserting new orders.
	NoDemoGenerator bool
	// DemoRate is the demo generator's mean orders per second; 4 when zero.
	DemoRate float64
	// DemoOrg is the organization that holds the demo dashboard and the
	// demo users. When empty: the one that holds them already, else
	// "demo" (created, named Demo).
	DemoOrg string
	// Sources are SQLite data sources by name, path to the database file.
	Sources map[string]string
	// OriginPatterns lists extra hosts allowed to open /live from a
	// browser (the request's own host is always allowed).
	OriginPatterns []string
	// MaxPendingOps is how many op frames may wait for one viewer before
	// they are conflated into one snapshot per chart; 256 when zero.
	MaxPendingOps int
	// BatchWindow is how long normal-priority updates may wait to share a
	// WebSocket message with others; 5ms when zero, none when negative.
	BatchWindow time.Duration
	// WriteTimeout is how long a write to a viewer may block before the
	// viewer is disconnected as a slow consumer; 30s when zero.
	WriteTimeout time.Duration
	// Admin, when set, is created as the first admin if the server has no
	// user yet.
	Admin *Admin
	// RateLimits are the API's rate limits; zero fields take defaults.
	RateLimits RateLimits
	Logger     *slog.Logger
}

// Admin is the first administrator, created at start when the server has
// no user yet (Config.Admin; the command line takes it from
// ASHREPORTS_ADMIN_EMAIL and ASHREPORTS_ADMIN_PASSWORD).
type Admin struct {
	Email    string
	Password string
}

// RateLimits are the API's rate limits, in requests per second, with
// bursts of twice as many. Zero fields take the defaults. A request over a
// limit gets 429 with Retry-After.
type RateLimits struct {
	// Publish is the updates one user or token may publish; 5,000.
	Publish float64
	// Read is the other API requests of one user or token; 100.
	Read float64
	// PerIP is the API requests of one client address, whoever sends
	// them; 10,000.
	PerIP float64
}

// Server is a running AshReports instance.
type Server struct {
	log     *slog.Logger
	store   *store.Store
	dir     *authz.Directory // the store, with who asks and where cached
	guard   *authz.Guard
	broker  *natsbroker.Broker
	sources *source.Registry
	engine  *engine.Engine
	hub     *live.Hub
	rooms   *room.Rooms
	handler http.Handler
	notes   []string // see Notes

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// The parts New wires, each against the interfaces its users declare.
var (
	_ web.Dashboards     = (*store.Store)(nil)
	_ web.Users          = (*store.Store)(nil)
	_ web.AuditLog       = (*store.Store)(nil)
	_ web.Admin          = (*store.Store)(nil)
	_ web.Charts         = (*engine.Engine)(nil)
	_ web.Guard          = (*authz.Guard)(nil)
	_ web.Sessions       = (*authz.Sessions)(nil)
	_ web.Accounts       = (*accounts.Service)(nil)
	_ web.Editor         = (*edit.Service)(nil)
	_ web.Layouts        = (*edit.Service)(nil)
	_ live.Streams       = (*engine.Engine)(nil)
	_ live.Broker        = (*natsbroker.Broker)(nil)
	_ live.Rooms         = (*room.Gate)(nil)
	_ engine.Broker      = (*natsbroker.Broker)(nil)
	_ engine.Definitions = (*store.Store)(nil)
	_ engine.Querier     = (*source.Registry)(nil)
	_ engine.States      = (*store.Store)(nil)
	_ authz.Store        = (*store.Store)(nil)
	_ authz.Places       = (*authz.Directory)(nil)
	_ authz.Live         = (*live.Hub)(nil)
	_ authz.Conns        = (*live.Hub)(nil)
	_ room.Guard         = (*authz.Guard)(nil)
	_ room.Dashboards    = (*store.Store)(nil)
	_ edit.Store         = (*store.Store)(nil)
	_ edit.Engine        = (*engine.Engine)(nil)
	_ edit.Places        = (*authz.Directory)(nil)
	_ edit.Rooms         = (*room.Rooms)(nil)
	_ provision.Store    = (*store.Store)(nil)
	_ provision.Accounts = (*accounts.Service)(nil)
	_ accounts.Store     = (*store.Store)(nil)
	_ web.Provisioning   = provision.Result{}
)

// New opens the data directory, starts the embedded broker, provisions the
// dashboards and returns a server ready to serve its Handler.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("config: data_dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{log: cfg.Logger, sources: source.NewRegistry(), cancel: cancel}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.store, err = store.OpenSQLite(ctx, store.Path(cfg.DataDir)); err != nil {
		return nil, err
	}
	if s.broker, err = natsbroker.Start(ctx, natsbroker.Config{StoreDir: filepath.Join(cfg.DataDir, "nats"), Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	for name, path := range cfg.Sources {
		if err := s.addSource(name, path); err != nil {
			return nil, err
		}
	}
	accts := accounts.New(s.store)
	pc := provision.Config{Store: s.store, Accounts: accts, DataDir: cfg.DataDir, DashboardsDir: cfg.DashboardsDir, Demo: !cfg.NoDemo, DemoOrg: cfg.DemoOrg, Logger: cfg.Logger}
	if cfg.Admin != nil {
		pc.Admin = &provision.Admin{Email: cfg.Admin.Email, Password: cfg.Admin.Password}
	}
	prov, err := provision.Run(ctx, pc)
	if err != nil {
		return nil, err
	}
	s.notes = prov.Notes
	if prov.DemoDB != "" {
		if err := s.addSource("demo", prov.DemoDB); err != nil {
			return nil, err
		}
		if !cfg.NoDemoGenerator {
			g := &demo.Generator{Path: prov.DemoDB, Rate: cfg.DemoRate, Logger: s.log}
			s.wg.Go(func() {
				if err := g.Run(runCtx); err != nil {
					s.log.Error("demo generator", "err", err)
				}
			})
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.New(reg)
	if s.rooms, err = room.Start(ctx, room.Config{NC: s.broker.Conn(), JS: s.broker.JetStream(), Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	s.dir = authz.NewDirectory(s.store)
	s.guard = authz.NewGuard(s.dir, s.store, cfg.Logger)
	s.engine = engine.New(engine.Config{Metrics: metrics, Broker: s.broker, Definitions: s.store, Querier: s.sources, States: s.store, MaxFrameBytes: natsbroker.MaxPayload, Logger: cfg.Logger})
	s.hub = live.NewHub(live.HubConfig{
		Metrics:        metrics,
		Streams:        s.engine,
		Broker:         s.broker,
		Logger:         cfg.Logger,
		OriginPatterns: cfg.OriginPatterns,
		MaxPendingOps:  cfg.MaxPendingOps,
		BatchWindow:    cfg.BatchWindow,
		WriteTimeout:   cfg.WriteTimeout,
		Authorize:      s.guard.Chart,
		Rooms:          room.NewGate(s.rooms, s.guard, s.store),
	})
	sessions := authz.NewSessions(s.dir, auth.SessionPolicy{}, s.hub)
	editor := edit.New(edit.Config{Store: s.store, Engine: s.engine, Places: s.dir, Rooms: s.rooms, Logger: cfg.Logger})
	cat, err := i18n.Load("en")
	if err != nil {
		return nil, err
	}
	s.handler, err = web.New(web.Config{
		Dashboards: s.store,
		Charts:     s.engine,
		Live:       s.hub,
		Metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Catalog:    cat,
		Ready:      s.ready,
		Logger:     cfg.Logger,
		Guard:      s.guard,
		Sessions:   sessions,
		Users:      s.store,
		Audit:      s.store,
		Limits:     web.Limits(cfg.RateLimits),
		Admin:      s.store,
		Accounts:   accts,
		Editor:     editor,
		Layouts:    editor,
		// What the start left out, for the admin pages.
		Provisioning: prov,
	})
	if err != nil {
		return nil, err
	}
	w := authz.NewWatcher(authz.WatchConfig{Dir: s.dir, Sessions: sessions, Conns: s.hub, Logger: cfg.Logger})
	s.wg.Go(func() { w.Run(runCtx) })
	return s, nil
}

// addSource opens the SQLite database at path as data source name.
func (s *Server) addSource(name, path string) error {
	db, err := source.OpenSQLite(name, path)
	if err != nil {
		return err
	}
	if err := s.sources.Add(db); err != nil {
		db.Close()
		return err
	}
	return nil
}

func (s *Server) ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("metadata db: %w", err)
	}
	return s.broker.Ready(ctx)
}

// Handler returns the server's HTTP handler: pages, assets, API, /live and
// health checks.
func (s *Server) Handler() http.Handler { return s.handler }

// Notes are lines for the person who started the server: how to sign in
// (the demo users), or how to create the first admin.
func (s *Server) Notes() []string { return s.notes }

// Serve serves HTTP on ln until ctx ends, then shuts the HTTP server down
// gracefully. It does not Close the Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Live connections are hijacked and not closed by Shutdown; the hub
	// closes them, then Shutdown waits for the other requests.
	s.hub.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc
	return err
}

// Close stops the server's goroutines and closes its databases and broker.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		if s.hub != nil {
			s.hub.Close()
		}
		if s.rooms != nil {
			s.rooms.Close()
		}
		if s.engine != nil {
			s.engine.Close()
		}
		s.wg.Wait()
		if s.broker != nil {
			s.broker.Close()
		}
		_ = s.sources.Close()
		if s.store != nil {
			_ = s.store.Close()
		}
	})
	return nil
}

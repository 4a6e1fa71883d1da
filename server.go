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
	"github.com/ashreports/ashreports/internal/edge"
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
	// Edge bounds what clients may hold of the server, signed in or not:
	// connections, request deadlines and password hashes in flight
	// (docs/security.md#limits); zero fields take defaults.
	Edge Edge
	// Queries bound the data source queries of charts and of editors'
	// previews; zero fields take defaults.
	Queries QueryLimits
	Logger  *slog.Logger
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

// Edge bounds what a client may hold of the server before anyone knows
// who it is. Zero fields take the defaults. Serve applies the connection
// caps and deadlines; an embedder serving Handler on its own http.Server
// sets its own.
type Edge struct {
	// MaxConns is the most open connections in all, HTTP and live
	// sockets; past it a new connection is closed at accept. 19,000: below
	// a common open-file limit of 20,000, with room for the metadata
	// database, the broker's files and NATS.
	MaxConns int
	// MaxConnsPerAddr is the most open connections of one client address
	// (IPv6 by its /64). 12,000: above the 10,000 viewers per source
	// address of `ashreports bench` plus its publishers, and high enough
	// for a proxy whose clients all share its address, while one address
	// still leaves 7,000 to the others.
	MaxConnsPerAddr int
	// HeaderTimeout is how long a request's headers may take to arrive;
	// 10s.
	HeaderTimeout time.Duration
	// BodyTimeout is how long a request's body may take to arrive once
	// its headers have; 30s (a 1 MiB body at 35 KB/s).
	BodyTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request; 120s.
	IdleTimeout time.Duration
	// PasswordHashes is how many password hashes (sign-ins) may run at
	// once, 19 MiB each; the number of CPUs, at most 4.
	PasswordHashes int
	// PasswordHashWait is how long a sign-in waits for a hash to finish
	// before it is refused with 429 and Retry-After; 1s.
	PasswordHashWait time.Duration
}

// withDefaults returns e with its zero fields set to the defaults.
func (e Edge) withDefaults() Edge {
	orDefault(&e.MaxConns, 19000)
	orDefault(&e.MaxConnsPerAddr, 12000)
	orDefault(&e.PasswordHashes, auth.DefaultMaxHashes())
	orDefault(&e.HeaderTimeout, 10*time.Second)
	orDefault(&e.BodyTimeout, 30*time.Second)
	orDefault(&e.IdleTimeout, 120*time.Second)
	orDefault(&e.PasswordHashWait, auth.DefaultHashWait)
	return e
}

// orDefault sets *v to d when it is zero or less.
func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// QueryLimits bound data source queries (docs/security.md#limits). Zero
// fields take the defaults. A result past a size limit is refused with
// too_large; a query that finds no free slot within QueueWait with
// unavailable.
type QueryLimits struct {
	// Timeout is how long one query may run; 5s.
	Timeout time.Duration
	// MaxRows is the rows of one result; 10,000.
	MaxRows int
	// MaxColumns is the columns of one result; 64.
	MaxColumns int
	// MaxResultBytes is the bytes of one result's cells, counted as its
	// rows are read; 4 MiB.
	MaxResultBytes int
	// MaxValueBytes is the longest string or blob SQLite may make while it
	// runs a query; 1 MiB. A cell returned is at most 4 KiB.
	MaxValueBytes int
	// MaxRunning is the queries running at once on all sources; 4.
	MaxRunning int
	// MaxRunningPerSource is the queries running at once on one source; 2.
	MaxRunningPerSource int
	// QueueWait is how long a query waits for a slot; 2s.
	QueueWait time.Duration
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
	notes   []string               // see Notes
	edge    Edge                   // with defaults
	refused *prometheus.CounterVec // connections closed at accept

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
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.New(reg)
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{log: cfg.Logger, sources: source.NewRegistry(source.Config{Limits: source.Limits(cfg.Queries), Metrics: metrics}), edge: cfg.Edge.withDefaults(), cancel: cancel}
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
		if _, err := s.sources.OpenSQLite(name, path); err != nil {
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
		if _, err := s.sources.OpenSQLite("demo", prov.DemoDB); err != nil {
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
	edgeMetrics := telemetry.NewEdge(reg)
	s.refused = edgeMetrics.ConnsRefused
	if s.rooms, err = room.Start(ctx, room.Config{NC: s.broker.Conn(), JS: s.broker.JetStream(), Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	s.dir = authz.NewDirectory(s.store)
	s.guard = authz.NewGuard(s.dir, s.store, cfg.Logger)
	s.engine = engine.New(engine.Config{Metrics: metrics, Broker: s.broker, Definitions: s.store, Querier: s.sources, States: s.store, MaxFrameBytes: natsbroker.MaxPayload, MaxUnsaved: natsbroker.DefaultHistoryPerStream / 2, Logger: cfg.Logger})
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
		Passwords:  auth.NewHasher(auth.HasherConfig{Max: s.edge.PasswordHashes, Wait: s.edge.PasswordHashWait, Refused: edgeMetrics.HashesRefused}),
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
// gracefully. It does not Close the Server. Connections past the caps of
// Config.Edge are closed at accept; requests get its deadlines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ln = edge.Limit(ln, edge.Caps{Total: s.edge.MaxConns, PerAddr: s.edge.MaxConnsPerAddr}, s.refused)
	hs := &http.Server{
		Handler:           edge.BodyDeadline(s.handler, s.edge.BodyTimeout),
		ReadHeaderTimeout: s.edge.HeaderTimeout,
		IdleTimeout:       s.edge.IdleTimeout,
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

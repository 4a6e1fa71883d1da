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

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/demo"
	"github.com/ashreports/ashreports/internal/engine"
	"github.com/ashreports/ashreports/internal/i18n"
	"github.com/ashreports/ashreports/internal/live"
	"github.com/ashreports/ashreports/internal/natsbroker"
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

// RateLimits are the API's rate limits, in requests per second, with
// bursts of twice as many: Publish (the updates one user or token may
// publish; 5,000), Read (the other API requests of one user or token; 100)
// and PerIP (the API requests of one client address; 10,000). Zero fields
// take these defaults. A request over a limit gets 429 with Retry-After.
type RateLimits = web.Limits

// Server is a running AshReports instance.
type Server struct {
	log     *slog.Logger
	store   *store.Store
	ident   *identities // the store, with access cached
	broker  *natsbroker.Broker
	sources *source.Registry
	engine  *engine.Engine
	hub     *live.Hub
	rooms   *room.Rooms
	editor  *chartEditor
	handler http.Handler

	denials   *access.Denials // which denials are audited
	notes     []string        // see Notes
	demoOrgID string          // the demo's organization, when the demo runs

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

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
	s := &Server{log: cfg.Logger, sources: source.NewRegistry(), denials: access.NewDenials(), cancel: cancel}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.store, err = store.OpenSQLite(ctx, store.Path(cfg.DataDir)); err != nil {
		return nil, err
	}
	s.ident = newIdentities(s.store)
	if s.broker, err = natsbroker.Start(ctx, natsbroker.Config{StoreDir: filepath.Join(cfg.DataDir, "nats"), Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	for name, path := range cfg.Sources {
		db, err := source.OpenSQLite(name, path)
		if err != nil {
			return nil, err
		}
		if err := s.sources.Add(db); err != nil {
			db.Close()
			return nil, err
		}
	}
	if !cfg.NoDemo {
		if err := s.startDemo(ctx, runCtx, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.DashboardsDir != "" {
		if err := s.provision(ctx, cfg.DashboardsDir); err != nil {
			return nil, err
		}
	}
	if err := s.accounts(ctx, cfg); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.New(reg)
	if s.rooms, err = room.Start(ctx, room.Config{NC: s.broker.Conn(), JS: s.broker.JetStream(), Logger: cfg.Logger}); err != nil {
		return nil, err
	}
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
		Authorize:      s.authorizeChart,
		Rooms:          &roomService{s: s, rooms: s.rooms},
	})
	cat, err := i18n.Load("en")
	if err != nil {
		return nil, err
	}
	s.editor = &chartEditor{server: s, store: s.store, engine: s.engine, rooms: s.rooms, log: s.log}
	s.handler, err = web.New(web.Config{
		Dashboards:   s.store,
		Charts:       s.engine,
		Live:         s.hub,
		Metrics:      promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Catalog:      cat,
		Ready:        s.ready,
		Logger:       cfg.Logger,
		Identities:   s.ident,
		SessionEnded: s.hub.EndSession,
		Limits:       cfg.RateLimits,
		Admin:        s.store,
		Editor:       s.editor,
		Layouts:      s.editor,
		Denials:      s.denials,
	})
	if err != nil {
		return nil, err
	}
	s.wg.Go(func() { s.watchAccess(runCtx) })
	return s, nil
}

func (s *Server) startDemo(ctx, runCtx context.Context, cfg Config) error {
	path := filepath.Join(cfg.DataDir, "demo-sales.db")
	if err := demo.CreateDB(ctx, path); err != nil {
		return err
	}
	db, err := source.OpenSQLite("demo", path)
	if err != nil {
		return err
	}
	if err := s.sources.Add(db); err != nil {
		db.Close()
		return err
	}
	d, err := demo.Dashboard()
	if err != nil {
		return fmt.Errorf("demo dashboard: %w", err)
	}
	if s.demoOrgID, err = s.demoOrg(ctx, cfg, d.ID); err != nil {
		return fmt.Errorf("demo organization: %w", err)
	}
	if err := s.store.ProvisionDashboards(ctx, "demo", s.demoOrgID, []dashboard.Dashboard{d}); err != nil {
		return fmt.Errorf("demo dashboard: %w", err)
	}
	if !cfg.NoDemoGenerator {
		g := &demo.Generator{Path: path, Rate: cfg.DemoRate, Logger: s.log}
		s.wg.Go(func() {
			if err := g.Run(runCtx); err != nil {
				s.log.Error("demo generator", "err", err)
			}
		})
	}
	return nil
}

// provision makes the file-provisioned dashboards those of dir: new and
// changed ones are stored, those whose file is gone are deleted.
func (s *Server) provision(ctx context.Context, dir string) error {
	ds, err := dashboard.LoadDir(os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("dashboards dir %s: %w", dir, err)
	}
	if err := s.store.ProvisionDashboards(ctx, "file", auth.DefaultOrg, ds); err != nil {
		return fmt.Errorf("dashboards dir %s: %w", dir, err)
	}
	for _, d := range ds {
		s.log.Info("provisioned dashboard", "id", d.ID, "charts", len(d.Charts))
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

// Update is the result of a broadcast: the stream the op went to and the
// offset it got.
type Update struct {
	Chart  string
	Stream string
	Offset uint64
}

// UpdateOption is a setting of one BroadcastChartUpdate or
// StartFilteredStream call (HighPriority matters to updates only).
type UpdateOption func(*updateOptions)

type updateOptions struct {
	priority engine.Priority
	as       *Principal
}

// Principal is whom a Go API call acts for: a user, in an organization.
// A call without one acts as the program that embeds the server, which is
// trusted and not checked.
type Principal struct {
	OrgID, UserID string
}

// As makes the call act for p: BroadcastChartUpdate then needs p to hold
// the publish_data permission on the chart, and StartFilteredStream
// view_charts, checked by the same function as HTTP requests and
// sockets; a denial is an error with its code (not_found, forbidden) and
// is audited.
func As(p Principal) UpdateOption {
	return func(o *updateOptions) { o.as = &p }
}

// check authorizes a call made with As.
func (s *Server) check(ctx context.Context, o updateOptions, p access.Permission, chartID string) error {
	if o.as == nil {
		return nil
	}
	sub, err := s.ident.Subject(ctx, o.as.OrgID, o.as.UserID)
	if err != nil {
		return err
	}
	return s.authorizeChart(ctx, sub, p, chartID)
}

// HighPriority sends the update to viewers at once, without waiting for
// the batching window that lets normal updates share a WebSocket message.
func HighPriority() UpdateOption {
	return func(o *updateOptions) { o.priority = engine.High }
}

// BroadcastChartUpdate validates op, applies it to the chart's state and
// sends it to every viewer of the chart, through the same path as
// POST /api/v1/charts/{id}/updates. A *chart.FieldError names what is
// wrong with the op.
func (s *Server) BroadcastChartUpdate(ctx context.Context, chartID string, op chart.Op, opts ...UpdateOption) (Update, error) {
	var o updateOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := s.check(ctx, o, access.PublishData, chartID); err != nil {
		return Update{}, err
	}
	st, off, err := s.engine.Apply(ctx, chartID, op, o.priority)
	if err != nil {
		return Update{}, err
	}
	return Update{Chart: st.ChartID, Stream: st.ID, Offset: off}, nil
}

// FilteredStream is a chart stream kept running from Go, as a viewer keeps
// one: its query loop runs until Stop.
type FilteredStream struct {
	// ID is the stream's id, as viewers subscribing with the same filters
	// see it.
	ID   string
	stop func()
}

// Stop releases the stream; its query loop ends when it has no viewer
// either. Stop may be called more than once.
func (f *FilteredStream) Stop() { f.stop() }

// StartFilteredStream starts the stream of a SQL-bound chart with the given
// filter values (bound as query parameters) and keeps it running until
// Stop, whether or not anyone views it. Viewers that subscribe with equal
// filters share it. The query, its data source and its interval are the
// chart's; filters must be among the chart's declared parameters. It
// returns once the query has run a first time.
func (s *Server) StartFilteredStream(ctx context.Context, chartID string, filters map[string]string, opts ...UpdateOption) (*FilteredStream, error) {
	var o updateOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := s.check(ctx, o, access.ViewCharts, chartID); err != nil {
		return nil, err
	}
	st, err := s.engine.Acquire(ctx, chartID, filters)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return &FilteredStream{ID: st.ID, stop: func() { once.Do(func() { s.engine.Release(st.ID) }) }}, nil
}

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

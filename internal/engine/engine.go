package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/telemetry"
)

// Broker publishes encoded ops and keeps their history.
type Broker interface {
	// Publish sends an op frame to the subject's viewers and to the
	// history, in publish order, and returns without waiting for the
	// store; stored then waits until the history holds the frame.
	Publish(ctx context.Context, subject string, offset uint64, frame []byte, high bool) (stored func(context.Context) error, err error)
	// History calls fn with each frame the history holds for subject,
	// oldest first.
	History(ctx context.Context, subject string, fn func(offset uint64, frame []byte) error) error
}

// Priority says how urgently an op goes to viewers.
type Priority uint8

// The priorities.
const (
	// Normal ops may wait a few milliseconds to share a frame with others.
	Normal Priority = iota
	// High ops are written to viewers at once.
	High
)

// Definitions looks up chart definitions.
type Definitions interface {
	Chart(ctx context.Context, id string) (dashboard.Chart, error)
}

// ParsePriority reads a priority as the protocol and the HTTP API write
// it: "high", or "normal" or empty for normal.
func ParsePriority(s string) (Priority, error) {
	switch s {
	case "", "normal":
		return Normal, nil
	case "high":
		return High, nil
	}
	return Normal, &apperr.Error{Code: apperr.Invalid, Field: "priority", Message: fmt.Sprintf("%q is not a priority (want high or normal)", s)}
}

// Config wires an Engine.
type Config struct {
	Broker      Broker
	Definitions Definitions
	Querier     Querier
	// Metrics, when nil, are kept but registered nowhere.
	Metrics *telemetry.Metrics
	// MaxFilteredStreams bounds the filtered streams of one chart (each
	// with its own query loop); 1000 when zero.
	MaxFilteredStreams int
	// RecentFrames and RecentBytes bound the op frames each stream keeps
	// for viewers that reconnect; 512 frames and 1 MiB when zero.
	RecentFrames, RecentBytes int
	// MaxFrameBytes is the largest encoded op the broker carries; larger
	// ops are refused as too_large. 8 MiB when zero.
	MaxFrameBytes int
	// States, when set, keeps pushed charts' states across restarts: they
	// are saved every FlushInterval (1s when zero), at Close, and as soon
	// as MaxUnsaved/2 of a chart's ops are not yet saved.
	States        States
	FlushInterval time.Duration
	// MaxUnsaved is how many ops of a pushed chart may be acknowledged and
	// not yet in its saved state; past it, ops are refused as unavailable
	// until the state is saved. It must be at most the broker's history per
	// stream, so that the saved state and the history together hold every
	// acknowledged op. 5,000 when zero.
	MaxUnsaved int
	// TryTimeout bounds the run of a query that an editor tries before
	// saving (5s when zero).
	TryTimeout time.Duration
	Logger     *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Engine holds chart streams. It is safe for concurrent use.
type Engine struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	streams map[string]*stream
	// filtered counts each chart's filtered streams.
	filtered map[string]int
	// defGen counts each chart's Redefine and Forget calls: a stream made
	// from a definition read before one of them is not kept.
	defGen map[string]uint64
	// redefining holds a place per query Redefine is re-running, across
	// every chart being saved at once.
	redefining chan struct{}
	// flushNow asks the flush loop to save now.
	flushNow chan struct{}
}

// New returns an engine; Close stops its query loops.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = telemetry.Discard()
	}
	if cfg.RecentFrames == 0 {
		cfg.RecentFrames = 512
	}
	if cfg.RecentBytes == 0 {
		cfg.RecentBytes = 1 << 20
	}
	if cfg.MaxFilteredStreams == 0 {
		cfg.MaxFilteredStreams = 1000
	}
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = 8 << 20
	}
	if cfg.MaxUnsaved == 0 {
		cfg.MaxUnsaved = 5000
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.TryTimeout == 0 {
		cfg.TryTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{cfg: cfg, ctx: ctx, cancel: cancel, streams: map[string]*stream{}, filtered: map[string]int{}, defGen: map[string]uint64{},
		redefining: make(chan struct{}, redefineWorkers), flushNow: make(chan struct{}, 1)}
	if cfg.States != nil {
		e.wg.Go(e.flushLoop)
	}
	return e
}

// Close stops every query loop, saves pushed states and waits.
func (e *Engine) Close() {
	e.mu.Lock() // no query loop starts after this
	e.cancel()
	e.mu.Unlock()
	e.wg.Wait()
}

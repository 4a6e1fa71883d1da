// Package engine owns the state of every live chart stream: it validates
// and applies ops, gives each applied op the next offset of its stream, and
// publishes the encoded op through the broker. It also runs the query
// loops of SQL-bound charts, one per stream, while the stream has viewers.
//
// A stream is a chart with a set of filter values; a chart without filters
// has one stream whose id is the chart id. Ops of one stream are applied
// and published one at a time under the stream's lock, so the broker sees
// them in offset order. Lock order: Engine.mu, then stream.mu; Engine.mu is
// never held while running a query or publishing.
package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
	"github.com/ashreports/ashreports/internal/store"
	"github.com/ashreports/ashreports/internal/telemetry"
)

// Broker publishes encoded ops.
type Broker interface {
	Publish(ctx context.Context, subject string, offset uint64, frame []byte, high bool) error
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

// Querier runs a data source query.
type Querier interface {
	Query(ctx context.Context, source, sql string, params map[string]string) (chart.Table, error)
}

// States saves the state of charts that hold pushed data, so that it
// survives a restart.
type States interface {
	LoadState(ctx context.Context, chartID string) (store.SavedState, bool, error)
	SaveStates(ctx context.Context, states map[string]store.SavedState) error
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
	// are saved every FlushInterval (1s when zero) and at Close.
	States        States
	FlushInterval time.Duration
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
}

// Stream identifies a chart stream to its subscribers.
type Stream struct {
	ID      string
	ChartID string
	// Subject is the broker subject that carries the stream's ops.
	Subject string
}

type stream struct {
	Stream
	// bind is the chart's definition and the stream's parameters; Redefine
	// replaces it.
	bind atomic.Pointer[binding]
	base bool // the chart's unfiltered stream, kept while the server runs

	// Guarded by Engine.mu.
	refs  int
	ready chan struct{} // closed once the current query loop has run once
	stop  context.CancelFunc

	mu sync.Mutex // guards the fields below, and publishing
	// gen counts the stream's restarts by Redefine; a query result of an
	// earlier generation is not applied.
	gen       uint64
	epoch     string
	state     chart.State
	offset    uint64
	lastQuery [sha256.Size]byte
	lastErr   string
	snapAt    uint64
	snap      []byte
	dirty     bool // changed since last saved
	// recent holds the last published op frames, oldest first, so that a
	// viewer who reconnects gets exactly the ops it missed.
	recent      []Frame
	recentBytes int
}

// Frame is an encoded op frame and its offset.
type Frame struct {
	Offset uint64
	Data   []byte
}

// binding is what a stream shows: a chart definition and the values of its
// query's parameters. It is not changed once made.
type binding struct {
	def    dashboard.Chart
	params map[string]string
	// filters are the viewer's filters that differ from the defaults,
	// which the stream keeps when the chart is redefined.
	filters map[string]string
}

func (s *stream) def() *dashboard.Chart { return &s.bind.Load().def }

// persistent reports whether the stream's state is saved: the unfiltered
// stream of a chart without a query.
func (s *stream) persistent() bool { return s.base && s.def().Query == nil }

// errStale refuses a query result of a generation that Redefine ended.
var errStale = errors.New("the stream was redefined")

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
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.TryTimeout == 0 {
		cfg.TryTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{cfg: cfg, ctx: ctx, cancel: cancel, streams: map[string]*stream{}, filtered: map[string]int{}, defGen: map[string]uint64{},
		redefining: make(chan struct{}, redefineWorkers)}
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

// StreamID returns the id of a chart's stream with the given effective
// filters (those that differ from the defaults).
func StreamID(chartID string, effective map[string]string) string {
	if len(effective) == 0 {
		return chartID
	}
	v := url.Values{}
	for k, val := range effective {
		v.Set(k, val)
	}
	return chartID + "?" + v.Encode()
}

func subject(chartID, streamID string) string {
	if chartID == streamID {
		return "ash.chart." + chartID + "._"
	}
	sum := sha256.Sum256([]byte(streamID))
	return "ash.chart." + chartID + "." + hex.EncodeToString(sum[:8])
}

func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lookup returns the stream for a chart and filters, creating it (without
// a viewer) if needed.
func (e *Engine) lookup(ctx context.Context, chartID string, filters map[string]string) (*stream, error) {
	if !dashboard.ValidID(chartID) {
		return nil, apperr.Errorf(apperr.NotFound, "no chart %q", chartID)
	}
	if len(filters) == 0 {
		// The common case, every push: no definition lookup.
		e.mu.Lock()
		s, ok := e.streams[chartID]
		e.mu.Unlock()
		if ok {
			return s, nil
		}
	}
	e.mu.Lock()
	gen := e.defGen[chartID]
	e.mu.Unlock()
	def, err := e.cfg.Definitions.Chart(ctx, chartID)
	if err != nil {
		return nil, err
	}
	params, eff, err := def.ResolveFilters(filters)
	if err != nil {
		return nil, err
	}
	id := StreamID(chartID, eff)
	e.mu.Lock()
	s, ok := e.streams[id]
	e.mu.Unlock()
	if ok {
		return s, nil
	}
	s = &stream{
		Stream: Stream{ID: id, ChartID: chartID, Subject: subject(chartID, id)},
		base:   len(eff) == 0,
		epoch:  newEpoch(),
		state:  chart.State{Config: def.Config, Data: emptyTable()},
	}
	s.bind.Store(&binding{def: def, params: params, filters: eff})
	if s.persistent() && e.cfg.States != nil {
		if err := e.restore(ctx, s); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	if e.defGen[chartID] != gen {
		// Redefined or forgotten since the definition was read: read it
		// again.
		e.mu.Unlock()
		return e.lookup(ctx, chartID, filters)
	}
	defer e.mu.Unlock()
	if other, ok := e.streams[id]; ok { // created meanwhile
		return other, nil
	}
	if !s.base {
		if e.filtered[chartID] >= e.cfg.MaxFilteredStreams {
			return nil, apperr.Errorf(apperr.Unavailable, "chart %q has %d filtered streams already, the most it may have", chartID, e.cfg.MaxFilteredStreams)
		}
		e.filtered[chartID]++
	}
	e.streams[id] = s
	return s, nil
}

// restore loads a pushed chart's saved state. Saved data that no longer
// fits the chart's definition (its encodings changed) is dropped, and said
// so in the log.
func (e *Engine) restore(ctx context.Context, s *stream) error {
	saved, ok, err := e.cfg.States.LoadState(ctx, s.ChartID)
	if err != nil || !ok {
		return err
	}
	var st chart.State
	if err := json.Unmarshal(saved.State, &st); err != nil {
		e.cfg.Logger.Warn("saved chart state unreadable; starting empty", "chart", s.ChartID, "err", err)
		return nil
	}
	// The definition's config wins over the saved one; the data is kept
	// when it fits it.
	restored := chart.State{Config: s.def().Config, Data: st.Data}
	if err := restored.Validate(); err != nil {
		e.cfg.Logger.Warn("saved chart data does not fit the chart's definition; starting empty", "chart", s.ChartID, "err", err)
		return nil
	}
	s.state, s.offset = restored, saved.Offset
	return nil
}

func (e *Engine) flushLoop() {
	t := time.NewTicker(e.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			e.flush() // the last changes before shutdown
			return
		case <-t.C:
			e.flush()
		}
	}
}

// flush saves the states of persistent streams changed since the last
// flush.
func (e *Engine) flush() {
	e.mu.Lock()
	var changed []*stream
	for _, s := range e.streams {
		if s.persistent() {
			changed = append(changed, s)
		}
	}
	e.mu.Unlock()
	batch := map[string]store.SavedState{}
	for _, s := range changed {
		s.mu.Lock()
		if s.dirty {
			b, err := json.Marshal(&s.state)
			if err == nil {
				batch[s.ChartID] = store.SavedState{Offset: s.offset, State: b}
				s.dirty = false
			}
		}
		s.mu.Unlock()
	}
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cfg.States.SaveStates(ctx, batch); err != nil {
		e.cfg.Logger.Error("save chart states", "charts", len(batch), "err", err)
		for _, s := range changed {
			if _, ok := batch[s.ChartID]; ok {
				s.mu.Lock()
				s.dirty = true // try again at the next flush
				s.mu.Unlock()
			}
		}
	}
}

// Acquire registers a viewer of a chart's stream with the given filters
// and returns the stream. For a SQL-bound chart, the first viewer starts
// the query loop and Acquire waits for its first run, so that the snapshot
// a viewer gets holds data. Each Acquire is paired with a Release.
func (e *Engine) Acquire(ctx context.Context, chartID string, filters map[string]string) (Stream, error) {
	s, err := e.lookup(ctx, chartID, filters)
	if err != nil {
		return Stream{}, err
	}
	e.mu.Lock()
	if e.streams[s.ID] != s { // released and dropped in between: try again
		e.mu.Unlock()
		return e.Acquire(ctx, chartID, filters)
	}
	s.refs++
	if s.refs == 1 && s.def().Query != nil {
		e.startQueries(s)
	}
	ready := s.ready
	e.mu.Unlock()
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			e.Release(s.ID)
			return Stream{}, apperr.Errorf(apperr.Unavailable, "chart %q: its query did not answer in time", chartID)
		}
	}
	return s.Stream, nil
}

// Release ends one viewer's use of a stream. The last viewer stops the
// query loop; a filtered stream is then dropped.
func (e *Engine) Release(streamID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.streams[streamID]
	if !ok || s.refs == 0 {
		return
	}
	s.refs--
	if s.refs > 0 {
		return
	}
	if s.stop != nil {
		s.stop()
		s.stop, s.ready = nil, nil
	}
	if !s.base {
		delete(e.streams, streamID)
		if e.filtered[s.ChartID]--; e.filtered[s.ChartID] == 0 {
			delete(e.filtered, s.ChartID)
		}
	}
}

// Apply applies op to the chart's unfiltered stream and publishes it. It
// returns the stream and the op's offset. Charts bound to a query take no
// pushed ops.
func (e *Engine) Apply(ctx context.Context, chartID string, op chart.Op, pri Priority) (Stream, uint64, error) {
	s, err := e.lookup(ctx, chartID, nil)
	if err != nil {
		return Stream{}, 0, err
	}
	if s.def().Query != nil {
		// Its next query result would overwrite what was pushed, and a
		// pushed config could make every later result fail.
		return Stream{}, 0, apperr.Errorf(apperr.Invalid, "chart %q gets its data from a SQL query; updates cannot be pushed to it", chartID)
	}
	off, err := e.apply(ctx, s, op, pri, anyGen)
	return s.Stream, off, err
}

// anyGen applies an op whatever the stream's generation.
const anyGen = ^uint64(0)

// opFrame is the live protocol's op frame (docs/protocol.md).
type opFrame struct {
	Type   string   `json:"type"`
	Stream string   `json:"stream"`
	Chart  string   `json:"chart"`
	Epoch  string   `json:"epoch"`
	Offset uint64   `json:"offset"`
	TS     int64    `json:"ts"`
	Op     chart.Op `json:"op"`
}

type snapshotFrame struct {
	Type   string       `json:"type"`
	Stream string       `json:"stream"`
	Chart  string       `json:"chart"`
	Epoch  string       `json:"epoch"`
	Offset uint64       `json:"offset"`
	State  *chart.State `json:"state"`
}

// apply checks, publishes and applies op, when the stream is still in
// generation gen (or gen is anyGen).
func (e *Engine) apply(ctx context.Context, s *stream, op chart.Op, pri Priority, gen uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		// A stopped query loop or a gone client: nothing to apply.
		return 0, apperr.Errorf(apperr.Unavailable, "update cancelled")
	}
	if gen != anyGen && gen != s.gen {
		return 0, errStale
	}
	// Check first and apply only once the op is broadcast, so that the
	// state never holds an op its viewers did not get.
	if err := s.state.Check(op); err != nil {
		return 0, err
	}
	offset := s.offset + 1
	frame, err := e.publish(ctx, s, s.epoch, offset, op, pri)
	if err != nil {
		return 0, err
	}
	if err := s.state.Apply(op); err != nil {
		// Check passed under the same lock, so this cannot happen; the
		// viewers got the op, so they will see the gap and resubscribe.
		e.cfg.Logger.Error("apply a checked op", "stream", s.ID, "offset", offset, "err", err)
	}
	s.offset, s.dirty = offset, true
	e.cfg.Metrics.UpdatesIn.Inc()
	s.remember(Frame{offset, frame}, e.cfg.RecentFrames, e.cfg.RecentBytes)
	return offset, nil
}

// publish encodes op as the stream's op frame of epoch and offset and
// publishes it. The stream's lock is held.
func (e *Engine) publish(ctx context.Context, s *stream, epoch string, offset uint64, op chart.Op, pri Priority) ([]byte, error) {
	frame, err := encode(opFrame{Type: "op", Stream: s.ID, Chart: s.ChartID, Epoch: epoch, Offset: offset, TS: e.cfg.Now().UnixMilli(), Op: op})
	if err != nil {
		return nil, fmt.Errorf("encode op: %w", err)
	}
	if len(frame) > e.cfg.MaxFrameBytes {
		return nil, apperr.Errorf(apperr.TooLarge, "the update encodes to %d bytes, more than the limit of %d bytes for one update", len(frame), e.cfg.MaxFrameBytes)
	}
	// The op is committed once published, even if the caller goes away
	// meanwhile.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.cfg.Broker.Publish(pctx, s.Subject, offset, frame, pri == High); err != nil {
		e.cfg.Logger.Error("publish op", "stream", s.ID, "offset", offset, "err", err)
		return nil, apperr.Errorf(apperr.Unavailable, "the update could not be broadcast; it was not applied")
	}
	return frame, nil
}

// remember adds f to the recent frames, dropping the oldest past either
// limit.
func (s *stream) remember(f Frame, maxFrames, maxBytes int) {
	s.recent = append(s.recent, f)
	s.recentBytes += len(f.Data)
	drop := 0
	for len(s.recent)-drop > maxFrames || (s.recentBytes > maxBytes && drop < len(s.recent)) {
		s.recentBytes -= len(s.recent[drop].Data)
		drop++
	}
	if drop > 0 {
		// Copy down rather than reslice, so the array does not grow.
		n := copy(s.recent, s.recent[drop:])
		clear(s.recent[n:])
		s.recent = s.recent[:n]
	}
}

// Since returns the op frames of a stream after offset, when the stream
// is still in epoch and still holds all of them, and the stream's current
// offset. ok is false when the viewer must take a snapshot instead.
func (e *Engine) Since(streamID, epoch string, offset uint64) (frames []Frame, current uint64, ok bool) {
	e.mu.Lock()
	s, found := e.streams[streamID]
	e.mu.Unlock()
	if !found {
		return nil, 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch || offset > s.offset {
		return nil, s.offset, false
	}
	if offset == s.offset {
		return nil, s.offset, true
	}
	if len(s.recent) == 0 || s.recent[0].Offset > offset+1 {
		return nil, s.offset, false
	}
	i := int(offset + 1 - s.recent[0].Offset)
	return append([]Frame(nil), s.recent[i:]...), s.offset, true
}

// encode is json.Marshal without HTML escaping: frames go to programs and
// to the browser runtime, never into HTML, and escaping <, > and & would
// make them up to six times larger.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Snapshot returns the stream's snapshot frame and its offset.
func (e *Engine) Snapshot(streamID string) ([]byte, uint64, error) {
	e.mu.Lock()
	s, ok := e.streams[streamID]
	e.mu.Unlock()
	if !ok {
		return nil, 0, apperr.Errorf(apperr.NotFound, "no stream %q", streamID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil || s.snapAt != s.offset {
		b, err := encode(snapshotFrame{Type: "snapshot", Stream: s.ID, Chart: s.ChartID, Epoch: s.epoch, Offset: s.offset, State: &s.state})
		if err != nil {
			return nil, 0, fmt.Errorf("encode snapshot: %w", err)
		}
		s.snap, s.snapAt = b, s.offset
	}
	return s.snap, s.offset, nil
}

// State returns a copy of a chart's unfiltered state and its offset. A
// SQL-bound chart that no viewer keeps running runs its query first, as
// for a first viewer, so that the state is current.
func (e *Engine) State(ctx context.Context, chartID string) (chart.State, uint64, error) {
	s, err := e.lookup(ctx, chartID, nil)
	if err != nil {
		return chart.State{}, 0, err
	}
	e.mu.Lock()
	idle := s.refs == 0 && s.def().Query != nil
	e.mu.Unlock()
	if idle {
		v, err := e.Acquire(ctx, chartID, nil)
		if err != nil {
			return chart.State{}, 0, err
		}
		defer e.Release(v.ID)
		// The stream Acquire ran, which replaces the one looked up if that
		// was dropped in between.
		e.mu.Lock()
		s = e.streams[v.ID]
		e.mu.Unlock()
		if s == nil {
			return chart.State{}, 0, apperr.Errorf(apperr.NotFound, "chart %q was removed", chartID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := chart.State{Config: s.state.Config, Data: s.state.Data.Clone()}
	return st, s.offset, nil
}

// startQueries starts the stream's query loop, unless the engine is
// closed. Engine.mu is held.
func (e *Engine) startQueries(s *stream) {
	if e.ctx.Err() != nil {
		return
	}
	loopCtx, stop := context.WithCancel(e.ctx)
	s.stop, s.ready = stop, make(chan struct{})
	e.wg.Add(1)
	go e.queryLoop(loopCtx, s, s.ready)
}

func (e *Engine) queryLoop(ctx context.Context, s *stream, ready chan struct{}) {
	defer e.wg.Done()
	e.cfg.Metrics.ActiveQueries.Inc()
	defer e.cfg.Metrics.ActiveQueries.Dec()
	t := time.NewTicker(time.Duration(s.def().Query.Interval))
	defer t.Stop()
	for first := true; ; first = false {
		e.refresh(ctx, s)
		if first {
			close(ready)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh runs the stream's query and, when the result differs from the
// last one, replaces the stream's table with it.
func (e *Engine) refresh(ctx context.Context, s *stream) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	b := s.bind.Load()
	t, sum, err := e.run(ctx, b.def.Query, b.params)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		e.cfg.Metrics.QueryRuns.WithLabelValues("error").Inc()
		e.queryFailed(s, err)
		return
	}
	s.mu.Lock()
	if gen != s.gen {
		s.mu.Unlock()
		return
	}
	same := sum == s.lastQuery
	// Marked as seen before applying: a result the chart rejects is
	// reported once, not again at every interval until the data changes.
	s.lastQuery = sum
	if same {
		s.lastErr = ""
	}
	s.mu.Unlock()
	if same {
		e.cfg.Metrics.QueryRuns.WithLabelValues("same").Inc()
		return
	}
	e.cfg.Metrics.QueryRuns.WithLabelValues("changed").Inc()
	if _, err := e.apply(ctx, s, chart.Op{Kind: chart.OpReplace, Data: &t}, Normal, gen); err != nil {
		if !errors.Is(err, errStale) {
			e.queryFailed(s, err)
		}
		return
	}
	s.mu.Lock()
	s.lastErr = ""
	s.mu.Unlock()
}

// queryFailed logs a query error once per distinct message, so that a
// broken query does not flood the log every interval.
func (e *Engine) queryFailed(s *stream, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg := err.Error(); msg != s.lastErr {
		s.lastErr = msg
		e.cfg.Logger.Warn("chart query failed", "stream", s.ID, "err", msg)
	}
}

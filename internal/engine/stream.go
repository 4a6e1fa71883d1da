package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
)

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
	state     chart.Sized
	offset    uint64
	lastQuery [sha256.Size]byte
	lastErr   string
	snapAt    uint64
	snap      []byte
	dirty     bool   // changed since last saved
	saved     uint64 // the offset of the saved state
	// recent holds the last published op frames, oldest first, so that a
	// viewer who reconnects gets exactly the ops it missed.
	recent      []Frame
	recentBytes int
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
		state:  chart.NewSized(chart.State{Config: def.Config, Data: emptyTable()}),
	}
	s.bind.Store(&binding{def: def, params: params, filters: eff})
	if err := e.restore(ctx, s); err != nil {
		return nil, err
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
		b, err := encode(snapshotFrame{Type: "snapshot", Stream: s.ID, Chart: s.ChartID, Epoch: s.epoch, Offset: s.offset, State: &s.state.State})
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

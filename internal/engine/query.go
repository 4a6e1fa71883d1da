package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// Querier runs a data source query.
type Querier interface {
	Query(ctx context.Context, source, sql string, params map[string]string) (chart.Table, error)
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

func emptyTable() chart.Table { return chart.Table{Columns: []chart.Column{}, Rows: [][]any{}} }

// run runs q with params and casts its result; it returns the result and
// the hash that tells whether it changed.
func (e *Engine) run(ctx context.Context, q *dashboard.Query, params map[string]string) (chart.Table, [sha256.Size]byte, error) {
	t, err := e.cfg.Querier.Query(ctx, q.Source, q.SQL, maps.Clone(params))
	if err == nil {
		err = q.Cast(&t)
	}
	if err != nil {
		return t, [sha256.Size]byte{}, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return t, [sha256.Size]byte{}, err
	}
	return t, sha256.Sum256(b), nil
}

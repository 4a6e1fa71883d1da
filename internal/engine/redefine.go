package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"sync"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
	"github.com/ashreports/ashreports/internal/dashboard"
)

// Try returns the state a chart would show with definition def, without
// changing anything: it runs def's query with its default filters, within
// Config.TryTimeout, or takes the data the chart holds when it has no
// query, and checks that the config fits the data. def must be valid
// (dashboard.Chart.Validate: the caller checks it once, before trying and
// saving). Errors name the definition's field at fault, such as query.sql
// with the database's message.
func (e *Engine) Try(ctx context.Context, def dashboard.Chart) (chart.State, error) {
	data := emptyTable()
	if q := def.Query; q != nil {
		params, _, err := def.ResolveFilters(nil)
		if err != nil {
			return chart.State{}, err
		}
		timeout := e.cfg.TryTimeout
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		t, err := e.cfg.Querier.Query(ctx, q.Source, q.SQL, params)
		if err != nil {
			e := apperr.From(err)
			if ctx.Err() != nil {
				e = apperr.Errorf(apperr.Invalid, "the query did not answer within %s", timeout)
			}
			switch e.Code {
			case apperr.NotFound: // no such source
				return chart.State{}, &apperr.Error{Code: apperr.Invalid, Field: "query.source", Message: e.Message}
			case apperr.TooLarge, apperr.Unavailable: // a query limit, named by the message
				return chart.State{}, &apperr.Error{Code: e.Code, Field: "query.sql", Message: e.Message}
			}
			return chart.State{}, &apperr.Error{Code: apperr.Invalid, Field: "query.sql", Message: e.Message}
		}
		if err := q.Cast(&t); err != nil {
			return chart.State{}, &apperr.Error{Code: apperr.Invalid, Field: "query.types", Message: apperr.From(err).Message}
		}
		data = t
	} else if st, _, err := e.State(ctx, def.ID); err == nil {
		data = st.Data
	} else if apperr.CodeOf(err) != apperr.NotFound {
		return chart.State{}, err
	}
	if len(data.Columns) > 0 {
		if err := def.Config.ValidateFor(data.Columns); err != nil {
			return chart.State{}, chart.Under("config", err)
		}
	}
	st := chart.State{Config: def.Config, Data: data}
	st.Trim()
	return st, nil
}

// Redefine puts a chart's new definition into its streams, and their
// viewers see it at once. A new config for the same query (type, title,
// encodings, colours) goes to viewers as a config op. A new query, or a
// config the data does not fit, restarts each stream in a new epoch with
// the new query's result (or the pushed data that still fits): viewers see
// the epoch change and take a snapshot.
func (e *Engine) Redefine(ctx context.Context, def dashboard.Chart) error {
	// Its queries end with the engine, even when the caller's context
	// does not.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.ctx, cancel)()
	e.mu.Lock()
	e.defGen[def.ID]++
	var streams []*stream
	for _, s := range e.streams {
		if s.ChartID == def.ID {
			streams = append(streams, s)
		}
	}
	e.mu.Unlock()
	// A new query runs once per stream: a few at a time, so that a chart
	// with many viewers' filters is redefined in a fraction of the time,
	// and no more than that however many charts are saved at once.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range streams {
		e.redefining <- struct{}{}
		wg.Go(func() {
			defer func() { <-e.redefining }()
			if err := e.redefine(ctx, s, def); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// redefineWorkers is how many streams Redefine restarts at once, in all.
const redefineWorkers = 8

func (e *Engine) redefine(ctx context.Context, s *stream, def dashboard.Chart) error {
	old := s.bind.Load()
	if reflect.DeepEqual(old.def.Query, def.Query) {
		s.bind.Store(&binding{def: def, params: old.params, filters: old.filters})
		if reflect.DeepEqual(old.def.Config, def.Config) {
			return nil // only the width changed, which is the page's
		}
		cfg := def.Config
		_, err := e.apply(ctx, s, chart.Op{Kind: chart.OpConfig, Config: &cfg}, High, anyGen)
		if apperr.CodeOf(err) != apperr.Invalid {
			return err
		}
		// The data does not fit the new config: start over.
	}
	// The stream keeps its viewers' filters that the new query still has;
	// the other parameters take the new defaults.
	kept := map[string]string{}
	if def.Query != nil {
		for k, v := range old.filters {
			if _, ok := def.Query.Params[k]; ok {
				kept[k] = v
			}
		}
	}
	params, _, err := def.ResolveFilters(kept)
	if err != nil {
		return err
	}
	b := &binding{def: def, params: params, filters: kept}
	e.mu.Lock()
	running := s.refs > 0
	e.mu.Unlock()
	data := emptyTable()
	var sum [sha256.Size]byte
	if def.Query != nil && running {
		t, h, err := e.run(ctx, def.Query, params)
		if err != nil {
			e.queryFailed(s, err) // the query loop tries again
		} else {
			data, sum = t, h
		}
	}
	s.mu.Lock()
	if def.Query == nil && def.Config.ValidateFor(s.state.Data.Columns) == nil {
		data = s.state.Data // pushed data that fits the new config
	}
	st := chart.State{Config: def.Config, Data: data}
	st.Trim()
	if st.Validate() != nil {
		st.Data = emptyTable()
	}
	epoch, offset := newEpoch(), s.offset+1
	cfg := def.Config
	// The first frame of the new epoch tells viewers to take a snapshot.
	frame, stored, err := e.publish(ctx, s, epoch, offset, chart.Op{Kind: chart.OpConfig, Config: &cfg}, High)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.bind.Store(b)
	s.gen++
	s.epoch, s.offset, s.state = epoch, offset, chart.NewSized(st)
	s.lastQuery, s.lastErr = sum, ""
	s.forgetRecent()
	s.snap = nil
	s.remember(Frame{offset, frame}, e.cfg.RecentFrames, e.cfg.RecentBytes)
	s.dirty = true
	s.mu.Unlock()
	if err := e.awaitStored(ctx, s, offset, stored); err != nil {
		e.cfg.Logger.Warn("redefined chart's config not stored", "stream", s.ID, "err", err)
	}

	// The query loop, if any, starts again with the new query.
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.refs > 0 {
		if s.stop != nil {
			s.stop()
			s.stop, s.ready = nil, nil
		}
		if def.Query != nil {
			e.startQueries(s)
		}
	}
	return nil
}

// Forget drops a removed chart's streams: their query loops stop, and a
// pushed chart's state is not saved again. Viewers still subscribed get
// nothing more; their Release is then a no-op.
func (e *Engine) Forget(chartID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.defGen[chartID]++
	for id, s := range e.streams {
		if s.ChartID != chartID {
			continue
		}
		if s.stop != nil {
			s.stop()
			s.stop, s.ready = nil, nil
		}
		delete(e.streams, id)
	}
	delete(e.filtered, chartID)
}

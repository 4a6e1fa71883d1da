package ashreports

import (
	"context"
	"sync"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/engine"
)

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

// HighPriority sends the update to viewers at once, without waiting for
// the batching window that lets normal updates share a WebSocket message.
func HighPriority() UpdateOption {
	return func(o *updateOptions) { o.priority = engine.High }
}

func options(opts []UpdateOption) updateOptions {
	var o updateOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// check authorizes a call made with As.
func (s *Server) check(ctx context.Context, o updateOptions, p access.Permission, chartID string) error {
	if o.as == nil {
		return nil
	}
	sub, err := s.dir.Subject(ctx, o.as.OrgID, o.as.UserID)
	if err != nil {
		return err
	}
	return s.guard.Chart(ctx, sub, p, chartID)
}

// BroadcastChartUpdate validates op, applies it to the chart's state and
// sends it to every viewer of the chart, through the same path as
// POST /api/v1/charts/{id}/updates. A *chart.FieldError names what is
// wrong with the op.
func (s *Server) BroadcastChartUpdate(ctx context.Context, chartID string, op chart.Op, opts ...UpdateOption) (Update, error) {
	o := options(opts)
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
	if err := s.check(ctx, options(opts), access.ViewCharts, chartID); err != nil {
		return nil, err
	}
	st, err := s.engine.Acquire(ctx, chartID, filters)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return &FilteredStream{ID: st.ID, stop: func() { once.Do(func() { s.engine.Release(st.ID) }) }}, nil
}

package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
)

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
// generation gen (or gen is anyGen), and returns once the broker has
// stored it. The store is awaited after the stream's lock is released, so
// that the ops of one stream share the store's round trips.
func (e *Engine) apply(ctx context.Context, s *stream, op chart.Op, pri Priority, gen uint64) (uint64, error) {
	s.mu.Lock()
	if err := ctx.Err(); err != nil {
		// A stopped query loop or a gone client: nothing to apply.
		s.mu.Unlock()
		return 0, apperr.Errorf(apperr.Unavailable, "update cancelled")
	}
	if gen != anyGen && gen != s.gen {
		s.mu.Unlock()
		return 0, errStale
	}
	if s.persistent() && s.offset-s.saved >= uint64(e.cfg.MaxUnsaved) {
		// Past this, the broker's history could drop an acknowledged op
		// before the saved state holds it.
		s.mu.Unlock()
		e.kickFlush()
		e.cfg.Metrics.UpdatesRefused.WithLabelValues("unsaved").Inc()
		return 0, apperr.Errorf(apperr.Unavailable, "chart %q has %d updates not yet saved, the most it may have; try again shortly", s.ChartID, e.cfg.MaxUnsaved)
	}
	// Check first and apply only once the op is broadcast, so that the
	// state never holds an op its viewers did not get.
	if err := s.state.Check(op); err != nil {
		s.mu.Unlock()
		if be := (*chart.BudgetError)(nil); errors.As(err, &be) {
			e.cfg.Metrics.UpdatesRefused.WithLabelValues("budget").Inc()
		}
		return 0, err
	}
	offset := s.offset + 1
	frame, stored, err := e.publish(ctx, s, s.epoch, offset, op, pri)
	if err != nil {
		s.mu.Unlock()
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
	snapshot := s.persistent() && s.offset-s.saved >= uint64(e.cfg.MaxUnsaved/2)
	s.mu.Unlock()
	if snapshot {
		e.kickFlush()
	}
	if err := e.awaitStored(ctx, s, offset, stored); err != nil {
		return 0, err
	}
	return offset, nil
}

// publish encodes op as the stream's op frame of epoch and offset and
// publishes it; stored waits until the broker has stored it. The stream's
// lock is held.
func (e *Engine) publish(ctx context.Context, s *stream, epoch string, offset uint64, op chart.Op, pri Priority) (frame []byte, stored func(context.Context) error, err error) {
	frame, err = encode(opFrame{Type: "op", Stream: s.ID, Chart: s.ChartID, Epoch: epoch, Offset: offset, TS: e.cfg.Now().UnixMilli(), Op: op})
	if err != nil {
		return nil, nil, fmt.Errorf("encode op: %w", err)
	}
	if len(frame) > e.cfg.MaxFrameBytes {
		return nil, nil, apperr.Errorf(apperr.TooLarge, "the update encodes to %d bytes, more than the limit of %d bytes for one update", len(frame), e.cfg.MaxFrameBytes)
	}
	// The op is committed once published, even if the caller goes away
	// meanwhile.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	stored, err = e.cfg.Broker.Publish(pctx, s.Subject, offset, frame, pri == High)
	if err != nil {
		e.cfg.Logger.Error("publish op", "stream", s.ID, "offset", offset, "err", err)
		return nil, nil, apperr.Errorf(apperr.Unavailable, "the update could not be broadcast; it was not applied")
	}
	return frame, stored, nil
}

// storeTimeout bounds the wait for the broker to take an op and to store it.
const storeTimeout = 10 * time.Second

// awaitStored waits until the broker has stored the op at offset. An op
// it did not store was broadcast and applied all the same; a pushed
// chart's state is then saved at once, which keeps it after all.
func (e *Engine) awaitStored(ctx context.Context, s *stream, offset uint64, stored func(context.Context) error) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := stored(wctx); err != nil {
		e.cfg.Logger.Error("store op", "stream", s.ID, "offset", offset, "err", err)
		e.cfg.Metrics.UpdatesRefused.WithLabelValues("unstored").Inc()
		if s.persistent() {
			e.kickFlush()
		}
		return apperr.Errorf(apperr.Unavailable, "the update at offset %d was broadcast but could not be stored; it may be lost on a restart", offset)
	}
	return nil
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

package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/ashreports/ashreports/chart"
	"github.com/ashreports/ashreports/internal/apperr"
)

// SavedState is a chart's state as saved: its offset, its epoch and the
// JSON of its chart.State.
type SavedState struct {
	Offset uint64
	Epoch  string
	State  []byte
}

// States saves the state of charts that hold pushed data, so that it
// survives a restart.
type States interface {
	LoadState(ctx context.Context, chartID string) (SavedState, bool, error)
	SaveStates(ctx context.Context, states map[string]SavedState) error
}

// restore sets a new stream's epoch, offset and recent frames from the
// broker's history, and a pushed chart's state from its saved state and
// the ops after it in the history. The epoch is kept unless ops were lost:
// a viewer that resumes across a restart gets the ops it missed.
func (e *Engine) restore(ctx context.Context, s *stream) error {
	var saved SavedState
	var restored bool
	if s.persistent() && e.cfg.States != nil {
		var err error
		if saved, restored, err = e.cfg.States.LoadState(ctx, s.ChartID); err != nil {
			return err
		}
		if restored {
			restored = e.restoreState(s, saved)
		}
	}
	s.offset, s.saved = saved.Offset, saved.Offset
	r := replay{s: s, e: e, replaying: s.persistent()}
	if err := e.cfg.Broker.History(ctx, s.Subject, r.frame); err != nil {
		e.cfg.Logger.Error("read chart history", "stream", s.ID, "err", err)
		return apperr.Errorf(apperr.Unavailable, "chart %q: its history could not be read", s.ChartID)
	}
	if saved.Offset != 0 && !restored {
		r.lost = true // a saved state that was dropped
	}
	s.offset = max(s.offset, r.last)
	s.epoch = r.epoch // the last op's
	if r.last <= saved.Offset {
		s.epoch = saved.Epoch // no op since the state was saved
	}
	if r.lost || s.epoch == "" {
		if r.lost {
			e.cfg.Logger.Warn("chart history incomplete; viewers take a snapshot", "stream", s.ID, "offset", s.offset)
		}
		s.epoch = newEpoch()
		s.forgetRecent()
	}
	if len(s.recent) > 0 && s.recent[len(s.recent)-1].Offset != s.offset {
		s.forgetRecent() // they do not lead up to the state
	}
	s.dirty = s.offset != s.saved
	return nil
}

// restoreState sets a pushed chart's state from its saved state, and
// reports whether it could. Saved data that no longer fits the chart's
// definition (its encodings changed) is dropped, and said so in the log.
func (e *Engine) restoreState(s *stream, saved SavedState) bool {
	var st chart.State
	if err := json.Unmarshal(saved.State, &st); err != nil {
		e.cfg.Logger.Warn("saved chart state unreadable; starting empty", "chart", s.ChartID, "err", err)
		return false
	}
	// The definition's config wins over the saved one; the data is kept
	// when it fits it.
	restored := chart.State{Config: s.def().Config, Data: st.Data}
	if err := restored.Validate(); err != nil {
		e.cfg.Logger.Warn("saved chart data does not fit the chart's definition; starting empty", "chart", s.ChartID, "err", err)
		return false
	}
	s.state = chart.NewSized(restored)
	return true
}

// replay reads a stream's history after a restart.
type replay struct {
	e *Engine
	s *stream
	// replaying applies the ops after the saved state to the stream's.
	replaying bool
	// last is the offset of the last frame read; epoch is its epoch.
	last  uint64
	epoch string
	// lost is set when an op after the saved state is missing or does not
	// apply.
	lost bool
}

// frame takes the next frame of the history.
func (r *replay) frame(offset uint64, frame []byte) error {
	var f struct {
		Epoch string   `json:"epoch"`
		Op    chart.Op `json:"op"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		r.e.cfg.Logger.Error("stored op unreadable", "stream", r.s.ID, "offset", offset, "err", err)
		r.lost = r.lost || offset > r.s.offset
		return nil
	}
	if offset <= r.last || f.Epoch != r.epoch {
		// Published again after an earlier loss, or in a new epoch: the
		// frames before do not lead up to this one.
		r.s.forgetRecent()
	}
	if r.last != 0 && offset != r.last+1 && offset > r.s.offset {
		r.s.forgetRecent()
	}
	r.last, r.epoch = offset, f.Epoch
	r.s.remember(Frame{offset, bytes.Clone(frame)}, r.e.cfg.RecentFrames, r.e.cfg.RecentBytes)
	if !r.replaying || offset <= r.s.offset {
		if !r.replaying {
			r.s.offset = offset
		}
		return nil
	}
	// An op after the saved state: it must be the next one, and apply.
	if offset != r.s.offset+1 {
		r.lost = true
	} else if f.Op.Kind == chart.OpConfig {
		// A config published by Redefine: the definition's config, which
		// the state has already, wins.
	} else if err := r.s.state.Check(f.Op); err != nil {
		r.e.cfg.Logger.Error("stored op does not apply", "stream", r.s.ID, "offset", offset, "err", err)
		r.lost = true
	} else if err := r.s.state.Apply(f.Op); err != nil {
		r.lost = true
	}
	r.s.offset = offset
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
		case <-e.flushNow:
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
	batch := map[string]SavedState{}
	for _, s := range changed {
		s.mu.Lock()
		if s.dirty {
			b, err := json.Marshal(&s.state.State)
			if err == nil {
				batch[s.ChartID] = SavedState{Offset: s.offset, Epoch: s.epoch, State: b}
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
		return
	}
	for _, s := range changed {
		if st, ok := batch[s.ChartID]; ok {
			s.mu.Lock()
			s.saved = max(s.saved, st.Offset)
			s.mu.Unlock()
		}
	}
}

// kickFlush asks the flush loop to save the changed states now.
func (e *Engine) kickFlush() {
	select {
	case e.flushNow <- struct{}{}:
	default:
	}
}

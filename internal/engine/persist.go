package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ashreports/ashreports/chart"
)

// SavedState is a chart's state as saved: its offset and the JSON of its
// chart.State.
type SavedState struct {
	Offset uint64
	State  []byte
}

// States saves the state of charts that hold pushed data, so that it
// survives a restart.
type States interface {
	LoadState(ctx context.Context, chartID string) (SavedState, bool, error)
	SaveStates(ctx context.Context, states map[string]SavedState) error
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
	batch := map[string]SavedState{}
	for _, s := range changed {
		s.mu.Lock()
		if s.dirty {
			b, err := json.Marshal(&s.state)
			if err == nil {
				batch[s.ChartID] = SavedState{Offset: s.offset, State: b}
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

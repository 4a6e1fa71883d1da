package authz

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ashreports/ashreports/internal/access"
)

// Conns are the live connections, rechecked when access changes: refresh
// gives each connection's subject as it is now, or an error when its
// credentials ended.
type Conns interface {
	Recheck(ctx context.Context, refresh func(access.Subject) (access.Subject, error))
}

// WatchConfig configures a Watcher. Zero durations take the defaults.
type WatchConfig struct {
	// Dir is the cache to clear, and its store what is watched.
	Dir      *Directory
	Sessions *Sessions
	Conns    Conns
	Logger   *slog.Logger
	// Poll is how often the access version is read, so that a change of
	// access made by any process (the command line, another node) stops
	// what it revoked within about this time; 500ms.
	Poll time.Duration
	// RecheckEvery is how often the live connections are rechecked even
	// when access did not change, so that a session's sockets close when
	// it expires; a minute.
	RecheckEvery time.Duration
	// SweepEvery is how often ended sessions (expired or revoked) are
	// deleted from the store; 10 minutes.
	SweepEvery time.Duration
}

// Watcher follows changes of access: when the store's access version
// moves, it clears the Directory's cache and rechecks every live
// connection, closing those whose session or token ended or that lost a
// right; it sweeps ended sessions out of the store.
type Watcher struct{ cfg WatchConfig }

// NewWatcher returns a watcher; Run runs it.
func NewWatcher(cfg WatchConfig) *Watcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll == 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.RecheckEvery == 0 {
		cfg.RecheckEvery = time.Minute
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = 10 * time.Minute
	}
	return &Watcher{cfg: cfg}
}

// Run polls the access version every Poll, rechecks the live connections
// when it moved, and every RecheckEvery, and deletes ended sessions at its
// first tick and every SweepEvery, until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	c := w.cfg
	st := c.Dir.Store
	last, err := st.AccessVersion(ctx)
	if err != nil {
		c.Logger.Error("access version", "err", err)
	}
	t := time.NewTicker(c.Poll)
	defer t.Stop()
	var lastSweep time.Time
	lastCheck := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastSweep) >= c.SweepEvery {
			lastSweep = time.Now()
			if _, err := st.DeleteExpiredSessions(ctx, lastSweep); err != nil && ctx.Err() == nil {
				c.Logger.Error("delete ended sessions", "err", err)
			}
		}
		v, err := st.AccessVersion(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.Logger.Error("access version", "err", err)
			}
			continue
		}
		if v == last && time.Since(lastCheck) < c.RecheckEvery {
			continue
		}
		if v != last {
			c.Dir.Clear()
		}
		last, lastCheck = v, time.Now()
		w.recheck(ctx)
	}
}

// recheck rechecks the live connections with one lookup per session or
// token, however many sockets share it (the bench's 10,000 viewers share
// one token).
func (w *Watcher) recheck(ctx context.Context) {
	type result struct {
		sub access.Subject
		err error
	}
	memo := map[string]result{}
	now := time.Now()
	w.cfg.Conns.Recheck(ctx, func(sub access.Subject) (access.Subject, error) {
		key := "s:" + sub.Session
		if sub.Session == "" {
			key = fmt.Sprintf("t:%d:%s", sub.Kind, sub.ID)
		}
		if r, ok := memo[key]; ok {
			return r.sub, r.err
		}
		fresh, err := w.cfg.Sessions.Refresh(ctx, sub, now)
		memo[key] = result{fresh, err}
		return fresh, err
	})
}

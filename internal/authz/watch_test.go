package authz

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ashreports/ashreports/internal/access"
	"github.com/ashreports/ashreports/internal/auth"
)

// watchedStore is the part of a Store a Watcher reads: a version the test
// moves, and the sweeps it is asked for.
type watchedStore struct {
	Store   // the methods a Watcher does not use
	version atomic.Int64
	sweeps  atomic.Int32
}

func (s *watchedStore) AccessVersion(context.Context) (int64, error) { return s.version.Load(), nil }

func (s *watchedStore) DeleteExpiredSessions(context.Context, time.Time) (int64, error) {
	s.sweeps.Add(1)
	return 0, nil
}

// conns records the rechecks of live connections: each a subject shared
// by two sockets.
type conns struct {
	mu       sync.Mutex
	rechecks int
	refreshs int
}

func (c *conns) Recheck(_ context.Context, refresh func(access.Subject) (access.Subject, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rechecks++
	for range 2 {
		if _, err := refresh(access.Subject{Kind: access.Token, ID: "tok"}); err == nil {
			c.refreshs++
		}
	}
}

func (c *conns) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rechecks, c.refreshs
}

// TestWatcher: a move of the access version clears the directory's cache
// and rechecks the live connections within a poll, one lookup per
// credential however many sockets share it; without a move they are
// rechecked every RecheckEvery; ended sessions are swept at the first
// tick, then every SweepEvery.
func TestWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &watchedStore{}
		dir := NewDirectory(st)
		// The token the sockets hold, as the store has it: each lookup
		// counted.
		tokens := &tokenStore{watchedStore: st}
		dir.Store = tokens
		live := &conns{}
		w := NewWatcher(WatchConfig{Dir: dir, Sessions: NewSessions(dir, auth.SessionPolicy{}, nil), Conns: live})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()

		dir.mu.Lock()
		dir.dashOrgs["d"] = "o" // a cached place
		dir.mu.Unlock()
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		if r, _ := live.counts(); r != 0 || st.sweeps.Load() != 1 {
			t.Fatalf("without a change: %d rechecks, %d sweeps; want 0 and the first sweep", r, st.sweeps.Load())
		}
		st.version.Add(1)
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if r, f := live.counts(); r != 1 || f != 2 || tokens.lookups.Load() != 1 {
			t.Fatalf("after a change: %d rechecks, %d refreshes, %d lookups; want 1, 2 and 1", r, f, tokens.lookups.Load())
		}
		dir.mu.Lock()
		_, cached := dir.dashOrgs["d"]
		dir.mu.Unlock()
		if cached {
			t.Error("the cache was not cleared")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if r, _ := live.counts(); r != 2 {
			t.Errorf("a minute later: %d rechecks, want 2", r)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := st.sweeps.Load(); n != 2 {
			t.Errorf("after ten minutes: %d sweeps, want 2", n)
		}
		cancel()
		<-done
	})
}

// tokenStore answers TokenByID with a live token, counting lookups.
type tokenStore struct {
	*watchedStore
	lookups atomic.Int32
}

func (s *tokenStore) TokenByID(_ context.Context, id string) (auth.Token, error) {
	s.lookups.Add(1)
	return auth.Token{ID: id, OrgID: "o", Scopes: []access.Permission{access.ViewCharts}}, nil
}

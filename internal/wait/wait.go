// Package wait is for tests that must wait in real time for what a server
// does in its own time (a sweep, a recheck, a file written), where no
// event can be waited on and no synctest bubble holds the server:
// nats-server's checkFor. Tests of time itself use testing/synctest.
package wait

import (
	"testing"
	"time"
)

// For calls fn every step until it returns nil, failing tb with fn's last
// error once total has passed.
func For(tb testing.TB, total, step time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %v", total, err)
		}
		time.Sleep(step)
	}
}

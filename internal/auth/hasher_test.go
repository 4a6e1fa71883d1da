package auth

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHasherBound: with every slot taken, a check waits the whole wait,
// then is refused with ErrBusy and counted; a slot freed within the wait
// is taken, and the check runs.
func TestHasherBound(t *testing.T) {
	hash, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "refused"})
		h := NewHasher(HasherConfig{Max: 1, Wait: time.Second, Refused: refused})
		if err := h.acquire(ctx); err != nil { // the one slot, held
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := h.Check(ctx, "", "a guess of some length"); !errors.Is(err, ErrBusy) || time.Since(start) != time.Second {
			t.Errorf("Check with no slot free: %v after %v, want ErrBusy after 1s", err, time.Since(start))
		}
		if _, err := h.Hash(ctx, "another long password"); !errors.Is(err, ErrBusy) {
			t.Errorf("Hash with no slot free: %v, want ErrBusy", err)
		}
		if got := testutil.ToFloat64(refused); got != 2 {
			t.Errorf("refused = %v, want 2", got)
		}
		go func() {
			time.Sleep(500 * time.Millisecond)
			h.release()
		}()
		if ok, err := h.Check(ctx, hash, "correct horse battery staple"); !ok || err != nil {
			t.Errorf("Check once the slot is free: %v, %v; want true", ok, err)
		}
		if ok, err := h.Check(ctx, "", "not the password of anybody"); ok || err != nil {
			t.Errorf("Check of an unknown email: %v, %v; want false, nil", ok, err)
		}
	})
}

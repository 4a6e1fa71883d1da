package auth

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ashreports/ashreports/internal/apperr"
)

// HasherConfig configures a Hasher. Zero fields take the defaults.
type HasherConfig struct {
	// Max is how many hashes may run at once; the number of CPUs, at
	// most 4 (DefaultMaxHashes).
	Max int
	// Wait is how long a hash waits for a slot before it is refused with
	// ErrBusy; 1s.
	Wait time.Duration
	// Refused counts the hashes refused with ErrBusy; none when nil.
	Refused prometheus.Counter
}

// DefaultMaxHashes is the default bound of a Hasher: the number of CPUs
// (GOMAXPROCS), at most 4. A hash is one goroutine of CPU-bound work, so
// more at once than CPUs only adds memory (19 MiB each); past 4, about
// 100 sign-ins a second, the memory at stake grows faster than any
// sign-in traffic needs.
func DefaultMaxHashes() int { return min(runtime.GOMAXPROCS(0), 4) }

// DefaultHashWait is how long a hash waits for a slot by default: long
// enough to ride out a burst of honest sign-ins, short enough that a
// refused person is told soon.
const DefaultHashWait = time.Second

// ErrBusy refuses a hash that found no slot within its wait; the caller
// may retry after about a second.
var ErrBusy = &apperr.Error{Code: apperr.RateLimited, Message: "too many sign-ins at once: try again in a second"}

// Hasher hashes and checks passwords, a bounded number at once: each
// argon2id hash holds 19 MiB for tens of milliseconds, so that without a
// bound memory grows with the attempts in flight. It is safe for
// concurrent use.
type Hasher struct {
	slots   chan struct{}
	wait    time.Duration
	refused prometheus.Counter
}

// NewHasher returns a Hasher configured by cfg.
func NewHasher(cfg HasherConfig) *Hasher {
	if cfg.Max <= 0 {
		cfg.Max = DefaultMaxHashes()
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultHashWait
	}
	return &Hasher{slots: make(chan struct{}, cfg.Max), wait: cfg.Wait, refused: cfg.Refused}
}

// acquire takes a slot, waiting at most h.wait; the caller releases it
// with release.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		if h.refused != nil {
			h.refused.Inc()
		}
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash is HashPassword within the bound; it returns ErrBusy when no slot
// came free in time.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(password)
}

// Check is CheckPassword within the bound; it returns ErrBusy when no
// slot came free in time. An empty encoded (nobody has the email) is
// checked against a made-up hash and reports false, so that an unknown
// email costs as much as a wrong password and takes as long.
func (h *Hasher) Check(ctx context.Context, encoded, password string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if encoded == "" {
		_, err := CheckPassword(dummyHash(), password)
		return false, err
	}
	return CheckPassword(encoded, password)
}

// dummyHash is what an unknown email is checked against. It is made at
// the first such check, not when the package loads: every command and
// test binary would pay for a hash.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("not the password of anybody")
	return h
})

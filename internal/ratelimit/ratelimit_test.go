package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func TestBurstThenRate(t *testing.T) {
	l := New(2, 3, 100) // 2 per second, bursts of 3
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow("ip", t0); !ok {
			t.Fatalf("call %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("ip", t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("fourth call: ok %v, retry after %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.Allow("other", t0); !ok {
		t.Error("another key is limited by the first")
	}
	if ok, _ := l.Allow("ip", t0.Add(499*time.Millisecond)); ok {
		t.Error("allowed before a token refilled")
	}
	if ok, _ := l.Allow("ip", t0.Add(time.Second)); !ok {
		t.Error("refused after a token refilled")
	}
	if got := RetryAfterSeconds(1500 * time.Millisecond); got != 2 {
		t.Errorf("RetryAfterSeconds(1.5s) = %d, want 2", got)
	}
	if got := RetryAfterSeconds(time.Millisecond); got != 1 {
		t.Errorf("RetryAfterSeconds(1ms) = %d, want 1", got)
	}
}

// TestBoundedKeys: past maxKeys the least recently used key is forgotten,
// and a key in use keeps its (empty) bucket.
func TestBoundedKeys(t *testing.T) {
	l := New(0.001, 1, 10)
	t0 := time.Now()
	l.Allow("busy", t0)
	for i := range 100 {
		l.Allow(strconv.Itoa(i), t0)
		if ok, _ := l.Allow("busy", t0); ok {
			t.Fatalf("after %d other keys, the busy key's empty bucket was forgotten", i+1)
		}
	}
	if n := l.Len(); n != 10 {
		t.Errorf("%d keys tracked, want 10", n)
	}
}

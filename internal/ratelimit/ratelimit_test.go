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

// TestBoundedKeys: at maxKeys, a new key takes the place of the least
// recently used one only once that one's bucket has refilled: a flood of
// new keys cannot forget a key that is being limited.
func TestBoundedKeys(t *testing.T) {
	l := New(1, 1, 10) // one a second
	t0 := time.Now()
	l.Allow("victim", t0) // its bucket is now empty
	for i := range 9 {
		l.Allow(strconv.Itoa(i), t0)
	}
	for i := range 100 {
		if ok, _ := l.Allow("new"+strconv.Itoa(i), t0); ok {
			t.Fatal("a new key was let in while the oldest bucket was empty")
		}
	}
	if ok, _ := l.Allow("victim", t0); ok {
		t.Fatal("the limited key was forgotten")
	}
	// Later every bucket has refilled: ten new keys take the places of
	// the old ones (each then spends its token), and the count stays
	// bounded.
	for i := range 10 {
		if ok, _ := l.Allow("later"+strconv.Itoa(i), t0.Add(2*time.Second)); !ok {
			t.Fatalf("new key %d refused after the buckets refilled", i)
		}
	}
	if ok, _ := l.Allow("one more", t0.Add(2*time.Second)); ok {
		t.Error("an eleventh new key was let in while every bucket was empty")
	}
	if n := l.Len(); n != 10 {
		t.Errorf("%d keys tracked, want 10", n)
	}
}

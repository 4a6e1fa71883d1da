package ratelimit

import (
	"container/list"
	"math"
	"net"
	"sync"
	"time"
)

// Limiter is a set of token buckets, one per key.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket, most recently used first
	lru     *list.List
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

// New returns a limiter allowing perSecond actions per second per key,
// with bursts of up to burst, tracking at most maxKeys keys.
func New(perSecond float64, burst, maxKeys int) *Limiter {
	return &Limiter{rate: perSecond, burst: float64(max(burst, 1)), max: max(maxKeys, 1), buckets: map[string]*list.Element{}, lru: list.New()}
}

// Allow takes a token from key's bucket at now. When there is none it
// reports false and how long until there is.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, found := l.buckets[key]
	var b *bucket
	if found {
		b = e.Value.(*bucket)
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
		b.at = now
		l.lru.MoveToFront(e)
	} else {
		if len(l.buckets) >= l.max && !l.evict(now) {
			return false, max(time.Duration(float64(time.Second)/l.rate), time.Millisecond)
		}
		b = &bucket{key: key, tokens: l.burst, at: now}
		l.buckets[key] = l.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// evict forgets the least recently used key if its bucket has refilled
// by now (a forgotten key starts again full, so nothing is lost), and
// reports whether it did.
func (l *Limiter) evict(now time.Time) bool {
	e := l.lru.Back()
	if e == nil {
		return true
	}
	b := e.Value.(*bucket)
	if b.tokens+now.Sub(b.at).Seconds()*l.rate < l.burst {
		return false
	}
	l.lru.Remove(e)
	delete(l.buckets, b.key)
	return true
}

// Len is the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1: the
// value of a Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// AddrKey is the key of a client address (an IP address, without port):
// IPv4 addresses as they are, IPv6 addresses by their /64, which one
// client commonly holds whole. What does not parse is its own key.
func AddrKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return ip
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

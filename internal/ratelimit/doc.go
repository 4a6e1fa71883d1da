// Package ratelimit limits how often a key (a user, a token, an IP
// address) may act: a token bucket per key, refilled at a steady rate up
// to a burst. A refused call learns how long to wait, for the Retry-After
// header of a 429. Memory is bounded: at the limit on keys, the least
// recently used key is forgotten when its bucket has refilled; when it has
// not, new keys are refused until it has, so that a flood of new keys
// cannot reset a key that is being limited.
//
// Concurrency: a Limiter is safe for concurrent use; one mutex guards its
// buckets, taken for the time of one decision. It starts no goroutine.
package ratelimit

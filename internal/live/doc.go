// Package live serves the live protocol (docs/protocol.md) over WebSocket:
// connections, their subscriptions, and the hub that fans chart updates out
// to them.
//
// Concurrency: each connection has a read goroutine, which handles client
// messages one at a time, and a write goroutine, the only one that writes
// to the socket. Everything sent to a connection goes through its bounded
// queue; a connection whose queue is full is closed as a slow consumer,
// never waited for.
//
// The hub holds one broker subscription per stream with viewers on this
// node. An update arrives once as encoded bytes, and the same bytes are
// queued to every viewer of the stream. Ordering: a viewer gets the
// stream's snapshot and then exactly the ops with higher offsets, in
// order, because the snapshot is taken and queued under the topic's lock,
// which delivery also takes, after the broker subscription is active.
//
// Lock order: Hub.mu, then topic.mu. Neither is held while writing to a
// socket.
package live

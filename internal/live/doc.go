// Package live serves the live protocol (docs/protocol.md) over WebSocket:
// connections, their subscriptions, and the hub that fans chart updates out
// to them. Its files follow the layers: hub.go (topics and fan-out),
// conn.go (a connection's life), reader.go (frames in), message.go
// (decoding client messages), handlers.go and room.go (what each message
// does), writer.go and queue.go (frames out), identity.go (who a
// connection is, and rechecking it), rawwrite_*.go (the socket writes of
// each system).
//
// Concurrency. Each connection has one reader goroutine, which reads
// client messages and handles them one at a time, in order, each on a
// short-lived goroutine of its own that it waits for. Frames to a
// connection go through its bounded queue and are written by one writer
// at a time: when no writer runs, the goroutine that queued a frame (a
// stream's broker delivery, a reply's handler) becomes the writer and
// writes at once without waiting for the socket (Linux's non-blocking
// write, rawwrite_linux.go); what the socket does not take now, and every
// frame on other systems and TLS sockets, is written by a writer
// goroutine, which waits for the socket and ends when nothing is left. An
// idle connection holds one goroutine, its reader. One hub goroutine (the
// watchdog) pings connections and drops those whose write has blocked
// past WriteTimeout or whose ping went unanswered past PingTimeout; two
// shared clocks tick the batching window and retire idle writers. Close
// ends every connection and waits for all of these goroutines.
//
// Overflow. When MaxPendingOps op frames wait for a connection, they are
// dropped and each stream concerned is sent one fresh snapshot instead
// (conflation, counted); replies and snapshots are never dropped, and
// past MaxPendingControl of them the connection is closed as a slow
// consumer (1008). Nothing ever waits for a slow socket but its own
// writer.
//
// Ordering. The hub holds one broker subscription per stream with viewers
// on this node. An update arrives once as encoded bytes, and the same
// bytes are queued to every viewer of the stream. A viewer gets the
// stream's snapshot (or, resuming, the recent ops after its offset) and
// then exactly the ops with higher offsets, in order: the snapshot is
// taken and queued under the topic's lock, which delivery also takes,
// after the broker subscription is active, and the writer skips an op
// whose offset the viewer holds already. Replies go in the order of the
// messages they answer.
//
// Lock order: a hub shard's mu, then topic.mu, then a connection's
// queue.mu; Hub.liveMu, Hub.mu and a connection's whoMu are taken alone; a
// connection's wmu (its socket writes) is taken with none of these held
// but may be held while queue.mu is taken. No lock is held while a write
// waits for a socket, except wmu by the connection's own writer.
package live

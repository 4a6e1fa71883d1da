// Package engine owns the state of every live chart stream: it validates
// and applies ops, gives each applied op the next offset of its stream,
// and publishes the encoded op through the broker. It also runs the query
// loops of SQL-bound charts, one per stream, while the stream has viewers.
// Its files: engine.go (the Engine and its parts), stream.go (streams,
// acquiring and releasing them), apply.go (ops applied and published),
// recent.go (the frames kept for viewers that resume), persist.go (pushed
// charts' states saved and restored), query.go (query loops), redefine.go
// (Try, Redefine and Forget for the editors).
//
// A stream is a chart with a set of filter values; a chart without filters
// has one stream whose id is the chart id.
//
// Concurrency: an Engine is safe for concurrent use. Each SQL-bound stream
// with viewers has one query-loop goroutine, started by its first viewer
// and stopped by its last; one goroutine saves pushed charts' states
// every FlushInterval. Redefine re-runs at most eight streams' queries at
// a time across the engine. Close stops them all and waits.
//
// Ordering: ops of one stream are applied and published one at a time
// under the stream's lock, so the broker sees them in offset order, and
// an op is applied to the state only once it is published. A stream's
// definition is an immutable binding behind an atomic pointer; a
// generation counter keeps a query result of a definition Redefine
// replaced from being applied.
//
// Durability: an op is acknowledged (Apply returns) once the broker has
// stored it. The wait for the store happens after the stream's lock is
// released, so that the ops of one stream, from concurrent publishers,
// share the store's round trips (a group commit). A pushed chart's state
// is saved every FlushInterval, and sooner when MaxUnsaved/2 of its ops
// are unsaved; past MaxUnsaved, ops are refused until it is saved. After
// a restart a stream takes its epoch, offset and recent frames from the
// broker's history, and a pushed chart replays the ops after its saved
// state: the epoch changes only when an op is missing.
//
// Lock order: Engine.mu, then stream.mu. Engine.mu is never held while
// running a query or publishing; a stream's lock is held while publishing,
// which waits at most for room among the broker's pending
// acknowledgements, never for the store.
package engine

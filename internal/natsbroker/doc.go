// Package natsbroker carries chart updates between the chart engine and the
// live hubs through NATS. By default it embeds a NATS server with
// JetStream in the process, with no listening port, and connects to it
// in-process; every update goes through it, even on one node.
//
// Updates are published to JetStream (stream ASH_CHARTS, one subject per
// chart stream), which keeps recent history per subject. Hubs receive them
// with plain core subscriptions, one per chart stream per node.
//
// Concurrency: a Broker is safe for concurrent use. NATS delivers the
// messages of one subscription on one goroutine of its own; Close drains
// the connection, so that those goroutines end, then stops the server.
//
// Ordering: a subscription sees a subject's updates in publish order.
// Publishes are asynchronous, at most 4,096 awaiting JetStream's
// acknowledgement (a publisher waits past that): Publish returns a wait
// for the store's acknowledgement, which the engine awaits after releasing
// the stream's lock, so that updates of one stream share the store's
// round trips (group commit) and live viewers never wait for the store.
//
// Durability: the stream uses file storage with one replica, which
// writes each update to its file before acknowledging it, so that an
// acknowledged update survives the process's death (SIGKILL); History
// reads a subject's stored updates back after a restart.
package natsbroker

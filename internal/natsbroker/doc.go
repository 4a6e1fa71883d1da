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
// acknowledgement (a publisher waits past that); a failed store is logged
// and does not hold the update back from live viewers.
package natsbroker

// Package bench is the load generator behind `ashreports bench`: it opens
// many real WebSocket viewers of a running server, subscribes them across
// push charts, publishes updates through the HTTP API at a fixed rate and
// measures what the viewers get: publish-to-receive latency, delivery of
// every op (checked by offset), convergence of every viewer's copy of the
// chart state to the server's, and the server's memory and CPU.
//
// Run takes the URL of a server (and, optionally, its process id for
// memory and CPU figures); StartServer starts one as a child process.
// Main is the command line. docs/BENCHMARKS.md says how to run it and what
// the figures mean.
package bench

// Package telemetry holds AshReports' Prometheus metrics. The collectors
// are created per server on a registerer the caller gives, never as
// package globals, so that several servers (tests, embedders) can run in
// one process. The collectors are safe for concurrent use, as
// client_golang's are.
package telemetry

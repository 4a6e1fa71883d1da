// Package demo creates the demo content of a first start: a SQLite sales
// database with deterministic history, the Sales Analytics dashboard that
// reads it, and a generator that keeps inserting new orders.
//
// Concurrency: a Generator runs on the goroutine that calls Run, until its
// context ends; it is the database's only writer. CreateDB and Dashboard
// keep no state.
package demo

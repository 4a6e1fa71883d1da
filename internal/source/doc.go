// Package source runs read-only SQL queries against named data sources and
// turns their results into chart tables.
//
// Queries name their parameters as :name; package sqlparam rewrites them
// to the driver's positional placeholders and the values are passed as
// arguments, so a filter value never becomes SQL text. Each connection is
// opened read-only, with SQLite's authorizer letting a statement only read
// (no ATTACH, DETACH, pragmas other than schema table functions, writes or
// extensions), whatever text passed sqlparam's check.
//
// Every query runs within the Registry's Limits: a timeout (its context's
// end interrupts SQLite); SQLite's own limit on a string or blob it makes,
// which it enforces before allocating; and the result's columns, rows,
// cell size and bytes, checked as each row is read, so that no result is
// held past a limit. A query first takes a slot of its source, then one of
// the registry, always in that order (so no two queries wait on each
// other), waiting at most Limits.QueueWait for both; past that it is
// refused as unavailable. Refusals are counted by limit.
//
// A Registry and its DBs are safe for concurrent use.
package source

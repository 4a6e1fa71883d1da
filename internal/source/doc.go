// Package source runs read-only SQL queries against named data sources and
// turns their results into chart tables.
//
// Queries name their parameters as :name; package sqlparam rewrites them
// to the driver's positional placeholders and the values are passed as
// arguments, so a filter value never becomes SQL text. Every query runs with a timeout and
// a row limit. A Registry is safe for concurrent use.
package source

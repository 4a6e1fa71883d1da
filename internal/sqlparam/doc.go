// Package sqlparam binds the :name parameters of a chart's SQL query: it
// rewrites them to a driver's positional placeholders (? or $1) and returns
// the values as arguments, so that a filter value never becomes SQL text.
// It also refuses what a read-only query may not be (more than one
// statement, one that does not start with SELECT, WITH or VALUES, or
// SQLite's own parameters, read as SQLite's tokenizer reads them). It
// links no SQL driver: dashboards check their queries with it, and data
// sources run them. It keeps no state and is safe for concurrent use.
package sqlparam

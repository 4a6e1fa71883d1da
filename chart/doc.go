// Package chart is the chart model of AshReports: a chart's configuration,
// its data as a typed table, and the operations that change them.
//
// A chart's state is a Config and a Table. Updates are Ops (replace, append,
// upsert, remove, config) applied with State.Apply, which validates the op
// against the state first and leaves the state untouched when the op is
// invalid. Validation errors are *FieldError values that name the offending
// field, so that a caller can show them next to the input that caused them.
//
// The package has no I/O and no goroutines; a State is not safe for
// concurrent use, its owner serializes access.
package chart

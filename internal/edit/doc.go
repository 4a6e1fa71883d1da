// Package edit is the editing of dashboards in the browser: chart
// definitions tried, saved at the version they were based on and put into
// the live streams; saved default filters; undo of one's own last change;
// charts added, moved, resized and removed. Each change is announced in
// the dashboard's room.
//
// Concurrency: a Service is safe for concurrent use. The changes of one
// dashboard (chart saves, saved defaults, undo, added charts, layout
// changes) are made one at a time, under a lock per dashboard, so that its
// streams end with the definition stored last; other dashboards' changes,
// which may re-run queries for seconds, go on meanwhile. One dashboard's
// lock is never taken while another's is held. A save's query is tried
// before the lock is taken; saved defaults are tried under it, so that no
// other save comes in between and is lost.
//
// Ordering: a change is stored, then put into the streams (engine's
// Redefine or Forget), then announced; a change that is stored is
// announced even if its caller has gone meanwhile.
package edit

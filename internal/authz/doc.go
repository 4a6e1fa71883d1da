// Package authz is AshReports' one authorization path. Every door (the
// HTTP handlers, the live sockets, the rooms, the Go API, the editors)
// asks the same Guard, which looks up where a dashboard or chart lives,
// asks access.Decide, and audits denials the same way whatever the door.
// Sessions resolves browser sessions and API tokens to the subject that
// asks, with one session policy, and starts and ends sessions. Directory
// caches what every request reads to know who asks and where a resource
// lives. Watcher follows changes of access made by any process and
// rechecks the live connections.
//
// Concurrency: Guard, Sessions and Directory are safe for concurrent use.
// A Watcher runs on the goroutine that calls Run, until its context ends.
//
// Ordering: Directory's cache is cleared by the Watcher when the store's
// access version moves; a value read before a clear is not kept after it,
// so that no lookup outlives the change that caused the clear. Revoking a
// session through Sessions.End takes effect here at once and on every
// live connection of the session; changes made elsewhere (the command
// line, another node) take effect within Watcher's poll interval.
package authz

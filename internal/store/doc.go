// Package store keeps AshReports' metadata in SQL: organizations, users,
// memberships and roles, sessions, API tokens, the audit log, dashboards
// and chart definitions (with versions and history), and the saved states
// of pushed charts. SQLite by default (modernc.org/sqlite, no cgo), with
// versioned migrations run by goose at open. The domain types are their
// owners' (auth, audit, dashboard, engine); the store imports them.
//
// Concurrency: a Store is safe for concurrent use. SQLite allows one
// writer: the store keeps one connection, so its calls run one at a time,
// and each change of several rows (a layout, provisioning, saved states)
// is one transaction. Another process (the command line) may open the
// same file meanwhile (WAL mode, a busy timeout of 5 s).
//
// Ordering: changes of access (roles, memberships, revocations) move the
// access version (SQLite triggers), whichever process made them, which
// the server polls (package authz). A chart's version and a dashboard's
// layout version move on with each change of them; a change based on an
// older version is a conflict and changes nothing.
package store

// Package provision prepares a server's data at start: the dashboards of a
// dashboards directory, the demo (its sales database, its dashboard, its
// organization and its users) and the first admin, and says how to sign in
// (Notes). It runs once, before the server serves; it is not safe for
// concurrent use with itself on the same data directory.
package provision

// Package access is AshReports' authorization model: roles (viewer,
// analyst, editor, admin) held on an organization or on single dashboards,
// the permissions each grants, API token scopes, and Decide, the one
// function every door (HTTP handlers, the WebSocket subscribe path, the Go
// API, filtered streams) asks.
//
// Organizations are tenants: a subject never learns that another
// organization's dashboard exists (Decide answers not_found, as for a
// dashboard of its own organization on which it holds no role). Within
// what it may see, a missing permission is forbidden, with the role it
// would need.
//
// The package holds no state and is safe for concurrent use: the caller
// builds the Subject (from a session or a token) and the Resource.
package access

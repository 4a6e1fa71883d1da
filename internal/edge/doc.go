// Package edge bounds what a client may hold of the server before anyone
// knows who it is: its open connections (Listener, per client address and
// in all) and the time its request body may take (BodyDeadline). Header
// and idle deadlines are net/http's own (http.Server ReadHeaderTimeout and
// IdleTimeout).
//
// Concurrency: a Listener is safe for concurrent use; one mutex guards
// its counts, held for one decision at accept and one at close. It starts
// no goroutine. A connection is counted from its accept until its first
// Close, whoever owns it then (net/http, or a hijacking handler such as
// the live socket's).
package edge

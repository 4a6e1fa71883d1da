// Package web serves AshReports over HTTP: the server-rendered pages, the
// embedded browser assets, the JSON API, the live socket endpoint and the
// health checks. Every request is identified first (a session cookie or an
// API token, resolved by Sessions), then rate-limited, then authorized by
// the one Guard (package authz); changes made with a cookie need the
// session's CSRF token.
//
// Concurrency: handlers hold no state of their own but the rate limiters'
// buckets; they are safe for concurrent use. What a request changed is
// audited even if its client has gone meanwhile.
package web

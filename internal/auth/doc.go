// Package auth holds the secrets of AshReports' identities: password
// hashes (argon2id, in the PHC string format), API token secrets (shown
// once, stored as a SHA-256 hash) and random identifiers. Its functions
// keep no state; a Hasher bounds the password hashes running at once.
// All are safe for concurrent use.
package auth

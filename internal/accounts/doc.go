// Package accounts is the one way to create users and API tokens, for
// every caller (the command line, the web administration, the server's
// own provisioning of the first admin and the demo users): checked the
// same way, stored, and audited. It keeps no state of its own and is safe
// for concurrent use.
package accounts

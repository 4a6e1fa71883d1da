// Package apperr is the one error type that AshReports shows to users: a
// code, a message fit for the user, and optionally the field at fault. One
// table maps codes to HTTP statuses; the live protocol sends codes as is.
// Any other error reaches a client as internal, with a generic message.
// It keeps no state.
package apperr

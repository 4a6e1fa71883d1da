// Package apperrtest has test helpers for apperr errors.
package apperrtest

// Package logtest has a log sink for tests: a buffer that the goroutines
// of the code under test may write to while the test reads it.
package logtest

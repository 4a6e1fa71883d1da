// Package leaktest checks that tests leave no goroutine running. Unlike
// goleak's own checks, which give up after about half a second, it waits
// up to Wait for goroutines that are on their way out, so that a loaded
// machine does not fail a test whose goroutines stop, only slowly.
package leaktest

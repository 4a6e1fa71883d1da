package leaktest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Wait is how long a check waits for goroutines to end.
const Wait = 15 * time.Second

// find polls goleak.Find until it reports no goroutine or Wait passes,
// and returns its last error.
func find(opts ...goleak.Option) error {
	deadline := time.Now().Add(Wait)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Verify fails t if goroutines other than those opts ignore are still
// running after Wait. Pass goleak.IgnoreCurrent() taken at the test's
// start to check only the goroutines the test started.
func Verify(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	if err := find(opts...); err != nil {
		t.Error(err)
	}
}

// VerifyTestMain runs the package's tests and then fails the run if
// goroutines are left, as goleak.VerifyTestMain does; use it as
// TestMain's body.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

//go:build unix

package bench

import (
	"fmt"
	"syscall"
	"time"
)

// selfCPU returns the CPU time this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// checkOpenFiles fails when viewers viewer connections (plus fileMargin)
// would not fit under the process's open-file limit.
func checkOpenFiles(viewers int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("read the open-file limit: %w", err)
	}
	need := uint64(viewers) + fileMargin
	if need > uint64(rl.Cur) {
		return fmt.Errorf("%d viewers need about %d open files (one socket each, plus %d), but this process may open only %d (RLIMIT_NOFILE, hard limit %d); the limit cannot be raised here, so run fewer viewers (at most %d) or several bench processes",
			viewers, need, fileMargin, rl.Cur, rl.Max, max(int64(rl.Cur)-fileMargin, 0))
	}
	return nil
}

//go:build !linux

package bench

import (
	"fmt"
	"runtime"
	"time"
)

// Off Linux the bench does not read another process's memory and CPU: its
// report says so.

func procRSS(pid int) (int64, error) {
	return 0, fmt.Errorf("process memory is measured on Linux only, not on %s", runtime.GOOS)
}

func procCPU(pid int) (time.Duration, error) {
	return 0, fmt.Errorf("process CPU is measured on Linux only, not on %s", runtime.GOOS)
}

// gcLimit is the heap size at which the bench collects garbage: 1 GiB.
func gcLimit() int64 { return 1 << 30 }

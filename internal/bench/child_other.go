//go:build !linux

package bench

import "syscall"

// childAttr is nil off Linux: no system there ends a child with its
// parent, so Stop ends it.
func childAttr() *syscall.SysProcAttr { return nil }

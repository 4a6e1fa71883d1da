package bench

import "syscall"

// childAttr makes a child process that gets SIGTERM when the bench dies.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }

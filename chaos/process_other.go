//go:build !linux

package chaos

import "syscall"

// sysProcAttr puts the child in its own process group so that one signal
// reaches its children too.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

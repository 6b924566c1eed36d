package chaos

import "syscall"

// sysProcAttr puts the child in its own process group (so that one signal
// reaches its children too) and has the kernel SIGKILL it if the thread
// that started it dies, so that a crashed test or runner leaves no broker
// behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

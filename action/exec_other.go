//go:build !unix

package action

import "os/exec"

// ownProcessGroup is a no-op where process groups do not exist:
// cancellation kills the process only.
func ownProcessGroup(*exec.Cmd) {}

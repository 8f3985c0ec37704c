//go:build linux || darwin || freebsd

package events

import (
	"fmt"
	"syscall"
)

func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("cannot measure free space of %s: %w", dir, err)
	}
	// Bavail, not Bfree: blocks reserved for root are no use to Vigil.
	return int64(st.Bavail) * int64(st.Bsize), nil
}

//go:build !(linux || darwin || freebsd)

package events

import "errors"

// freeSpace cannot measure here; the free-disk guard then lets writes
// through (see checkSpace).
func freeSpace(string) (int64, error) {
	return 0, errors.New("free space is not measured on this platform")
}

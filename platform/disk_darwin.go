package platform

import (
	"errors"
	"fmt"
	"syscall"
)

// FreeSpace returns the bytes an unprivileged user can still write on the
// file system holding path (a file or folder that exists). Space reserved
// for root is not counted: Scribe cannot use it.
func FreeSpace(path string) (uint64, error) {
	if path == "" {
		return 0, errors.New("check free space: empty path")
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("check free space on %s: %w", path, err)
	}
	// On macOS f_bsize is the fundamental block size the counts are in.
	return st.Bavail * uint64(st.Bsize), nil
}

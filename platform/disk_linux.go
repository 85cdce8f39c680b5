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
	// Block counts are in fragment-size units (statvfs's f_frsize); old
	// kernels leave Frsize zero, where it equals Bsize.
	size := uint64(st.Frsize)
	if size == 0 {
		size = uint64(st.Bsize)
	}
	return st.Bavail * size, nil
}

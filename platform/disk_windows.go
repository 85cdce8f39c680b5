package platform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// FreeSpace returns the bytes the current user can still write on the
// volume holding path (a file or folder that exists), after quotas.
func FreeSpace(path string) (uint64, error) {
	if path == "" {
		return 0, errors.New("check free space: empty path")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("check free space on %s: %w", path, err)
	}
	// GetDiskFreeSpaceEx takes a folder only.
	dir := path
	if !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, fmt.Errorf("check free space on %s: %w", path, err)
	}
	var avail uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, nil, nil); err != nil {
		return 0, fmt.Errorf("check free space on %s: %w", path, err)
	}
	return avail, nil
}

//go:build !linux && !darwin && !windows

package platform

import (
	"errors"
	"fmt"
	"runtime"
)

// FreeSpace is not implemented on this OS; callers treat the error like any
// other failed check and warn.
func FreeSpace(path string) (uint64, error) {
	return 0, fmt.Errorf("check free space on %s: not implemented on %s: %w", path, runtime.GOOS, errors.ErrUnsupported)
}

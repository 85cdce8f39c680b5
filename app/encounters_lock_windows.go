//go:build windows

package app

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLock takes an exclusive lock on f's first byte without waiting.
// Windows locks belong to the handle, so a second open in this same
// process conflicts too.
func tryLock(f *os.File) error {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

// releaseLock closes f, dropping the lock, then removes the file: Windows
// cannot remove an open file, and the removal fails harmlessly when
// another process has opened it since.
func releaseLock(f *os.File, path string) {
	f.Close()
	os.Remove(path)
}

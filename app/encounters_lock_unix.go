//go:build unix

package app

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes an exclusive flock on f without waiting. flock locks
// belong to the open file, so a second open in this same process conflicts
// too.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errLocked
		default:
			return err
		}
	}
}

// releaseLock removes the file while still holding its lock, so that it
// never deletes a file another process has since created and locked, then
// closes it, which drops the lock.
func releaseLock(f *os.File, path string) {
	os.Remove(path)
	f.Close()
}

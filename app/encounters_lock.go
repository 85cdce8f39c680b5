package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// errLocked means another recording, import or recovery holds an
// encounter: in this process or another one (the window and a CLI command
// may share a profile).
var errLocked = errors.New("encounter is in use")

// encounterLock is an OS file lock on <encounters>/<id>.lock. The OS drops
// it when the process dies, however it dies, so a held lock means the
// encounter is live and a free one on an open encounter means its process
// crashed: that is how RecoverEncounters tells a crashed recording from
// one under way in the window while a CLI command starts.
type encounterLock struct {
	path string
	f    *os.File
}

// lockEncounter takes id's lock without waiting; errLocked when it is held.
func lockEncounter(root, id string) (*encounterLock, error) {
	path := filepath.Join(root, id+".lock")
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock encounter %s: %w", id, err)
		}
		if err := tryLock(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock encounter %s: %w", id, err)
		}
		// The holder before us removes the file as it unlocks; if it did so
		// after we opened it, we hold a lock on a file nobody else can find
		// and must lock the one now at path instead.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &encounterLock{path: path, f: f}, nil
		}
		f.Close()
		if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
			return nil, fmt.Errorf("lock encounter %s: %w", id, err2)
		}
	}
}

// unlock releases the lock and removes its file.
func (l *encounterLock) unlock() {
	releaseLock(l.f, l.path)
}

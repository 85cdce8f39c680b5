package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// File is an open journal file. The Writer appends with WriteAt at offsets
// it tracks itself (so an encrypting File can map offsets to blocks) and
// rewrites the 44-byte WAV header in place.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's written contents durable.
	Sync() error
	// Truncate changes the file's size (used to drop a torn trailing sample).
	Truncate(size int64) error
	// Size is the file's current size in bytes.
	Size() (int64, error)
}

// Storage is the one seam all journal file I/O goes through, so encryption
// at rest can be added by wrapping it without changing callers. Names are
// full paths. Missing files report errors matching fs.ErrNotExist and
// existing ones fs.ErrExist.
type Storage interface {
	// Mkdir creates dir (0700) and any missing parents; it fails with
	// fs.ErrExist if dir itself already exists.
	Mkdir(dir string) error
	// Create creates a new file (0600) for reading and writing; it fails with
	// fs.ErrExist if the file exists.
	Create(name string) (File, error)
	// OpenRead opens an existing file read-only.
	OpenRead(name string) (File, error)
	// OpenWrite opens an existing file for reading and writing.
	OpenWrite(name string) (File, error)
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// Remove deletes a file.
	Remove(name string) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// SyncDir makes dir's entries (creations, renames, removals) durable.
	SyncDir(dir string) error
}

// FileStorage keeps journals in plain files (0600) and folders (0700).
type FileStorage struct{}

var (
	_ Storage = FileStorage{}
	_ File    = osFile{}
)

// Mkdir implements Storage.
func (FileStorage) Mkdir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	return os.Mkdir(dir, 0o700)
}

// Create implements Storage.
func (FileStorage) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// OpenRead implements Storage.
func (FileStorage) OpenRead(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// OpenWrite implements Storage.
func (FileStorage) OpenWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Rename implements Storage.
func (FileStorage) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Remove implements Storage.
func (FileStorage) Remove(name string) error { return os.Remove(name) }

// List implements Storage.
func (FileStorage) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// SyncDir implements Storage. Windows cannot open a folder for syncing, and
// NTFS journals its metadata, so there it does nothing.
func (FileStorage) SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return fi.Size(), nil
}

// isNotExist is errors.Is(err, fs.ErrNotExist), named for readability.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

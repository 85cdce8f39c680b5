package importer

import (
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nextvisit/scribe/audio/journal"
)

// memStorage is a journal.Storage in memory, so fuzzing is not bound by
// fsync, and "nothing left behind" can be checked exactly.
type memStorage struct {
	mu    sync.Mutex
	dirs  map[string]bool
	files map[string]*memData
}

type memData struct {
	mu sync.Mutex
	b  []byte
}

var (
	_ journal.Storage = (*memStorage)(nil)
	_ journal.File    = (*memFile)(nil)
)

func newMemStorage() *memStorage {
	return &memStorage{dirs: map[string]bool{"/": true}, files: map[string]*memData{}}
}

func perr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

func (m *memStorage) Mkdir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[dir] || m.files[dir] != nil {
		return perr("mkdir", dir, fs.ErrExist)
	}
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

func (m *memStorage) Create(name string) (journal.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[filepath.Dir(name)] {
		return nil, perr("create", name, fs.ErrNotExist)
	}
	if m.files[name] != nil || m.dirs[name] {
		return nil, perr("create", name, fs.ErrExist)
	}
	d := &memData{}
	m.files[name] = d
	return &memFile{d: d}, nil
}

func (m *memStorage) open(name string) (journal.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[name]
	if d == nil {
		return nil, perr("open", name, fs.ErrNotExist)
	}
	return &memFile{d: d}, nil
}

func (m *memStorage) OpenRead(name string) (journal.File, error)  { return m.open(name) }
func (m *memStorage) OpenWrite(name string) (journal.File, error) { return m.open(name) }

func (m *memStorage) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[oldname]
	if d == nil {
		return perr("rename", oldname, fs.ErrNotExist)
	}
	delete(m.files, oldname)
	m.files[newname] = d
	return nil
}

func (m *memStorage) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[name] != nil {
		delete(m.files, name)
		return nil
	}
	if !m.dirs[name] {
		return perr("remove", name, fs.ErrNotExist)
	}
	if len(m.children(name)) > 0 {
		return perr("remove", name, fs.ErrInvalid) // not empty
	}
	delete(m.dirs, name)
	return nil
}

func (m *memStorage) children(dir string) []string {
	var out []string
	for p := range m.files {
		if filepath.Dir(p) == dir {
			out = append(out, filepath.Base(p))
		}
	}
	for p := range m.dirs {
		if p != dir && filepath.Dir(p) == dir {
			out = append(out, filepath.Base(p))
		}
	}
	slices.Sort(out)
	return out
}

func (m *memStorage) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, perr("list", dir, fs.ErrNotExist)
	}
	return m.children(dir), nil
}

func (m *memStorage) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return perr("sync", dir, fs.ErrNotExist)
	}
	return nil
}

// under lists every file and folder at or below dir.
func (m *memStorage) under(dir string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.files {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	for p := range m.dirs {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

type memFile struct{ d *memData }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if off >= int64(len(f.d.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.d.b)) {
		f.d.b = append(f.d.b, make([]byte, end-int64(len(f.d.b)))...)
	}
	return copy(f.d.b[off:], p), nil
}

func (f *memFile) Close() error { return nil }
func (f *memFile) Sync() error  { return nil }

func (f *memFile) Truncate(size int64) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if size < int64(len(f.d.b)) {
		f.d.b = f.d.b[:size]
	} else {
		f.d.b = append(f.d.b, make([]byte, size-int64(len(f.d.b)))...)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return int64(len(f.d.b)), nil
}

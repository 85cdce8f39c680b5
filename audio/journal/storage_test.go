package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// memStorage is an in-memory Storage that models what survives a power cut:
// file contents only as of their last Sync, directory entries only as of
// their folder's last SyncDir. crash returns the disk as it would be found
// after one.
type memStorage struct {
	mu          sync.Mutex
	dirs        map[string]bool
	durableDirs map[string]bool
	files       map[string]*memNode
	durable     map[string]*memNode
}

type memNode struct {
	mu     sync.Mutex
	data   []byte
	synced []byte
}

var (
	_ Storage = (*memStorage)(nil)
	_ File    = (*memFile)(nil)
)

func newMemStorage() *memStorage {
	return &memStorage{dirs: map[string]bool{}, durableDirs: map[string]bool{}, files: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// crash returns the storage as found after a power cut now.
func (s *memStorage) crash() *memStorage {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := newMemStorage()
	for d := range s.durableDirs {
		c.dirs[d], c.durableDirs[d] = true, true
	}
	for p, n := range s.durable {
		n.mu.Lock()
		nn := &memNode{data: slices.Clone(n.synced), synced: slices.Clone(n.synced)}
		n.mu.Unlock()
		c.files[p], c.durable[p] = nn, nn
	}
	return c
}

func notExist(op, name string) error { return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist} }

func (s *memStorage) Mkdir(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirs[dir] {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: fs.ErrExist}
	}
	// Ancestors stand for the pre-existing profile folder: already durable.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		s.dirs[p], s.durableDirs[p] = true, true
		if filepath.Dir(p) == p {
			break
		}
	}
	s.dirs[dir] = true
	return nil
}

func (s *memStorage) Create(name string) (File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirs[filepath.Dir(name)] {
		return nil, notExist("create", name)
	}
	if _, ok := s.files[name]; ok || s.dirs[name] {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	n := &memNode{}
	s.files[name] = n
	return &memFile{n: n}, nil
}

func (s *memStorage) open(name string, ro bool) (File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.files[name]
	if !ok {
		return nil, notExist("open", name)
	}
	return &memFile{n: n, readOnly: ro}, nil
}

func (s *memStorage) OpenRead(name string) (File, error)  { return s.open(name, true) }
func (s *memStorage) OpenWrite(name string) (File, error) { return s.open(name, false) }

func (s *memStorage) Rename(oldname, newname string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.files[oldname]
	if !ok {
		return notExist("rename", oldname)
	}
	delete(s.files, oldname)
	s.files[newname] = n
	return nil
}

func (s *memStorage) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[name]; !ok {
		return notExist("remove", name)
	}
	delete(s.files, name)
	return nil
}

func (s *memStorage) List(dir string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirs[dir] {
		return nil, notExist("readdir", dir)
	}
	var names []string
	for p := range s.files {
		if filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	for p := range s.dirs {
		if filepath.Dir(p) == dir && p != dir {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

func (s *memStorage) SyncDir(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirs[dir] {
		return notExist("sync", dir)
	}
	for p := range s.durable {
		if filepath.Dir(p) == dir {
			delete(s.durable, p)
		}
	}
	for p, n := range s.files {
		if filepath.Dir(p) == dir {
			s.durable[p] = n
		}
	}
	for p := range s.dirs {
		if filepath.Dir(p) == dir {
			s.durableDirs[p] = true
		}
	}
	return nil
}

type memFile struct {
	n        *memNode
	readOnly bool
	closed   atomic.Bool
}

var errFileClosed = errors.New("file already closed")

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, errFileClosed
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.n.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, errFileClosed
	}
	if f.readOnly {
		return 0, errors.New("file opened read-only")
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if end := off + int64(len(b)); end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, make([]byte, end-int64(len(f.n.data)))...)
	}
	copy(f.n.data[off:], b)
	return len(b), nil
}

func (f *memFile) Truncate(size int64) error {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	return int64(len(f.n.data)), nil
}

func (f *memFile) Sync() error {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	f.n.synced = slices.Clone(f.n.data)
	return nil
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return errFileClosed
	}
	return nil
}

// xorStorage stands in for encryption at rest: it scrambles every byte on
// its way to the wrapped Storage, so the journal's code can only work if all
// of its I/O goes through the seam.
type xorStorage struct{ Storage }

type xorFile struct{ File }

func xorAt(b []byte, off int64) {
	for i := range b {
		b[i] ^= byte((off+int64(i))*131 + 0x5a)
	}
}

func (s xorStorage) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return xorFile{f}, nil
}
func (s xorStorage) Create(name string) (File, error)   { return s.wrap(s.Storage.Create(name)) }
func (s xorStorage) OpenRead(name string) (File, error) { return s.wrap(s.Storage.OpenRead(name)) }
func (s xorStorage) OpenWrite(name string) (File, error) {
	return s.wrap(s.Storage.OpenWrite(name))
}

func (f xorFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(b, off)
	xorAt(b[:n], off)
	return n, err
}

func (f xorFile) WriteAt(b []byte, off int64) (int, error) {
	c := slices.Clone(b)
	xorAt(c, off)
	return f.File.WriteAt(c, off)
}

// fullStorage fails writes with ENOSPC once budget bytes have been written,
// writing the part of the failing call that still fits, like a full disk.
type fullStorage struct {
	Storage
	budget *atomic.Int64
}

type fullFile struct {
	File
	budget *atomic.Int64
}

func (s fullStorage) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return fullFile{f, s.budget}, nil
}
func (s fullStorage) Create(name string) (File, error)    { return s.wrap(s.Storage.Create(name)) }
func (s fullStorage) OpenWrite(name string) (File, error) { return s.wrap(s.Storage.OpenWrite(name)) }

func (f fullFile) WriteAt(b []byte, off int64) (int, error) {
	left := f.budget.Add(-int64(len(b)))
	if left >= 0 {
		return f.File.WriteAt(b, off)
	}
	fits := max(0, int64(len(b))+left)
	f.budget.Store(0)
	n, err := f.File.WriteAt(b[:fits], off)
	if err != nil {
		return n, err
	}
	return n, fmt.Errorf("write at %d: %w", off, syscall.ENOSPC)
}

// syncSignal reports every Sync of a segment file on a channel.
type syncSignal struct {
	Storage
	synced chan string
}

type syncSignalFile struct {
	File
	name   string
	synced chan string
}

func (s syncSignal) Create(name string) (File, error) {
	f, err := s.Storage.Create(name)
	if err != nil {
		return nil, err
	}
	return syncSignalFile{f, name, s.synced}, nil
}

func (f syncSignalFile) Sync() error {
	err := f.File.Sync()
	if strings.HasSuffix(f.name, segmentSuffix) {
		select {
		case f.synced <- f.name:
		default:
		}
	}
	return err
}

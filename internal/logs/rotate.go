package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/nextvisit/scribe/platform"
)

// FileName is the name of the current log file in its folder; older ones
// are FileName.1 (newest) to FileName.N.
const FileName = "scribe.log"

// Defaults for RotateOptions' zero values: a few weeks of ordinary use,
// small enough to attach to a support request.
const (
	DefaultMaxBytes = 5 << 20
	DefaultKeep     = 5
)

// RotateOptions says when to rotate and how many old files to keep.
type RotateOptions struct {
	// MaxBytes is the size past which the file is rotated; 0 means
	// DefaultMaxBytes. A single write larger than this still goes whole
	// into a fresh file: log lines are never split.
	MaxBytes int64
	// Keep is how many rotated files to keep; 0 means DefaultKeep.
	Keep int
}

// RotatingFile is an io.Writer on dir/scribe.log that moves the file to
// scribe.log.1 (and .1 to .2, and so on, dropping the oldest) when it
// would grow past MaxBytes. It is safe for concurrent use; each Write goes
// whole into one file, so slog lines are never torn.
type RotatingFile struct {
	dir  string
	opts RotateOptions

	mu     sync.Mutex
	f      *os.File // nil once closed
	size   int64
	closed bool
}

// OpenFile opens dir/scribe.log for appending, creating dir (0700) and the
// file (0600) as needed and tightening the permissions of older ones.
func OpenFile(dir string, opts RotateOptions) (*RotatingFile, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("open log file: MaxBytes is %d; give a positive size or 0 for the default", opts.MaxBytes)
	}
	if opts.Keep < 0 {
		return nil, fmt.Errorf("open log file: Keep is %d; give a positive count or 0 for the default", opts.Keep)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Keep == 0 {
		opts.Keep = DefaultKeep
	}
	if err := platform.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	r := &RotatingFile{dir: dir, opts: opts}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// Path is the current log file's path.
func (r *RotatingFile) Path() string { return filepath.Join(r.dir, FileName) }

func (r *RotatingFile) open() error {
	path := r.Path()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	if runtime.GOOS != "windows" {
		// An older file may have been created with looser permissions.
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return fmt.Errorf("restrict the log file %s to its owner: %w", path, err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	r.f, r.size = f, fi.Size()
	return nil
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("log file closed")

// Write appends p, rotating first if p would take the file past MaxBytes.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	if r.f == nil || r.size > 0 && r.size+int64(len(p)) > r.opts.MaxBytes {
		// r.f is nil when an earlier rotation could not reopen the
		// file; try again rather than lose the log for good.
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("write log file: %w", err)
	}
	return n, nil
}

// rotate shifts scribe.log.i to .i+1 (dropping .Keep), scribe.log to .1
// and opens a new scribe.log. Called with mu held.
func (r *RotatingFile) rotate() error {
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		if err != nil {
			return fmt.Errorf("rotate log file: %w", err)
		}
		base := r.Path()
		name := func(i int) string { return base + "." + strconv.Itoa(i) }
		if err := os.Remove(name(r.opts.Keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log file: %w", err)
		}
		for i := r.opts.Keep - 1; i >= 1; i-- {
			if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate log file: %w", err)
			}
		}
		if err := os.Rename(base, name(1)); err != nil {
			return fmt.Errorf("rotate log file: %w", err)
		}
	}
	return r.open()
}

// Close closes the file; later writes fail with ErrClosed.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if err != nil {
		return fmt.Errorf("close log file: %w", err)
	}
	return nil
}

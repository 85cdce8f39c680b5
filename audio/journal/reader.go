package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// readChunk is the Reader's buffer size: memory stays constant however long
// the journal or the read.
const readChunk = 64 << 10

// Reader reads a journal's PCM by sample offset, across segments. It sees
// the journal as it was when opened (for one being written, up to the audio
// written by then); Refresh brings it up to date. Safe for concurrent use.
type Reader struct {
	c   config
	dir string
	// final: the journal was closed when opened, so nothing more can come.
	final bool
	// total mirrors the end of segs for lock-free Samples.
	total atomic.Int64

	mu     sync.Mutex
	segs   []Segment
	f      File // the segment last read, kept open for sequential reads
	fIdx   int
	live   File // the last segment, kept open by Refresh to watch it grow
	buf    []byte
	closed bool
}

// OpenReader opens dir's journal for reading. Every segment is checked with
// go-audio/wav against the manifest (format, header and file sizes); for a
// journal still being written (or crashed and not yet recovered) the last
// segment's length is taken from the file, so audio written since the
// manifest was stored is readable too.
func OpenReader(dir string, opts Options) (*Reader, error) {
	c, err := opts.resolve()
	if err != nil {
		return nil, fmt.Errorf("open journal reader %s: %w", dir, err)
	}
	m, err := readManifest(c.st, dir)
	if err != nil {
		return nil, fmt.Errorf("open journal reader %s: %w", dir, err)
	}
	segs, err := scanSegments(c.st, dir, m)
	if err != nil {
		return nil, fmt.Errorf("open journal reader %s: %w", dir, err)
	}
	r := &Reader{c: c, dir: dir, final: m.Closed, segs: segs, fIdx: -1, buf: make([]byte, readChunk)}
	if n := len(segs); n > 0 {
		r.total.Store(segs[n-1].Start + segs[n-1].Samples)
	}
	return r, nil
}

// scanSegments checks m's segments against their files and returns them
// with the open segment's length read from its file.
func scanSegments(st Storage, dir string, m Manifest) ([]Segment, error) {
	segs := append([]Segment(nil), m.Segments...)
	for i := range segs {
		s := &segs[i]
		live := !m.Closed && i == len(segs)-1
		if err := scanSegment(st, filepath.Join(dir, s.Name), s, live); err != nil {
			return nil, fmt.Errorf("segment %s: %w", s.Name, err)
		}
	}
	return segs, nil
}

func scanSegment(st Storage, path string, s *Segment, live bool) error {
	f, err := st.OpenRead(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if live {
		n, ready, err := checkLive(f)
		switch {
		case err != nil:
			return err
		case !ready:
			return fmt.Errorf("%w: the segment has no WAV header", ErrCorrupt)
		case n < s.Samples:
			return fmt.Errorf("%w: file holds %d samples, the manifest %d", ErrCorrupt, n, s.Samples)
		}
		s.Samples = n
		return nil
	}
	size, err := f.Size()
	if err != nil {
		return err
	}
	if err := checkSegment(f, size, s.Samples, false); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// checkLive checks a segment the Writer may be appending to and returns the
// whole samples it holds (a sample half written is left for later). ready
// is false while the segment is only just created, its header not yet
// written. The header is read before the size: the Writer rewrites it at
// each sync with a length already in the file, so read in this order it
// never claims more audio than the size shows.
func checkLive(f File) (n int64, ready bool, err error) {
	h := frozenHeader{File: f}
	got, err := f.ReadAt(h.h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false, fmt.Errorf("read header: %w", err)
	}
	switch classifyHeader(h.h[:got]) {
	case headerBlank:
		return 0, false, nil
	case headerForeign:
		return 0, false, fmt.Errorf("%w: not a journal segment (unexpected WAV header)", ErrCorrupt)
	}
	size, err := f.Size()
	if err != nil {
		return 0, false, err
	}
	n = (size - headerSize) / bytesPerSample
	if err := checkSegment(&h, size, n, true); err != nil {
		return 0, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return n, true, nil
}

// frozenHeader is a File whose header reads as the copy in h, so checking
// it agrees with the size read after the copy was taken.
type frozenHeader struct {
	File
	h [headerSize]byte
}

func (f *frozenHeader) ReadAt(b []byte, off int64) (int, error) {
	if off >= headerSize {
		return f.File.ReadAt(b, off)
	}
	n := copy(b, f.h[off:])
	if n == len(b) {
		return n, nil
	}
	m, err := f.File.ReadAt(b[n:], headerSize)
	return n + m, err
}

// Refresh brings a Reader of a journal being written up to date and returns
// Samples. It looks only at the last segment's length and for segments
// started since: finished segments are never checked again, so a live
// reader can afford it for every frame. Like OpenReader it sees the whole
// samples the Writer has put in the files. A Reader opened on a closed
// journal has nothing more to see: Refresh returns at once, touching no
// file (to follow a journal continued by Open, open a new Reader).
func (r *Reader) Refresh() (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.total.Load(), fmt.Errorf("refresh journal %s: %w", r.dir, ErrClosed)
	}
	if r.final {
		return r.total.Load(), nil
	}
	if err := r.refresh(); err != nil {
		return r.total.Load(), fmt.Errorf("refresh journal %s: %w", r.dir, err)
	}
	return r.total.Load(), nil
}

func (r *Reader) refresh() error {
	for {
		name := segmentName(len(r.segs) + 1)
		f, err := r.c.st.OpenRead(filepath.Join(r.dir, name))
		if isNotExist(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", name, err)
		}
		started, err := r.follow(f, name)
		if err != nil || !started {
			return errors.Join(err, f.Close())
		}
	}
	if len(r.segs) == 0 {
		return nil
	}
	// No later segment was seen, so this one may still grow; one started
	// since only means the length read here may be short of its final one.
	_, n, err := r.lastLength()
	if err != nil {
		return err
	}
	r.setLast(n)
	return nil
}

// follow takes up segment name (open as f), found after the last one, as
// the new last segment, and reports whether it did: not while the Writer
// has only just created it. The Writer wrote its predecessor's final header,
// fsynced and closed it before creating it, so that one is sealed here,
// checked as finished.
func (r *Reader) follow(f File, name string) (bool, error) {
	n, ready, err := checkLive(f)
	if err != nil {
		return false, fmt.Errorf("segment %s: %w", name, err)
	}
	if !ready {
		return false, nil
	}
	if len(r.segs) > 0 {
		if err := r.seal(); err != nil {
			return false, err
		}
	}
	start := r.total.Load()
	r.segs = append(r.segs, Segment{Name: name, Start: start, Samples: n})
	r.total.Store(start + n)
	if r.live != nil {
		if err := r.live.Close(); err != nil {
			r.c.log.Warn("journal: cannot close a finished segment", "dir", r.dir, "err", err)
		}
	}
	r.live = f
	return true, nil
}

// seal reads the last segment's final length and checks it as finished.
func (r *Reader) seal() error {
	size, n, err := r.lastLength()
	if err != nil {
		return err
	}
	if err := checkSegment(r.live, size, n, false); err != nil {
		return fmt.Errorf("segment %s: %w: %v", r.segs[len(r.segs)-1].Name, ErrCorrupt, err)
	}
	r.setLast(n)
	return nil
}

// lastLength reads the last segment's file size and the whole samples it
// holds, opening it the first time (kept open while it is the last).
func (r *Reader) lastLength() (size, n int64, err error) {
	s := r.segs[len(r.segs)-1]
	if r.live == nil {
		if r.live, err = r.c.st.OpenRead(filepath.Join(r.dir, s.Name)); err != nil {
			return 0, 0, fmt.Errorf("segment %s: %w", s.Name, err)
		}
	}
	if size, err = r.live.Size(); err != nil {
		return 0, 0, fmt.Errorf("segment %s: %w", s.Name, err)
	}
	n = max(size-headerSize, 0) / bytesPerSample
	if n < s.Samples {
		return 0, 0, fmt.Errorf("segment %s: %w: file holds %d samples, %d were read from it before", s.Name, ErrCorrupt, n, s.Samples)
	}
	return size, n, nil
}

func (r *Reader) setLast(n int64) {
	s := &r.segs[len(r.segs)-1]
	s.Samples = n
	r.total.Store(s.Start + n)
}

// Samples is the number of samples the Reader can read.
func (r *Reader) Samples() int64 { return r.total.Load() }

// ReadAt fills p with the samples starting at offset off, crossing segment
// boundaries. Like io.ReaderAt, fewer than len(p) samples come with an
// error: io.EOF at the end of the journal.
func (r *Reader) ReadAt(p []int16, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read journal %s: negative offset %d", r.dir, off)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("read journal %s: %w", r.dir, ErrClosed)
	}
	n := 0
	for n < len(p) && off < r.total.Load() {
		i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].Start+r.segs[i].Samples > off })
		s := r.segs[i]
		count := int(min(int64(len(p)-n), s.Start+s.Samples-off, readChunk/bytesPerSample))
		b := r.buf[:count*bytesPerSample]
		if err := r.readSegment(i, b, off-s.Start); err != nil {
			return n, fmt.Errorf("read journal %s: %w", r.dir, err)
		}
		for j := range count {
			p[n+j] = int16(binary.LittleEndian.Uint16(b[j*bytesPerSample:]))
		}
		n += count
		off += int64(count)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readSegment fills b from segment i, starting at sample off within it.
func (r *Reader) readSegment(i int, b []byte, off int64) error {
	if r.fIdx != i {
		if r.f != nil {
			err := r.f.Close()
			r.f, r.fIdx = nil, -1
			if err != nil {
				return fmt.Errorf("close %s: %w", r.segs[i].Name, err)
			}
		}
		f, err := r.c.st.OpenRead(filepath.Join(r.dir, r.segs[i].Name))
		if err != nil {
			return fmt.Errorf("open segment: %w", err)
		}
		r.f, r.fIdx = f, i
	}
	if err := readFull(r.f, b, headerSize+off*bytesPerSample); err != nil {
		return fmt.Errorf("read %s: %w", r.segs[i].Name, err)
	}
	return nil
}

// Close releases the Reader.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	for _, f := range []File{r.f, r.live} {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	r.f, r.live = nil, nil
	if err != nil {
		return fmt.Errorf("close journal reader %s: %w", r.dir, err)
	}
	return nil
}

// Export writes the whole encounter to w, from its current position, as one
// 16 kHz mono 16-bit WAV, streaming in constant memory (one 64 KiB buffer).
// It stops when ctx is done; the partial output is the caller's to discard.
func Export(ctx context.Context, dir string, w io.WriteSeeker, opts Options) error {
	r, err := OpenReader(dir, opts)
	if err != nil {
		return fmt.Errorf("export journal: %w", err)
	}
	err = r.export(ctx, w)
	if cerr := r.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export journal %s: %w", dir, err)
	}
	return nil
}

func (r *Reader) export(ctx context.Context, w io.Writer) error {
	total := r.total.Load()
	if total*bytesPerSample > maxDataBytes {
		return fmt.Errorf("%d samples is more than one WAV file can hold", total)
	}
	h := header(total)
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.segs {
		for off := int64(0); off < s.Samples; {
			if err := ctx.Err(); err != nil {
				return err
			}
			count := min(s.Samples-off, readChunk/bytesPerSample)
			b := r.buf[:count*bytesPerSample]
			if err := r.readSegment(i, b, off); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("write audio: %w", err)
			}
			off += count
		}
	}
	return nil
}

var _ io.Closer = (*Reader)(nil)

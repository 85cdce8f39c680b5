package journal

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
)

// readChunk is the Reader's buffer size: memory stays constant however long
// the journal or the read.
const readChunk = 64 << 10

// Reader reads a journal's PCM by sample offset, across segments. It sees
// the journal as it was when opened (for one being written, up to the audio
// written by then); open another Reader to see more. Safe for concurrent use.
type Reader struct {
	c     config
	dir   string
	segs  []Segment
	total int64

	mu     sync.Mutex
	f      File // the segment last read, kept open for sequential reads
	fIdx   int
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
	r := &Reader{c: c, dir: dir, segs: segs, fIdx: -1, buf: make([]byte, readChunk)}
	if n := len(segs); n > 0 {
		r.total = segs[n-1].Start + segs[n-1].Samples
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
	size, err := f.Size()
	if err != nil {
		return err
	}
	if live && size >= headerSize {
		n := (size - headerSize) / bytesPerSample
		if n < s.Samples {
			return fmt.Errorf("%w: file holds %d samples, the manifest %d", ErrCorrupt, n, s.Samples)
		}
		s.Samples = n
	}
	if err := checkSegment(f, size, s.Samples, live); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// Samples is the number of samples the Reader can read.
func (r *Reader) Samples() int64 { return r.total }

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
	for n < len(p) && off < r.total {
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
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		if err != nil {
			return fmt.Errorf("close journal reader %s: %w", r.dir, err)
		}
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
	if r.total*bytesPerSample > maxDataBytes {
		return fmt.Errorf("%d samples is more than one WAV file can hold", r.total)
	}
	h := header(r.total)
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

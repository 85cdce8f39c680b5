package playback

import (
	"errors"
	"io"
	"slices"
	"testing"
)

// pcm is an in-memory ReaderAt, as a journal Reader behaves: fewer samples
// than asked come with io.EOF.
type pcm []int16

func (p pcm) ReadAt(b []int16, off int64) (int, error) {
	if off >= int64(len(p)) {
		return 0, io.EOF
	}
	n := copy(b, p[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// failing fails every read after the first limit samples.
type failing struct {
	pcm
	limit int64
}

var errDisk = errors.New("disk on fire")

func (f failing) ReadAt(b []int16, off int64) (int, error) {
	if off+int64(len(b)) > f.limit {
		return 0, errDisk
	}
	return f.pcm.ReadAt(b, off)
}

func ramp(n int) pcm {
	p := make(pcm, n)
	for i := range p {
		p[i] = int16(i*7 - n*3)
	}
	return p
}

// readAll reads s in chunks of size samples.
func readAll(s Source, size int) ([]int16, error) {
	var got []int16
	buf := make([]int16, size)
	for {
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
		if n == 0 {
			return got, errors.New("Read returned 0 samples and no error")
		}
	}
}

func TestSection(t *testing.T) {
	src := ramp(1000)
	for _, tc := range []struct {
		name    string
		off, n  int64
		chunk   int
		want    []int16
		wantErr error
	}{
		{name: "middle", off: 100, n: 333, chunk: 64, want: src[100:433], wantErr: io.EOF},
		{name: "one read", off: 0, n: 1000, chunk: 4096, want: src, wantErr: io.EOF},
		{name: "exact chunks", off: 10, n: 100, chunk: 10, want: src[10:110], wantErr: io.EOF},
		{name: "empty", off: 5, n: 0, chunk: 10, want: nil, wantErr: io.EOF},
		{name: "negative length", off: 5, n: -3, chunk: 10, want: nil, wantErr: io.EOF},
		{name: "past the end", off: 900, n: 200, chunk: 64, want: src[900:], wantErr: io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(NewSection(src, tc.off, tc.n), tc.chunk)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == io.EOF && err != io.EOF {
				t.Errorf("end of section is %v, want io.EOF itself, as io.Reader", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("read %d samples, want %d (first difference at %d)", len(got), len(tc.want), firstDiff(got, tc.want))
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		got, err := readAll(NewSection(failing{src, 300}, 0, 1000), 100)
		if !errors.Is(err, errDisk) {
			t.Fatalf("error %v, want the reader's", err)
		}
		if !slices.Equal(got, src[:300]) {
			t.Errorf("read %d samples before the error, want 300", len(got))
		}
	})
}

func firstDiff(a, b []int16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

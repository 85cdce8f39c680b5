// Package playback plays recorded audio on the computer's speakers: a range
// of an encounter's journal, streamed in small chunks so that memory stays
// the same for a second or an hour.
package playback

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Player plays mono 16-bit PCM.
type Player interface {
	// Play plays src, sampleRate samples a second, on the default output
	// device, and returns once the last sample has been played. When ctx
	// ends it stops at once, dropping what is buffered, and returns
	// context.Cause(ctx). A machine without speakers gets ErrNoOutput.
	Play(ctx context.Context, src Source, sampleRate int) error
}

// Source yields PCM in order, like io.Reader: Read fills p with up to
// len(p) samples and returns io.EOF (possibly with the last samples) at the
// end.
type Source interface {
	Read(p []int16) (int, error)
}

// ReaderAt reads PCM by sample offset; *journal.Reader is one.
type ReaderAt interface {
	ReadAt(p []int16, off int64) (int, error)
}

// ErrNoOutput means the machine has no output device to play on.
//
//lint:ignore ST1005 the message is shown to the clinician as written.
var ErrNoOutput = errors.New("No speaker or headphones found — connect some or check the system sound settings.")

// Section is the Source of n samples of a ReaderAt from offset off on, read
// as they are played.
type Section struct {
	r   ReaderAt
	off int64 // next sample to read
	end int64
}

var _ Source = (*Section)(nil)

// NewSection returns the Source of samples [off, off+n) of r.
func NewSection(r ReaderAt, off, n int64) *Section {
	return &Section{r: r, off: off, end: off + max(n, 0)}
}

// Read reads the next samples of the section. A ReaderAt that ends before
// the section does gives io.ErrUnexpectedEOF.
func (s *Section) Read(p []int16) (int, error) {
	if s.off >= s.end {
		return 0, io.EOF
	}
	if int64(len(p)) > s.end-s.off {
		p = p[:s.end-s.off]
	}
	n, err := s.r.ReadAt(p, s.off)
	s.off += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read audio at sample %d: %w", s.off, err)
	}
	if s.off >= s.end {
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("read audio at sample %d: the audio ends early: %w", s.off, io.ErrUnexpectedEOF)
	}
	return n, nil
}

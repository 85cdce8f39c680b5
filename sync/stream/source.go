package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nextvisit/scribe/audio/journal"
)

// Source is the encounter's audio, 16 kHz mono s16le, growing while the visit is recorded.
type Source interface {
	// ReadAt reads samples at absolute sample offset off, like io.ReaderAt.
	ReadAt(p []int16, off int64) (int, error)
	// Wait blocks until more than have samples exist, or the recording has ended (no more will come),
	// or ctx ends; it returns how many samples exist and whether the recording has ended.
	Wait(ctx context.Context, have int64) (avail int64, ended bool, err error)
}

// Growth tells a JournalSource how far the journal's Writer has got, so the streamer learns of new
// audio the moment it is written instead of polling the disk. The recorder calls Grew with
// Writer.Samples() after each Writer.Write returns (the audio is in the file by then) and End after
// Writer.Close. Safe for concurrent use.
type Growth struct {
	mu      sync.Mutex
	samples int64
	ended   bool
	changed chan struct{} // closed and replaced at each change, waking every waiter
}

// NewGrowth starts at the journal's current length: 0 for a new journal, Writer.Samples() for one
// that journal.Open continues.
func NewGrowth(samples int64) *Growth {
	return &Growth{samples: max(samples, 0), changed: make(chan struct{})}
}

// Grew records that the journal now holds samples samples. A smaller count than before is ignored:
// a journal never shrinks.
func (g *Growth) Grew(samples int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if samples <= g.samples {
		return
	}
	g.samples = samples
	g.wakeLocked()
}

// End records that the recording is over: no more audio will come.
func (g *Growth) End() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return
	}
	g.ended = true
	g.wakeLocked()
}

func (g *Growth) wakeLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *Growth) snapshot() (samples int64, ended bool, changed <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.samples, g.ended, g.changed
}

// JournalSource reads an encounter's journal as a Source: one being recorded (with its Growth) or
// a finished one, such as an imported recording (all audio available, ended).
type JournalSource struct {
	dir    string
	growth *Growth // nil for a finished journal

	mu     sync.Mutex
	rd     *journal.Reader
	closed bool
}

var _ Source = (*JournalSource)(nil)

// OpenJournalSource opens the journal in dir. Pass the Writer's Growth while it is being recorded,
// or nil for a finished journal, which must then be closed (or repaired by journal.Recover).
func OpenJournalSource(dir string, opts journal.Options, g *Growth) (*JournalSource, error) {
	if g == nil {
		m, err := journal.ReadManifest(dir, opts)
		if err != nil {
			return nil, fmt.Errorf("open journal source: %w", err)
		}
		if !m.Closed {
			return nil, fmt.Errorf("open journal source %s: the journal is still being written or was not closed cleanly: pass the recorder's Growth, or run journal.Recover first", dir)
		}
	}
	rd, err := journal.OpenReader(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open journal source: %w", err)
	}
	return &JournalSource{dir: dir, growth: g, rd: rd}, nil
}

// ReadAt reads samples from the journal. For a growing journal, a read past what the Reader has
// seen refreshes it first, which looks only at the newest segment (not the whole journal).
func (s *JournalSource) ReadAt(p []int16, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("read journal source %s: %w", s.dir, journal.ErrClosed)
	}
	if s.growth != nil && off+int64(len(p)) > s.rd.Samples() {
		if _, err := s.rd.Refresh(); err != nil {
			return 0, fmt.Errorf("read journal source: %w", err)
		}
	}
	return s.rd.ReadAt(p, off)
}

// Wait implements Source: a finished journal has everything and has ended; a growing one waits on
// its Growth.
func (s *JournalSource) Wait(ctx context.Context, have int64) (int64, bool, error) {
	if s.growth == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.rd.Samples(), true, nil
	}
	for {
		n, ended, changed := s.growth.snapshot()
		if n > have || ended {
			// Report what the Reader can read, not what the Writer counted:
			// the two can differ for a moment (a segment being rotated), and
			// the stream reads exactly what Wait reports. The next growth
			// brings the rest.
			vis, err := s.visible()
			if err != nil {
				return 0, false, err
			}
			if ended && vis < n {
				return vis, false, fmt.Errorf("read journal source: the finished journal holds %d samples, its writer wrote %d", vis, n)
			}
			if vis > have || ended {
				return vis, ended, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return n, false, ctx.Err()
		}
	}
}

// visible brings the Reader up to date and returns how much it can read.
func (s *JournalSource) visible() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("read journal source %s: %w", s.dir, journal.ErrClosed)
	}
	n, err := s.rd.Refresh()
	if err != nil {
		return 0, fmt.Errorf("read journal source: %w", err)
	}
	return n, nil
}

// Close releases the journal.
func (s *JournalSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.rd.Close(); err != nil && !errors.Is(err, journal.ErrClosed) {
		return fmt.Errorf("close journal source: %w", err)
	}
	return nil
}

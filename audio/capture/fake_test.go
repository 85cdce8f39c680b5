package capture

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/journal"
)

// fakeBackend is a Backend whose devices the test plugs and unplugs and
// whose audio the test pushes, standing in for the audio thread.
type fakeBackend struct {
	mu      sync.Mutex
	devs    []Device
	streams []*fakeStream
	opened  chan *fakeStream
}

var _ Backend = (*fakeBackend)(nil)

func newFakeBackend(devs ...Device) *fakeBackend {
	return &fakeBackend{devs: devs, opened: make(chan *fakeStream, 16)}
}

func (b *fakeBackend) setDevices(devs ...Device) {
	b.mu.Lock()
	b.devs = devs
	b.mu.Unlock()
}

// unplug removes every device and silences their streams, as pulling a USB
// microphone does: no error, the callbacks just stop.
func (b *fakeBackend) unplug() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.devs = nil
	for _, s := range b.streams {
		s.mu.Lock()
		s.dead = true
		s.mu.Unlock()
	}
}

func (b *fakeBackend) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.devs), nil
}

func (b *fakeBackend) Open(ctx context.Context, name string, f Format) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.devs, func(d Device) bool { return (name == "" && d.Default) || (name != "" && d.Name == name) })
	if i < 0 {
		return nil, fmt.Errorf("%w: %q", ErrDeviceNotFound, name)
	}
	d := b.devs[i]
	if f.SampleRate <= 0 {
		f.SampleRate = d.SampleRate
	}
	if f.Channels <= 0 {
		f.Channels = min(d.Channels, 2)
	}
	s := &fakeStream{dev: d, format: f, ring: newRing(int(f.SampleRate)*f.Channels*ringSeconds, f.Channels)}
	b.streams = append(b.streams, s)
	select {
	case b.opened <- s:
	default:
	}
	return s, nil
}

// current is the newest stream that is started and not closed.
func (b *fakeBackend) current() *fakeStream {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.streams) - 1; i >= 0; i-- {
		s := b.streams[i]
		s.mu.Lock()
		live := s.started && !s.closed
		s.mu.Unlock()
		if live {
			return s
		}
	}
	return nil
}

type fakeStream struct {
	dev    Device
	format Format
	ring   *ring
	// mu makes push and Close exclusive, as PortAudio guarantees that no
	// callback runs after Close returns. (The ring itself needs no lock.)
	mu      sync.Mutex
	started bool
	closed  bool
	dead    bool // unplugged: no more callbacks
	stop    chan struct{}
}

func (s *fakeStream) Device() Device { return s.dev }
func (s *fakeStream) Format() Format { return s.format }
func (s *fakeStream) Read(p []float32) int {
	if s.isClosed() {
		return 0
	}
	return s.ring.read(p)
}
func (s *fakeStream) Counters() Counters { return s.ring.counters() }

func (s *fakeStream) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("fake stream closed")
	}
	s.started = true
	s.stop = make(chan struct{})
	// A live device calls back continuously; between the test's pushes an
	// empty buffer keeps this one from looking unplugged.
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.push(nil, false)
			}
		}
	}()
	return nil
}

func (s *fakeStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && !s.closed {
		close(s.stop)
	}
	s.closed = true
	return nil
}

// push delivers interleaved samples as the audio thread would; false when
// the stream is not running.
func (s *fakeStream) push(in []float32, overflow bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed || s.dead {
		return false
	}
	s.ring.write(in, overflow)
	return true
}

func (s *fakeStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// tone returns d of a sine at hz and amplitude amp (full scale 1) in the
// stream's format, every channel alike, starting at phase frame.
func tone(f Format, hz, amp float64, d time.Duration, frame *int) []float32 {
	n := int(f.SampleRate * d.Seconds())
	out := make([]float32, 0, n*f.Channels)
	for i := range n {
		v := float32(amp * math.Sin(2*math.Pi*hz*float64(*frame+i)/f.SampleRate))
		for range f.Channels {
			out = append(out, v)
		}
	}
	*frame += n
	return out
}

// pushChunks pushes in in 20 ms buffers, like a device would.
func pushChunks(t *testing.T, s *fakeStream, in []float32) {
	t.Helper()
	chunk := int(s.format.SampleRate/50) * s.format.Channels
	for len(in) > 0 {
		n := min(chunk, len(in))
		if !s.push(in[:n], false) {
			t.Fatalf("push to %q: stream not running", s.dev.Name)
		}
		in = in[n:]
	}
}

// harness records what a Recorder reports and lets the test wait for it.
type harness struct {
	t       *testing.T
	mu      sync.Mutex
	levels  []dsp.Level
	times   []time.Time
	events  []Event
	changed chan struct{}
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, changed: make(chan struct{}, 1)}
}

func (h *harness) notify() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *harness) onLevel(l dsp.Level) {
	h.mu.Lock()
	h.levels = append(h.levels, l)
	h.times = append(h.times, time.Now())
	h.mu.Unlock()
	h.notify()
}

func (h *harness) onEvent(e Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
	h.t.Logf("event %s at %d: %s", e.Kind, e.At, e.Detail)
	h.notify()
}

// waitFor waits until cond holds, re-checking whenever the recorder
// reports something, and fails the test after timeout.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Conditions on Stats change without a report; re-check at the
	// writer's pace too.
	poll := time.NewTicker(tick)
	defer poll.Stop()
	for !cond() {
		select {
		case <-h.changed:
		case <-poll.C:
		case <-deadline.C:
			h.t.Fatalf("timed out after %s waiting for %s; events: %+v", timeout, what, h.eventList())
		case <-h.t.Context().Done():
			h.t.Fatalf("test ended waiting for %s", what)
		}
	}
}

// levelAt is the offset of the last level reading (0 before any).
func (h *harness) levelAt() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.levels) == 0 {
		return 0
	}
	return h.levels[len(h.levels)-1].At
}

// reached is a condition: the meter has read up to n samples, give or take
// the resampler's look-ahead and the last partial 50 ms window.
func (h *harness) reached(n int64) func() bool {
	return func() bool { return h.levelAt() >= n-800 }
}

func (h *harness) eventList() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func (h *harness) has(kind string) bool {
	return h.count(kind) > 0
}

func (h *harness) count(kind string) int {
	n := 0
	for _, e := range h.eventList() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (h *harness) first(kind string) (Event, bool) {
	for _, e := range h.eventList() {
		if e.Kind == kind {
			return e, true
		}
	}
	return Event{}, false
}

func (h *harness) levelList() ([]dsp.Level, []time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.levels), slices.Clone(h.times)
}

// config returns a Config wired to h.
func (h *harness) config(b Backend, j *journal.Writer) Config {
	return Config{Backend: b, Journal: j, OnLevel: h.onLevel, OnEvent: h.onEvent, Logger: testLogger(h.t)}
}

// newJournal creates a journal in a fresh folder.
func newJournal(t *testing.T, opts journal.Options) (*journal.Writer, string) {
	t.Helper()
	dir := t.TempDir() + "/enc"
	j, err := journal.Create(dir, "enc-test", opts)
	if err != nil {
		t.Fatalf("create journal: %v", err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j, dir
}

// readJournal returns all of a closed journal's PCM.
func readJournal(t *testing.T, dir string, opts journal.Options) []int16 {
	t.Helper()
	r, err := journal.OpenReader(dir, opts)
	if err != nil {
		t.Fatalf("open journal reader: %v", err)
	}
	defer r.Close()
	pcm := make([]int16, r.Samples())
	n, err := r.ReadAt(pcm, 0)
	if n != len(pcm) {
		t.Fatalf("read journal: %d of %d samples: %v", n, len(pcm), err)
	}
	return pcm
}

// failStorage is journal storage whose writes fail while fail is set, like a
// full disk.
type failStorage struct {
	journal.FileStorage
	fail atomic.Bool
}

var errDiskFull = fmt.Errorf("write: %w", syscall.ENOSPC)

func (s *failStorage) Create(name string) (journal.File, error) {
	if s.fail.Load() {
		return nil, &fs.PathError{Op: "create", Path: name, Err: errDiskFull}
	}
	f, err := s.FileStorage.Create(name)
	if err != nil {
		return nil, err
	}
	return &failFile{File: f, s: s}, nil
}

func (s *failStorage) OpenWrite(name string) (journal.File, error) {
	f, err := s.FileStorage.OpenWrite(name)
	if err != nil {
		return nil, err
	}
	return &failFile{File: f, s: s}, nil
}

func (s *failStorage) Rename(oldname, newname string) error {
	if s.fail.Load() {
		return errDiskFull
	}
	return s.FileStorage.Rename(oldname, newname)
}

func (s *failStorage) SyncDir(dir string) error {
	if s.fail.Load() {
		return errDiskFull
	}
	return s.FileStorage.SyncDir(dir)
}

type failFile struct {
	journal.File
	s *failStorage
}

func (f *failFile) WriteAt(p []byte, off int64) (int, error) {
	if f.s.fail.Load() {
		return 0, errDiskFull
	}
	return f.File.WriteAt(p, off)
}

func (f *failFile) Sync() error {
	if f.s.fail.Load() {
		return errDiskFull
	}
	return f.File.Sync()
}

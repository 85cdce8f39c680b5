package journal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// follower reads a growing journal through one Reader, checking each sample
// it newly sees; it reports through Errorf, so it may run in any goroutine.
type follower struct {
	t    *testing.T
	r    *Reader
	have int64
}

// catchUp refreshes the Reader and reads what it newly holds.
func (f *follower) catchUp() error {
	n, err := f.r.Refresh()
	if err != nil {
		return fmt.Errorf("Refresh: %w", err)
	}
	if n < f.have {
		return fmt.Errorf("Refresh went back from %d to %d samples", f.have, n)
	}
	if s := f.r.Samples(); s != n {
		return fmt.Errorf("Refresh returned %d, Samples is %d", n, s)
	}
	p := make([]int16, n-f.have)
	if got, err := f.r.ReadAt(p, f.have); got != len(p) || err != nil {
		return fmt.Errorf("ReadAt(%d samples at %d) = %d, %v", len(p), f.have, got, err)
	}
	for i, v := range p {
		if want := sig(f.have + int64(i)); v != want {
			return fmt.Errorf("sample %d = %d, want %d (read %d at %d)", f.have+int64(i), v, want, len(p), f.have)
		}
	}
	f.have = n
	return nil
}

// follow catches up until done is closed, then once more.
func (f *follower) follow(done <-chan struct{}) {
	for {
		select {
		case <-done:
			if err := f.catchUp(); err != nil {
				f.t.Error(err)
			}
			return
		default:
		}
		if err := f.catchUp(); err != nil {
			f.t.Error(err)
			return
		}
	}
}

// TestRefreshFollowsWriter: Readers refreshing while a Writer records
// across many segment rotations (with syncs rewriting headers and marks
// rewriting the manifest meanwhile) see every sample exactly once, in
// order, each as written: a sample read twice, skipped, shifted or torn
// would not match the signal. One Reader starts before any audio, the other
// mid-way.
func TestRefreshFollowsWriter(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		opts.SyncInterval = time.Millisecond
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		early, err := OpenReader(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer early.Close()

		const total = 30*seg + 123
		done, half := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(done)
			chunks := []int64{1, 37, 160, 999, 1000, 1601, 2500, 3}
			for i, off := 0, int64(0); off < total; i++ {
				k := min(chunks[i%len(chunks)], total-off)
				if err := w.Write(signal(off, k)); err != nil {
					t.Errorf("Write at %d: %v", off, err)
					return
				}
				if off < total/2 && off+k >= total/2 {
					close(half)
				}
				off += k
				if i%7 == 0 {
					if err := w.Mark(EventOverrun, ""); err != nil {
						t.Errorf("Mark: %v", err)
						return
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		first := &follower{t: t, r: early}
		wg.Go(func() { first.follow(done) })
		second := &follower{t: t}
		wg.Go(func() {
			select {
			case <-half:
			case <-done:
				return
			}
			r, err := OpenReader(dir, opts)
			if err != nil {
				t.Errorf("OpenReader mid-way: %v", err)
				return
			}
			defer r.Close()
			second.r = r
			second.follow(done)
		})
		wg.Wait()
		if t.Failed() {
			return
		}
		for name, f := range map[string]*follower{"first": first, "second": second} {
			if f.have != total {
				t.Errorf("the %s Reader saw %d samples, want %d", name, f.have, total)
			}
		}
		if n := len(early.segs); n != 31 {
			t.Errorf("the Reader followed %d segments, want 31", n)
		}
	})
}

// tearStorage makes one audio write stop after an odd number of bytes, as
// a full disk can, and calls torn while the half sample is in the file,
// before the Writer cuts it.
type tearStorage struct {
	Storage
	armed *atomic.Bool
	torn  func()
}

type tearFile struct {
	File
	s tearStorage
}

func (s tearStorage) Create(name string) (File, error) {
	f, err := s.Storage.Create(name)
	if err != nil {
		return nil, err
	}
	return tearFile{f, s}, nil
}

func (f tearFile) WriteAt(b []byte, off int64) (int, error) {
	if off < headerSize || len(b) < 2*bytesPerSample || !f.s.armed.CompareAndSwap(true, false) {
		return f.File.WriteAt(b, off)
	}
	n, err := f.File.WriteAt(b[:len(b)-1], off)
	if err != nil {
		return n, err
	}
	f.s.torn()
	return n, fmt.Errorf("write at %d: %w", off, syscall.ENOSPC)
}

// TestRefreshSkipsTornSample: a Refresh while the file ends in half a
// sample sees only the whole ones before it; once the Writer goes on, the
// Reader reads the sample written properly.
func TestRefreshSkipsTornSample(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		armed := new(atomic.Bool)
		var r *Reader
		ran := false
		tear := tearStorage{Storage: st, armed: armed, torn: func() {
			ran = true
			// The Writer was writing 100 samples at 450; 99.5 reached the file.
			n, err := r.Refresh()
			if err != nil || n != 549 {
				t.Errorf("Refresh with a torn sample = %d, %v; want 549", n, err)
				return
			}
			p := make([]int16, 99)
			if got, err := r.ReadAt(p, 450); got != 99 || err != nil {
				t.Errorf("ReadAt = %d, %v", got, err)
				return
			}
			for i, v := range p {
				if v != sig(450+int64(i)) {
					t.Errorf("sample %d = %d, want %d", 450+i, v, sig(450+int64(i)))
					return
				}
			}
		}}
		opts := testOpts(t, tear)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		writeSig(t, w, 0, 450, 150)
		if r, err = OpenReader(dir, opts); err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		armed.Store(true)
		if err := w.Write(signal(450, 100)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("torn Write: %v, want ENOSPC", err)
		}
		if !ran || t.Failed() {
			t.Fatalf("the torn write was not seen (hook ran: %v)", ran)
		}
		if w.Samples() != 549 {
			t.Fatalf("Writer kept %d samples, want 549", w.Samples())
		}
		writeSig(t, w, 549, 2000, 300)
		f := &follower{t: t, r: r}
		if err := f.catchUp(); err != nil {
			t.Fatal(err)
		}
		p := make([]int16, r.Samples())
		if n, err := r.ReadAt(p, 0); n != 2549 || err != nil {
			t.Fatalf("ReadAt(all) = %d, %v; want 2549", n, err)
		}
		checkSignal(t, p, 0)
	})
}

// countStorage counts what Readers ask of storage: OpenRead by name, and
// every other call.
type countStorage struct {
	Storage
	mu     sync.Mutex
	opened []string
	calls  int
}

type countFile struct {
	File
	s *countStorage
}

func (s *countStorage) note(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != "" {
		s.opened = append(s.opened, filepath.Base(name))
	}
	s.calls++
}

// take returns what was counted since the last take.
func (s *countStorage) take() (opened []string, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	opened, calls = s.opened, s.calls
	s.opened, s.calls = nil, 0
	return opened, calls
}

func (s *countStorage) OpenRead(name string) (File, error) {
	s.note(name)
	f, err := s.Storage.OpenRead(name)
	if err != nil {
		return nil, err
	}
	return countFile{f, s}, nil
}

func (s *countStorage) List(dir string) ([]string, error) {
	s.note("")
	return s.Storage.List(dir)
}

func (f countFile) ReadAt(b []byte, off int64) (int, error) {
	f.s.note("")
	return f.File.ReadAt(b, off)
}

func (f countFile) Size() (int64, error) {
	f.s.note("")
	return f.File.Size()
}

// TestRefreshClosedJournal: on a journal closed when the Reader opened,
// Refresh is a no-op touching no storage, and reads are unchanged; on a
// closed Reader it fails with ErrClosed.
func TestRefreshClosedJournal(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 2500, 700)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		cs := &countStorage{Storage: st}
		ropts := opts
		ropts.Storage = cs
		r, err := OpenReader(dir, ropts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cs.take()
		for range 3 {
			if n, err := r.Refresh(); n != 2500 || err != nil {
				t.Fatalf("Refresh = %d, %v; want 2500, nil", n, err)
			}
		}
		if opened, calls := cs.take(); calls != 0 {
			t.Fatalf("Refresh of a closed journal made %d storage calls (opened %v), want none", calls, opened)
		}
		p := make([]int16, 2600)
		if n, err := r.ReadAt(p, 0); n != 2500 || !errors.Is(err, io.EOF) {
			t.Fatalf("ReadAt = %d, %v; want 2500, EOF", n, err)
		}
		checkSignal(t, p[:2500], 0)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Refresh(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Refresh of a closed Reader: %v, want ErrClosed", err)
		}
	})
}

// TestRefreshLooksOnlyAtNewest: Refresh opens only the last segment it
// knows and probes for the next one; the finished ones are never looked at
// again, however many there are.
func TestRefreshLooksOnlyAtNewest(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		writeSig(t, w, 0, 20*seg+300, 1000)
		cs := &countStorage{Storage: st}
		ropts := opts
		ropts.Storage = cs
		r, err := OpenReader(dir, ropts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// Follow from the last sample on, as a live stream does.
		f := &follower{t: t, r: r, have: r.Samples() - 1}
		cs.take()
		if err := f.catchUp(); err != nil {
			t.Fatal(err)
		}
		// The first Refresh probes for the next segment and opens the last
		// to watch it; the read opens that one again for reading.
		if opened, _ := cs.take(); !slices.Equal(opened, []string{"seg-000022.wav", "seg-000021.wav", "seg-000021.wav"}) {
			t.Fatalf("first Refresh and read opened %v", opened)
		}
		writeSig(t, w, 20*seg+300, 100, 100)
		if err := f.catchUp(); err != nil {
			t.Fatal(err)
		}
		if opened, calls := cs.take(); !slices.Equal(opened, []string{"seg-000022.wav"}) || calls > 4 {
			t.Fatalf("Refresh within a segment opened %v in %d calls; want only the probe for the next segment", opened, calls)
		}
		writeSig(t, w, 20*seg+400, 2*seg, 500)
		if err := f.catchUp(); err != nil {
			t.Fatal(err)
		}
		if opened, _ := cs.take(); !slices.Equal(opened, []string{"seg-000022.wav", "seg-000023.wav", "seg-000024.wav", "seg-000022.wav", "seg-000023.wav"}) {
			t.Fatalf("Refresh across two rotations opened %v", opened)
		}
		if f.have != 22*seg+400 {
			t.Fatalf("Reader at %d samples, want %d", f.have, 22*seg+400)
		}
	})
}

// TestRefreshNextSegment: a segment file the Writer has only just created
// (header not yet written) is left for a later Refresh; one that is not a
// journal segment fails with ErrCorrupt and leaves the Reader as it was.
func TestRefreshNextSegment(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1500, 500)
		r, err := OpenReader(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		next := filepath.Join(dir, segmentName(3))
		f, err := st.Create(next)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Refresh(); n != 1500 || err != nil {
			t.Fatalf("Refresh with an empty next segment = %d, %v; want 1500, nil", n, err)
		}
		writeAt(t, st, next, make([]byte, headerSize), 0)
		if n, err := r.Refresh(); n != 1500 || err != nil {
			t.Fatalf("Refresh with a blank header next = %d, %v; want 1500, nil", n, err)
		}
		h := header(0)
		copy(h[0:4], "RIFX")
		writeAt(t, st, next, h[:], 0)
		if n, err := r.Refresh(); n != 1500 || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Refresh with a foreign next segment = %d, %v; want 1500, ErrCorrupt", n, err)
		}
		if r.Samples() != 1500 || len(r.segs) != 2 {
			t.Fatalf("a failed Refresh left %d samples in %d segments, want 1500 in 2", r.Samples(), len(r.segs))
		}
		abandon(w)
	})
}

// TestRefreshAcrossContinuation: a Reader opened while recording follows
// the journal through Close and a continuing Open.
func TestRefreshAcrossContinuation(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1300, 100)
		r, err := OpenReader(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		f := &follower{t: t, r: r}
		if err := f.catchUp(); err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 1300, 100, 100)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if w, err = Open(dir, opts); err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 1400, 1700, 100)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.catchUp(); err != nil {
			t.Fatal(err)
		}
		if f.have != 3100 {
			t.Fatalf("Reader at %d samples, want 3100", f.have)
		}
	})
}

// BenchmarkLiveFrame reads the newest 100 ms frame of an hour-long journal
// being recorded (default 30 s segments), bringing the Reader up to date
// first: "refresh" with Refresh, "reopen" with a new Reader per frame (the
// way to see new audio before Refresh existed).
func BenchmarkLiveFrame(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "enc")
	w, err := Create(dir, "bench", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	minute := signal(0, 60*SampleRate)
	for range 60 {
		if err := w.Write(minute); err != nil {
			b.Fatal(err)
		}
	}
	frame := make([]int16, SampleRate/10)
	off := w.Samples() - int64(len(frame))
	b.Run("refresh", func(b *testing.B) {
		r, err := OpenReader(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Refresh(); err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadAt(frame, off); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reopen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := OpenReader(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadAt(frame, off); err != nil {
				b.Fatal(err)
			}
			if err := r.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

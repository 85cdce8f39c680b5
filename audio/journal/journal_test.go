package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-audio/wav"
)

// seg is the test segment length: 1000 samples (62.5 ms), so tests cross
// many boundaries with little audio.
const seg = 1000

var segDuration = seg * time.Second / SampleRate

// sig is the deterministic test signal: sample i of every journal written
// here. A hash, so a shifted, repeated or dropped stretch never matches.
func sig(i int64) int16 {
	x := uint64(i) * 0x9E3779B97F4A7C15
	x ^= x >> 29
	x *= 0xBF58476D1CE4E5B9
	return int16(x >> 48)
}

func signal(from, n int64) []int16 {
	p := make([]int16, n)
	for i := range p {
		p[i] = sig(from + int64(i))
	}
	return p
}

// suite runs a behaviour test against every Storage: plain files, the
// power-cut memory model, and a scrambling wrapper standing in for
// encryption at rest.
func suite(t *testing.T, test func(t *testing.T, st Storage, dir string)) {
	t.Helper()
	for _, tc := range []struct {
		name string
		st   func() Storage
	}{
		{"file", func() Storage { return FileStorage{} }},
		{"memory", func() Storage { return newMemStorage() }},
		{"scrambled", func() Storage { return xorStorage{FileStorage{}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			test(t, tc.st(), filepath.Join(t.TempDir(), "encounters", "enc-1"))
		})
	}
}

func testOpts(t *testing.T, st Storage) Options {
	return Options{
		SegmentDuration: segDuration,
		Storage:         st,
		Logger:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// writeSig writes signal samples [from, from+n) in chunks of chunk.
func writeSig(t *testing.T, w *Writer, from, n int64, chunk int) {
	t.Helper()
	for off := from; off < from+n; {
		k := min(int64(chunk), from+n-off)
		if err := w.Write(signal(off, k)); err != nil {
			t.Fatalf("Write at %d: %v", off, err)
		}
		off += k
	}
}

func readAll(t *testing.T, dir string, opts Options) []int16 {
	t.Helper()
	r, err := OpenReader(dir, opts)
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	defer r.Close()
	p := make([]int16, r.Samples())
	if n, err := r.ReadAt(p, 0); n != len(p) || (err != nil && !errors.Is(err, io.EOF)) {
		t.Fatalf("ReadAt(all %d) = %d, %v", len(p), n, err)
	}
	return p
}

// checkSignal fails unless got is the signal from sample from on.
func checkSignal(t *testing.T, got []int16, from int64) {
	t.Helper()
	for i, v := range got {
		if want := sig(from + int64(i)); v != want {
			t.Fatalf("sample %d = %d, want %d (of %d read)", from+int64(i), v, want, len(got))
		}
	}
}

// abandon drops a Writer the way a killed process does: no final header,
// no manifest update, files left as they are.
func abandon(w *Writer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.timer.Stop()
	if w.cur != nil {
		_ = w.cur.Close()
		w.cur = nil
	}
}

// checkSegmentsWAV decodes every segment with go-audio/wav and compares it
// with the manifest and the signal.
func checkSegmentsWAV(t *testing.T, st Storage, dir string, m Manifest) {
	t.Helper()
	for _, s := range m.Segments {
		f, err := st.OpenRead(filepath.Join(dir, s.Name))
		if err != nil {
			t.Fatal(err)
		}
		size, _ := f.Size()
		d := wav.NewDecoder(io.NewSectionReader(f, 0, size))
		buf, err := d.FullPCMBuffer()
		f.Close()
		if err != nil {
			t.Fatalf("%s: decode: %v", s.Name, err)
		}
		if d.SampleRate != SampleRate || d.NumChans != 1 || d.BitDepth != 16 || int64(d.PCMLen()) != s.Samples*2 {
			t.Fatalf("%s: %d Hz %d ch %d bit, %d bytes; want 16000 Hz mono 16 bit, %d bytes",
				s.Name, d.SampleRate, d.NumChans, d.BitDepth, d.PCMLen(), s.Samples*2)
		}
		if int64(len(buf.Data)) != s.Samples {
			t.Fatalf("%s: decoded %d samples, manifest says %d", s.Name, len(buf.Data), s.Samples)
		}
		for i, v := range buf.Data {
			if want := sig(s.Start + int64(i)); int16(v) != want {
				t.Fatalf("%s: sample %d = %d, want %d", s.Name, s.Start+int64(i), v, want)
			}
		}
	}
}

func kinds(m Manifest) []string {
	var k []string
	for _, e := range m.Events {
		k = append(k, fmt.Sprintf("%s@%d", e.Kind, e.At))
	}
	return k
}

func TestOptionsRejected(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{SegmentDuration: -time.Second},
		{SegmentDuration: time.Microsecond},
		{SegmentDuration: 100 * time.Hour},
		{SyncInterval: -time.Second},
	} {
		if _, err := Create(filepath.Join(dir, "x"), "x", o); err == nil {
			t.Errorf("Create with %+v succeeded", o)
		}
	}
	if _, err := Create(filepath.Join(dir, "y"), "", Options{}); err == nil || !strings.Contains(err.Error(), "id is empty") {
		t.Errorf("Create with empty id: %v", err)
	}
}

func TestCreateExisting(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		w, err := Create(dir, "enc-1", testOpts(t, st))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if _, err := Create(dir, "enc-1", testOpts(t, st)); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("second Create: %v, want fs.ErrExist", err)
		}
	})
}

func TestRotation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []int
		want   []int64 // samples per segment
	}{
		{"exactly one segment", []int{seg}, []int64{seg}},
		{"one sample over", []int{seg, 1}, []int64{seg, 1}},
		{"one write spanning three", []int{2*seg + 500}, []int64{seg, seg, 500}},
		{"odd chunks", []int{999, 1, 1, 998, 1, 333}, []int64{seg, seg, 333}},
		{"100 ms chunks", []int{1600, 1600, 1600}, []int64{seg, seg, seg, seg, 800}},
		{"empty writes", []int{0, 10, 0}, []int64{10}},
		{"nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			suite(t, func(t *testing.T, st Storage, dir string) {
				opts := testOpts(t, st)
				w, err := Create(dir, "enc-1", opts)
				if err != nil {
					t.Fatal(err)
				}
				var off int64
				for _, c := range tc.chunks {
					if err := w.Write(signal(off, int64(c))); err != nil {
						t.Fatal(err)
					}
					off += int64(c)
				}
				if w.Samples() != off {
					t.Fatalf("Samples = %d, want %d", w.Samples(), off)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				m, err := ReadManifest(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				var start int64
				for i, s := range m.Segments {
					got = append(got, s.Samples)
					if s.Name != segmentName(i+1) || s.Start != start {
						t.Errorf("segment %d = %+v, want %s starting at %d", i, s, segmentName(i+1), start)
					}
					start += s.Samples
				}
				if !slices.Equal(got, tc.want) || m.Samples != off || !m.Closed || m.Recovered {
					t.Fatalf("manifest: segments %v samples %d closed %v recovered %v; want %v, %d, closed", got, m.Samples, m.Closed, m.Recovered, tc.want, off)
				}
				if wm := w.Manifest(); !manifestsEqual(wm, m) {
					t.Fatalf("Writer.Manifest %+v != stored %+v", wm, m)
				}
				checkSegmentsWAV(t, st, dir, m)
				checkSignal(t, readAll(t, dir, opts), 0)
				if need, err := NeedsRecovery(dir, opts); err != nil || need {
					t.Fatalf("NeedsRecovery after Close = %v, %v", need, err)
				}
			})
		})
	}
}

func manifestsEqual(a, b Manifest) bool {
	ea, eb := a.Events, b.Events
	a.Events, b.Events = nil, nil
	if fmt.Sprint(a) != fmt.Sprint(b) || len(ea) != len(eb) {
		return false
	}
	for i := range ea {
		if ea[i].Kind != eb[i].Kind || ea[i].At != eb[i].At || !ea[i].Time.Equal(eb[i].Time) || ea[i].Detail != eb[i].Detail {
			return false
		}
	}
	return a.Created.Equal(b.Created)
}

func TestMarkOffsetsWithPauses(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		clock := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
		opts.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1500, 160)
		mustMark(t, w, EventPause, "")
		// Paused: nothing written, the offset stands still.
		mustMark(t, w, EventResume, "")
		writeSig(t, w, 1500, 700, 160)
		mustMark(t, w, EventDevice, "USB Audio")
		mustMark(t, w, EventGap, "device lost 2.1 s")
		writeSig(t, w, 2200, 300, 160)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"start@0", "pause@1500", "resume@1500", "device@2200", "gap@2200", "end@2500"}
		if got := kinds(m); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		if m.Events[3].Detail != "USB Audio" || !m.Events[1].Time.Before(m.Events[2].Time) {
			t.Fatalf("events %+v", m.Events)
		}
		checkSignal(t, readAll(t, dir, opts), 0)
	})
}

func mustMark(t *testing.T, w *Writer, k EventKind, detail string) {
	t.Helper()
	if err := w.Mark(k, detail); err != nil {
		t.Fatalf("Mark(%s): %v", k, err)
	}
}

func TestMarkRejects(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		w, err := Create(dir, "enc-1", testOpts(t, st))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			kind   EventKind
			detail string
			want   string
		}{
			{"bogus", "", "unknown event"},
			{EventEnd, "", "written by the journal itself"},
			{EventRecovered, "", "written by the journal itself"},
			{EventStart, "", "written by the journal itself"},
			{EventGap, strings.Repeat("x", 2000), "keep it under"},
		} {
			if err := w.Mark(tc.kind, tc.detail); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Mark(%q) = %v, want error containing %q", tc.kind, err, tc.want)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := w.Mark(EventPause, ""); !errors.Is(err, ErrClosed) {
			t.Errorf("Mark after Close: %v", err)
		}
		if err := w.Write([]int16{1}); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
		if err := w.Sync(); !errors.Is(err, ErrClosed) {
			t.Errorf("Sync after Close: %v", err)
		}
	})
}

func TestReadAtAcrossBoundaries(t *testing.T) {
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
		// Continuing adds a short segment after a partial one: boundaries at
		// 1000, 2000, 2500, 3500.
		w, err = Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 2500, 1200, 1200)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := OpenReader(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Samples() != 3700 {
			t.Fatalf("Samples = %d, want 3700", r.Samples())
		}
		for _, tc := range []struct {
			off    int64
			len    int
			wantN  int
			wantEO bool
		}{
			{0, 10, 10, false},
			{995, 10, 10, false},
			{999, 1, 1, false},
			{1000, 1, 1, false},
			{990, 2100, 2100, false},
			{2499, 2, 2, false},
			{0, 3700, 3700, false},
			{3690, 20, 10, true},
			{3700, 5, 0, true},
			{9000, 5, 0, true},
			{1234, 0, 0, false},
			{0, 40000, 3700, true},
		} {
			p := make([]int16, tc.len)
			n, err := r.ReadAt(p, tc.off)
			if n != tc.wantN || errors.Is(err, io.EOF) != tc.wantEO || (err != nil && !errors.Is(err, io.EOF)) {
				t.Errorf("ReadAt(len %d, off %d) = %d, %v; want %d, EOF %v", tc.len, tc.off, n, err, tc.wantN, tc.wantEO)
				continue
			}
			checkSignal(t, p[:n], tc.off)
		}
		if _, err := r.ReadAt(make([]int16, 1), -1); err == nil {
			t.Error("ReadAt at a negative offset succeeded")
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(make([]int16, 1), 0); !errors.Is(err, ErrClosed) {
			t.Errorf("ReadAt after Close: %v", err)
		}
	})
}

// memWriteSeeker is an in-memory io.WriteSeeker for Export.
type memWriteSeeker struct {
	b   []byte
	pos int
}

func (m *memWriteSeeker) Write(p []byte) (int, error) {
	if end := m.pos + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	m.pos += copy(m.b[m.pos:], p)
	return len(p), nil
}

func (m *memWriteSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.pos = int(off)
	case io.SeekCurrent:
		m.pos += int(off)
	case io.SeekEnd:
		m.pos = len(m.b) + int(off)
	}
	return int64(m.pos), nil
}

func TestExportRoundTrip(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1234, 100)
		mustMark(t, w, EventPause, "")
		mustMark(t, w, EventResume, "")
		writeSig(t, w, 1234, 40000, 1600)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.wav")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := Export(t.Context(), dir, f, opts); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		d := wav.NewDecoder(f)
		buf, err := d.FullPCMBuffer()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if d.SampleRate != SampleRate || d.NumChans != 1 || d.BitDepth != 16 || len(buf.Data) != 41234 {
			t.Fatalf("export: %d Hz, %d ch, %d bit, %d samples; want 16000 Hz mono 16 bit, 41234", d.SampleRate, d.NumChans, d.BitDepth, len(buf.Data))
		}
		for i, v := range buf.Data {
			if int16(v) != sig(int64(i)) {
				t.Fatalf("exported sample %d = %d, want %d", i, v, sig(int64(i)))
			}
		}
	})
}

func TestExportCanceled(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 3000, 1000)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := Export(ctx, dir, &memWriteSeeker{}, opts); !errors.Is(err, context.Canceled) {
			t.Fatalf("Export with canceled context: %v", err)
		}
	})
}

func TestExportMissingJournal(t *testing.T) {
	err := Export(t.Context(), filepath.Join(t.TempDir(), "nope"), &memWriteSeeker{}, Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Export of a missing journal: %v, want fs.ErrNotExist", err)
	}
}

// TestRecover simulates crashes of every kind Recover must repair, on every
// Storage, and checks the result twice (idempotence).
func TestRecover(t *testing.T) {
	type crash struct {
		name string
		// damage runs after the Writer was abandoned having written 2600
		// samples (segments 1000, 1000, 600; header of the last synced at
		// 2300) and returns how many samples must be recovered.
		damage func(t *testing.T, st Storage, dir string, oldManifest []byte) int64
		note   string
	}
	last := func(dir string) string { return filepath.Join(dir, segmentName(3)) }
	for _, tc := range []crash{
		{"stale header", func(t *testing.T, st Storage, dir string, _ []byte) int64 { return 2600 }, "header rebuilt from length (600 samples)"},
		{"torn sample at the end", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			appendBytes(t, st, last(dir), []byte{0x12})
			return 2600
		}, "torn sample cut"},
		{"truncated mid-sample", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			truncate(t, st, last(dir), headerSize+401*2-1)
			return 2400
		}, "header rebuilt from length (400 samples)"},
		{"truncated into the header", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			truncate(t, st, last(dir), 20)
			return 2000
		}, "header rebuilt from length (0 samples)"},
		{"header never reached the disk", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			writeAt(t, st, last(dir), make([]byte, headerSize), 0)
			return 2600
		}, "header rebuilt from length (600 samples)"},
		{"manifest behind", func(t *testing.T, st Storage, dir string, old []byte) int64 {
			replace(t, st, filepath.Join(dir, manifestName), old)
			return 2600
		}, "seg-000003.wav: header rebuilt"},
		{"segment created but not listed", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			f, err := st.Create(filepath.Join(dir, segmentName(4)))
			if err != nil {
				t.Fatal(err)
			}
			if err := writeHeader(f, 0); err != nil {
				t.Fatal(err)
			}
			f.Close()
			return 2600
		}, "header rebuilt"},
		{"manifest missing", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			if err := st.Remove(filepath.Join(dir, manifestName)); err != nil {
				t.Fatal(err)
			}
			return 2600
		}, "manifest missing, rebuilt from segments"},
		{"manifest unreadable", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			replace(t, st, filepath.Join(dir, manifestName), []byte(`{"version":1,"segm`))
			return 2600
		}, "manifest unreadable (kept as manifest.damaged-1.json)"},
		{"stale temp manifest", func(t *testing.T, st Storage, dir string, _ []byte) int64 {
			f, err := st.Create(filepath.Join(dir, manifestTemp))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			return 2600
		}, "header rebuilt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			suite(t, func(t *testing.T, st Storage, dir string) {
				opts := testOpts(t, st)
				w, err := Create(dir, "enc-1", opts)
				if err != nil {
					t.Fatal(err)
				}
				writeSig(t, w, 0, 500, 500)
				mustMark(t, w, EventPause, "")
				mustMark(t, w, EventResume, "")
				old := readBytes(t, st, filepath.Join(dir, manifestName))
				writeSig(t, w, 500, 1800, 300)
				if err := w.Sync(); err != nil {
					t.Fatal(err)
				}
				writeSig(t, w, 2300, 300, 300)
				abandon(w)

				want := tc.damage(t, st, dir, old)
				if need, err := NeedsRecovery(dir, opts); err != nil || !need {
					t.Fatalf("NeedsRecovery before = %v, %v", need, err)
				}
				if _, err := Open(dir, opts); !errors.Is(err, ErrNeedsRecovery) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Open of a crashed journal: %v", err)
				}
				m, err := Recover(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				if m.Samples != want || !m.Closed || !m.Recovered {
					t.Fatalf("recovered %d samples closed %v recovered %v; want %d", m.Samples, m.Closed, m.Recovered, want)
				}
				ev := m.Events[len(m.Events)-1]
				if ev.Kind != EventRecovered || ev.At != want || !strings.Contains(ev.Detail, tc.note) {
					t.Fatalf("last event %+v, want recovered at %d noting %q", ev, want, tc.note)
				}
				stored, err := ReadManifest(dir, opts)
				if err != nil || !manifestsEqual(stored, m) {
					t.Fatalf("stored manifest %+v, %v; Recover returned %+v", stored, err, m)
				}
				checkSegmentsWAV(t, st, dir, m)
				got := readAll(t, dir, opts)
				if int64(len(got)) != want {
					t.Fatalf("read %d samples, want %d", len(got), want)
				}
				checkSignal(t, got, 0)
				if need, err := NeedsRecovery(dir, opts); err != nil || need {
					t.Fatalf("NeedsRecovery after = %v, %v", need, err)
				}
				again, err := Recover(dir, opts)
				if err != nil || !manifestsEqual(again, m) {
					t.Fatalf("second Recover = %+v, %v; want %+v", again, err, m)
				}
				// Continue the recovered journal: a new segment, offsets on.
				w, err = Open(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				writeSig(t, w, want, 1500, 500)
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				m2, err := ReadManifest(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !m2.Recovered || m2.Samples != want+1500 || m2.Segments[len(m.Segments)].Start != want {
					t.Fatalf("continued manifest %+v", m2)
				}
				if got := kinds(m2)[len(m.Events):]; !slices.Equal(got, []string{fmt.Sprintf("start@%d", want), fmt.Sprintf("end@%d", want+1500)}) {
					t.Fatalf("events after continuing: %v", got)
				}
				checkSignal(t, readAll(t, dir, opts), 0)
				for _, e := range m.Events {
					if e.Kind == EventPause && e.At != 500 {
						t.Fatalf("pause moved to %d", e.At)
					}
				}
			})
		})
	}
}

func TestRecoverRefusesForeignDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, st Storage, dir string)
		want   string
	}{
		{"listed segment missing", func(t *testing.T, st Storage, dir string) {
			if err := st.Remove(filepath.Join(dir, segmentName(1))); err != nil {
				t.Fatal(err)
			}
		}, "listed in the manifest is missing"},
		{"segment numbering gap", func(t *testing.T, st Storage, dir string) {
			f, err := st.Create(filepath.Join(dir, segmentName(5)))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}, "seg-000003.wav is missing but seg-000005.wav exists"},
		{"foreign file", func(t *testing.T, st Storage, dir string) {
			h := header(10)
			binary.LittleEndian.PutUint32(h[24:], 44100)
			writeAt(t, st, filepath.Join(dir, segmentName(2)), h[:], 0)
		}, "not a journal segment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			suite(t, func(t *testing.T, st Storage, dir string) {
				opts := testOpts(t, st)
				w, err := Create(dir, "enc-1", opts)
				if err != nil {
					t.Fatal(err)
				}
				writeSig(t, w, 0, 1500, 500)
				abandon(w)
				tc.damage(t, st, dir)
				_, err = Recover(dir, opts)
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Recover = %v, want ErrCorrupt mentioning %q", err, tc.want)
				}
			})
		})
	}
}

func readBytes(t *testing.T, st Storage, name string) []byte {
	t.Helper()
	b, err := readSmallFile(st, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func replace(t *testing.T, st Storage, name string, b []byte) {
	t.Helper()
	if err := st.Remove(name); err != nil {
		t.Fatal(err)
	}
	f, err := st.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, st Storage, name string, b []byte, off int64) {
	t.Helper()
	f, err := st.OpenWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, st Storage, name string, b []byte) {
	t.Helper()
	f, err := st.OpenWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, _ := f.Size()
	if _, err := f.WriteAt(b, size); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, st Storage, name string, size int64) {
	t.Helper()
	f, err := st.OpenWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverCleanJournalUnchanged(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1500, 500)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		before := readBytes(t, st, filepath.Join(dir, manifestName))
		m, err := Recover(dir, opts)
		if err != nil || m.Recovered || !m.Closed || m.Samples != 1500 {
			t.Fatalf("Recover of a clean journal = %+v, %v", m, err)
		}
		if after := readBytes(t, st, filepath.Join(dir, manifestName)); !bytes.Equal(before, after) {
			t.Fatal("Recover rewrote a clean journal's manifest")
		}
	})
}

// TestPowerCut uses the memory Storage's model of a power cut: only what
// was fsynced (contents) and folder-synced (names) survives.
func TestPowerCut(t *testing.T) {
	t.Run("unsynced audio is lost, synced audio kept", func(t *testing.T) {
		st := newMemStorage()
		dir := filepath.Join(t.TempDir(), "enc")
		opts := testOpts(t, st)
		opts.SyncInterval = time.Hour // only explicit syncs here
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 700, 100)
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 700, 200, 100)
		after := st.crash()
		abandon(w)
		opts.Storage = after
		m, err := Recover(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Samples != 700 {
			t.Fatalf("recovered %d samples, want the 700 synced", m.Samples)
		}
		checkSignal(t, readAll(t, dir, opts), 0)
	})
	t.Run("finished segments and marks survive", func(t *testing.T) {
		st := newMemStorage()
		dir := filepath.Join(t.TempDir(), "enc")
		opts := testOpts(t, st)
		opts.SyncInterval = time.Hour
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 2300, 100)
		mustMark(t, w, EventPause, "")
		writeSig(t, w, 2300, 1500, 100) // seg 3 finished at 3000, seg 4 open
		after := st.crash()
		abandon(w)
		opts.Storage = after
		m, err := Recover(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Samples != 3000 || len(m.Segments) != 4 || m.Segments[3].Samples != 0 {
			t.Fatalf("recovered %d samples in %+v; want the 3000 in finished segments, seg 4 empty", m.Samples, m.Segments)
		}
		if got := kinds(m); !slices.Equal(got[:2], []string{"start@0", "pause@2300"}) {
			t.Fatalf("events %v", got)
		}
		checkSignal(t, readAll(t, dir, opts), 0)
	})
	t.Run("background sync makes audio durable", func(t *testing.T) {
		synced := make(chan string, 16)
		mem := newMemStorage()
		st := syncSignal{mem, synced}
		dir := filepath.Join(t.TempDir(), "enc")
		opts := testOpts(t, st)
		opts.SyncInterval = 20 * time.Millisecond
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 500, 500)
		<-synced // the new segment's empty header
		select {
		case <-synced:
		case <-time.After(10 * time.Second):
			t.Fatal("no background sync within 10 s")
		}
		after := mem.crash()
		abandon(w)
		// The sync rewrote the header: the segment is already a valid WAV.
		checkSegmentsWAV(t, after, dir, Manifest{Segments: []Segment{{Name: segmentName(1), Samples: 500}}})
		opts.Storage = after
		m, err := Recover(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Samples != 500 {
			t.Fatalf("recovered %d samples, want 500", m.Samples)
		}
		checkSignal(t, readAll(t, dir, opts), 0)
	})
}

// TestSyncRewritesHeader: after each sync the open segment is already a
// valid WAV of everything written, with no Recover needed.
func TestSyncRewritesHeader(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		opts.SegmentDuration = time.Minute
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for _, n := range []int64{1600, 3200, 3333} {
			writeSig(t, w, w.Samples(), n, 1600)
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			m := w.Manifest()
			m.Closed = true // read the segment strictly, header included
			checkSegmentsWAV(t, st, dir, m)
		}
	})
}

func TestWriteErrorDiskFull(t *testing.T) {
	suite(t, func(t *testing.T, base Storage, dir string) {
		budget := &atomic.Int64{}
		budget.Store(1 << 40)
		st := fullStorage{base, budget}
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1300, 100)
		// The disk fills in the middle of a sample of the next write.
		budget.Store(2*250 + 1)
		err = w.Write(signal(1300, 1600))
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "write journal") {
			t.Fatalf("Write on a full disk = %v, want a wrapped ENOSPC", err)
		}
		got := w.Samples()
		if got <= 1300 || got >= 2900 {
			t.Fatalf("Samples after a failed write = %d, want a prefix of it written", got)
		}
		if m := w.Manifest(); m.Samples != got {
			t.Fatalf("Manifest().Samples %d != Samples() %d", m.Samples, got)
		}
		if err := w.Write(signal(got, 100)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Write on a still full disk = %v", err)
		}
		if w.Samples() != got {
			t.Fatalf("Samples moved to %d on a write that wrote nothing", w.Samples())
		}

		// A reader (or Recover after a crash) sees exactly what Samples said.
		t.Run("recoverable while full", func(t *testing.T) {
			if need, err := NeedsRecovery(dir, Options{Storage: base}); err != nil || !need {
				t.Fatalf("NeedsRecovery = %v, %v", need, err)
			}
			r, err := OpenReader(dir, Options{Storage: base})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Samples() != got {
				t.Fatalf("a reader sees %d samples, the writer counted %d", r.Samples(), got)
			}
		})

		// Space comes back: recording goes on where it stopped.
		budget.Store(1 << 40)
		writeSig(t, w, got, 1000, 100)
		mustMark(t, w, EventWriteError, "disk full")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(dir, Options{Storage: base})
		if err != nil {
			t.Fatal(err)
		}
		if m.Samples != got+1000 {
			t.Fatalf("journal holds %d samples, want %d", m.Samples, got+1000)
		}
		checkSignal(t, readAll(t, dir, Options{Storage: base}), 0)
	})
}

func TestWriteErrorThenCrash(t *testing.T) {
	suite(t, func(t *testing.T, base Storage, dir string) {
		budget := &atomic.Int64{}
		budget.Store(1 << 40)
		st := fullStorage{base, budget}
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1900, 100)
		budget.Store(2*150 + 1) // fills just after the next rotation
		var werr error
		for off := w.Samples(); werr == nil; off = w.Samples() {
			werr = w.Write(signal(off, 100))
		}
		if !errors.Is(werr, syscall.ENOSPC) {
			t.Fatalf("Write = %v, want ENOSPC", werr)
		}
		got := w.Samples()
		if err := w.Close(); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Close on a full disk = %v, want ENOSPC", err)
		}
		opts.Storage = base
		m, err := Recover(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Samples != got {
			t.Fatalf("recovered %d samples, the writer acknowledged %d", m.Samples, got)
		}
		checkSignal(t, readAll(t, dir, opts), 0)
	})
}

func TestOpenContinues(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1500, 500)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w, err = Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if w.Samples() != 1500 {
			t.Fatalf("reopened at %d", w.Samples())
		}
		if _, err := Open(dir, opts); !errors.Is(err, ErrNeedsRecovery) {
			t.Fatalf("Open of a journal being written: %v, want ErrNeedsRecovery", err)
		}
		writeSig(t, w, 1500, 700, 100)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		var segs []string
		for _, s := range m.Segments {
			segs = append(segs, fmt.Sprintf("%s@%d+%d", s.Name, s.Start, s.Samples))
		}
		if want := []string{"seg-000001.wav@0+1000", "seg-000002.wav@1000+500", "seg-000003.wav@1500+700"}; !slices.Equal(segs, want) {
			t.Fatalf("segments %v, want %v", segs, want)
		}
		if got, want := kinds(m), []string{"start@0", "end@1500", "start@1500", "end@2200"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		if m.Events[2].Detail != "continued" {
			t.Fatalf("continuation event %+v", m.Events[2])
		}
		checkSignal(t, readAll(t, dir, opts), 0)
	})
}

// TestLiveReader: a Reader opened while recording sees everything written,
// synced or not, while the Writer goes on.
func TestLiveReader(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		writeSig(t, w, 0, 2345, 100)
		got := readAll(t, dir, opts)
		if len(got) != 2345 {
			t.Fatalf("live reader sees %d samples, want 2345", len(got))
		}
		checkSignal(t, got, 0)
		writeSig(t, w, 2345, 100, 100)
		if n := int64(len(readAll(t, dir, opts))); n != 2445 {
			t.Fatalf("a new reader sees %d samples, want 2445", n)
		}
	})
}

// TestConcurrentUse writes, marks and reads at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		opts.SyncInterval = time.Millisecond
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { writeSig(t, w, 0, 20000, 160) })
		wg.Go(func() {
			for range 20 {
				mustMark(t, w, EventOverrun, "")
				if m := w.Manifest(); m.Samples < 0 || w.Samples() < m.Samples {
					t.Errorf("Samples went back: %d < %d", w.Samples(), m.Samples)
				}
			}
		})
		wg.Wait()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		checkSignal(t, readAll(t, dir, opts), 0)
	})
}

func TestReadManifestErrors(t *testing.T) {
	suite(t, func(t *testing.T, st Storage, dir string) {
		opts := testOpts(t, st)
		if _, err := ReadManifest(dir, opts); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadManifest of nothing: %v", err)
		}
		if _, err := NeedsRecovery(dir, opts); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("NeedsRecovery of nothing: %v", err)
		}
		w, err := Create(dir, "enc-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		writeSig(t, w, 0, 1500, 500)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		good := string(readBytes(t, st, filepath.Join(dir, manifestName)))
		for _, tc := range []struct{ name, from, to, want string }{
			{"version", `"version": 1`, `"version": 7`, "version 7"},
			{"gap in offsets", `"start": 1000`, `"start": 1001`, "want it to start at 1000"},
			{"sample count", `"samples": 1500`, `"samples": 1499`, "counts 1499 samples"},
			{"segment name", `seg-000002.wav`, `../../etc/passwd`, "is named"},
			{"not json", `{`, `[`, "not valid JSON"},
		} {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			if bad == good {
				t.Fatalf("%s: %q not in the manifest", tc.name, tc.from)
			}
			replace(t, st, filepath.Join(dir, manifestName), []byte(bad))
			_, err := ReadManifest(dir, opts)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: ReadManifest = %v, want ErrCorrupt mentioning %q", tc.name, err, tc.want)
			}
			if _, err := OpenReader(dir, opts); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: OpenReader = %v, want ErrCorrupt", tc.name, err)
			}
		}
	})
}

func TestScrambledStorageHidesAudio(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "enc")
	opts := testOpts(t, xorStorage{FileStorage{}})
	w, err := Create(dir, "enc-1", opts)
	if err != nil {
		t.Fatal(err)
	}
	writeSig(t, w, 0, 500, 500)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(raw, []byte("RIFF")) || bytes.Contains(raw, []byte("WAVEfmt")) {
		t.Fatal("segment bytes on disk are plain WAV: some I/O bypassed the Storage")
	}
	checkSignal(t, readAll(t, dir, opts), 0)
}

func TestPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits; folders inherit the profile's ACL")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "encounters", "enc-1")
	opts := testOpts(t, FileStorage{})
	w, err := Create(dir, "enc-1", opts)
	if err != nil {
		t.Fatal(err)
	}
	writeSig(t, w, 0, 1500, 500)
	abandon(w)
	replace(t, FileStorage{}, filepath.Join(dir, manifestName), []byte("{"))
	if _, err := Recover(dir, opts); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(filepath.Join(root, "encounters"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// encounters, enc-1, manifest, kept damaged manifest, two segments.
	if n != 6 {
		t.Fatalf("checked %d entries, want 6", n)
	}
}

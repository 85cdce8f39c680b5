package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
)

// testLogger sends a component's logs to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var (
	mic44 = Device{Name: "USB Microphone", Default: true, Channels: 2, SampleRate: 44100, HostAPI: "fake"}
	mic48 = Device{Name: "Built-in Microphone", Default: true, Channels: 1, SampleRate: 48000, HostAPI: "fake"}
)

// startFake starts a recorder on b and returns it with the stream it opened.
func startFake(t *testing.T, h *harness, cfg Config, b *fakeBackend) (*Recorder, *fakeStream) {
	t.Helper()
	r, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	select {
	case s := <-b.opened:
		return r, s
	default:
		t.Fatal("Start returned without opening a stream")
		return nil, nil
	}
}

func TestStartNoDevice(t *testing.T) {
	j, _ := newJournal(t, journal.Options{})
	h := newHarness(t)
	b := newFakeBackend()
	before := j.Manifest().Events
	_, err := Start(t.Context(), h.config(b, j))
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("Start with no devices: got %v, want ErrNoDevice", err)
	}
	if got, want := err.Error(), "No microphone found — connect one or check the system sound settings."; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if len(b.streams) != 0 || j.Samples() != 0 || len(j.Manifest().Events) != len(before) {
		t.Errorf("something started: %d streams, %d samples, events %+v", len(b.streams), j.Samples(), j.Manifest().Events)
	}
}

func TestStartUnknownDevice(t *testing.T) {
	j, _ := newJournal(t, journal.Options{})
	h := newHarness(t)
	b := newFakeBackend(mic44, Device{Name: "Headset", Channels: 1, SampleRate: 16000})
	cfg := h.config(b, j)
	cfg.Device = "Webcam"
	before := j.Manifest().Events
	_, err := Start(t.Context(), cfg)
	if !errors.Is(err, ErrDeviceNotFound) {
		t.Fatalf("Start with an unknown device: got %v, want ErrDeviceNotFound", err)
	}
	for _, name := range []string{"Webcam", "USB Microphone", "Headset"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %q", err, name)
		}
	}
	if len(b.streams) != 0 || j.Samples() != 0 || len(j.Manifest().Events) != len(before) {
		t.Errorf("something started: %d streams, %d samples, events %+v", len(b.streams), j.Samples(), j.Manifest().Events)
	}
}

func TestChoose(t *testing.T) {
	devs := []Device{
		{Name: "HDA Intel PCH: ALC257 Analog (hw:0,0)"},
		{Name: "USB Audio Device: Mic (hw:1,0)", Default: true},
		{Name: "usb audio device: mic (hw:1,0) copy"},
		{Name: "default"},
		// One microphone under three host APIs, as Windows lists it.
		{Name: "Microphone (Realtek Audio)", HostAPI: "MME"},
		{Name: "Microphone (Realtek Audio)", HostAPI: "Windows DirectSound", Default: true},
		{Name: "Microphone (Realtek Audio)", HostAPI: "Windows WASAPI"},
	}
	for _, tc := range []struct {
		name, want, host string
		err              error
	}{
		{"", "USB Audio Device: Mic (hw:1,0)", "", nil},
		{"default", "default", "", nil},
		{"USB Audio Device: Mic (hw:1,0)", "USB Audio Device: Mic (hw:1,0)", "", nil}, // exact wins over a longer match
		{"alc257", "HDA Intel PCH: ALC257 Analog (hw:0,0)", "", nil},
		{"realtek", "Microphone (Realtek Audio)", "Windows DirectSound", nil}, // one name, the default entry
		{"USB", "", "", ErrDeviceAmbiguous},
		{"Webcam", "", "", ErrDeviceNotFound},
	} {
		got, err := Choose(devs, tc.name)
		if !errors.Is(err, tc.err) || got.Name != tc.want || got.HostAPI != tc.host {
			t.Errorf("Choose(%q) = %q (%s), %v; want %q (%s), %v", tc.name, got.Name, got.HostAPI, err, tc.want, tc.host, tc.err)
		}
	}
	if _, err := Choose(devs, "mic"); err == nil || strings.Count(err.Error(), "Realtek") != 1 {
		t.Errorf("ambiguous error should name each device once: %v", err)
	}
	if _, err := Choose(nil, "x"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Choose(nil) = %v, want ErrNoDevice", err)
	}
	// With no default marked, "" takes the first device.
	if got, _ := Choose(devs[:1], ""); got.Name != devs[0].Name {
		t.Errorf("Choose without a default = %q", got.Name)
	}
}

// TestRecordRates records a tone from devices at every rate the issue names
// (and 16 kHz), mono and stereo, and checks the journal: exact length, the
// tone's pitch and loudness, and a level reading per 50 ms.
func TestRecordRates(t *testing.T) {
	for _, rate := range []float64{8000, 16000, 22050, 32000, 44100, 48000} {
		for _, ch := range []int{1, 2} {
			t.Run(fmt.Sprintf("%gHz/%dch", rate, ch), func(t *testing.T) {
				t.Parallel()
				dev := Device{Name: "Mic", Default: true, Channels: ch, SampleRate: rate, HostAPI: "fake"}
				b := newFakeBackend(dev)
				j, dir := newJournal(t, journal.Options{})
				h := newHarness(t)
				r, s := startFake(t, h, h.config(b, j), b)
				if s.format.SampleRate != rate || s.format.Channels != ch {
					t.Fatalf("opened at %+v, want the native %g Hz, %d ch", s.format, rate, ch)
				}
				frame := 0
				const hz = 440.0
				in := tone(s.format, hz, 0.5, 2*time.Second, &frame)
				pushChunks(t, s, in)
				if err := r.Stop(); err != nil {
					t.Fatalf("Stop: %v", err)
				}
				st := r.Stats()
				if err := j.Close(); err != nil {
					t.Fatalf("close journal: %v", err)
				}
				pcm := readJournal(t, dir, journal.Options{})
				want := int(math.Ceil(float64(frame) * journal.SampleRate / rate))
				if len(pcm) != want || st.Samples != int64(want) {
					t.Errorf("journal holds %d samples (stats %d), want %d", len(pcm), st.Samples, want)
				}
				if st.Frames != int64(frame) || st.Overruns != 0 {
					t.Errorf("stats: %d frames, %d overruns; want %d, 0", st.Frames, st.Overruns, frame)
				}
				// Skip the filter's edges, then count zero crossings.
				mid := pcm[800 : len(pcm)-800]
				cross, sum := 0, 0.0
				for i := 1; i < len(mid); i++ {
					if (mid[i-1] < 0) != (mid[i] < 0) {
						cross++
					}
				}
				for _, v := range mid {
					sum += float64(v) * float64(v)
				}
				gotHz := float64(cross) / 2 / (float64(len(mid)) / journal.SampleRate)
				rms := math.Sqrt(sum/float64(len(mid))) / 32768
				if math.Abs(gotHz-hz) > 3 {
					t.Errorf("pitch %.1f Hz, want %g", gotHz, hz)
				}
				if math.Abs(rms-0.5/math.Sqrt2) > 0.02 {
					t.Errorf("RMS %.3f, want %.3f", rms, 0.5/math.Sqrt2)
				}
				levels, _ := h.levelList()
				if got := int64(len(levels)); got != int64(want)/800 {
					t.Errorf("%d level readings for %d samples, want one per 50 ms (%d)", got, want, want/800)
				}
				for i, l := range levels {
					if l.At != int64(i+1)*800 {
						t.Fatalf("level %d at %d, want %d", i, l.At, (i+1)*800)
					}
				}
			})
		}
	}
}

// TestPauseResume checks that paused audio is not written, offsets continue
// and the pause is in the journal.
func TestPauseResume(t *testing.T) {
	b := newFakeBackend(mic48)
	j, dir := newJournal(t, journal.Options{})
	h := newHarness(t)
	r, s := startFake(t, h, h.config(b, j), b)
	frame := 0
	pushChunks(t, s, tone(s.format, 300, 0.25, time.Second, &frame))
	if err := r.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := r.Pause(); err != nil {
		t.Fatalf("second Pause: %v", err)
	}
	if !r.Stats().Paused {
		t.Error("Stats().Paused is false after Pause")
	}
	pausedAt := j.Samples()
	// Loud audio while paused must not reach the journal.
	pushChunks(t, s, tone(s.format, 1000, 0.95, time.Second, &frame))
	if err := r.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	pushChunks(t, s, tone(s.format, 300, 0.25, time.Second, &frame))
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := r.Pause(); !errors.Is(err, ErrStopped) {
		t.Errorf("Pause after Stop: %v, want ErrStopped", err)
	}
	st := r.Stats()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := journal.ReadManifest(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pcm := readJournal(t, dir, journal.Options{})
	if pausedAt < 15900 || pausedAt > 16100 {
		t.Errorf("paused at offset %d, want about 16000", pausedAt)
	}
	if d := len(pcm) - 32000; d < 0 || d > 10 {
		t.Errorf("journal holds %d samples, want 2 s (32000) plus at most a resampler tail", len(pcm))
	}
	if st.Elapsed < 2*time.Second || st.Elapsed > 2*time.Second+time.Millisecond {
		t.Errorf("Elapsed %s, want 2s", st.Elapsed)
	}
	var peak int16
	for _, v := range pcm {
		peak = max(peak, v, -v)
	}
	if peak > 8850 { // 0.27 of full scale
		t.Errorf("peak %d: paused audio reached the journal", peak)
	}
	var kinds []string
	for _, e := range m.Events {
		kinds = append(kinds, string(e.Kind))
		switch e.Kind {
		case journal.EventPause, journal.EventResume:
			if e.At != pausedAt {
				t.Errorf("%s at %d, want %d", e.Kind, e.At, pausedAt)
			}
		}
	}
	if !strings.Contains(strings.Join(kinds, ","), "pause,resume") {
		t.Errorf("journal events %v lack pause then resume", kinds)
	}
}

// TestDeviceLost unplugs the microphone mid-recording: the gap is marked,
// events are raised, and recording continues on the default device without
// ending. A device asked for by name is preferred when it is back.
func TestDeviceLost(t *testing.T) {
	for _, tc := range []struct {
		name     string
		want     string   // Config.Device
		replugs  []Device // devices once the first is gone
		reopened string
	}{
		{"ContinuesOnDefault", "", []Device{mic48}, mic48.Name},
		{"PrefersTheNamedDevice", "usb", []Device{mic48, {Name: mic44.Name, Channels: 2, SampleRate: 44100}}, mic44.Name},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newFakeBackend(mic44)
			j, dir := newJournal(t, journal.Options{})
			h := newHarness(t)
			cfg := h.config(b, j)
			cfg.Device = tc.want
			cfg.LostAfter = 200 * time.Millisecond
			cfg.RetryMin = 20 * time.Millisecond
			cfg.RetryMax = 100 * time.Millisecond
			r, s := startFake(t, h, cfg, b)
			frame := 0
			pushChunks(t, s, tone(s.format, 300, 0.25, time.Second, &frame))
			h.waitFor("the first second in the journal", 5*time.Second, h.reached(16000))

			// Unplugged: callbacks stop, the device disappears.
			b.unplug()
			h.waitFor("device-lost", 5*time.Second, func() bool { return h.has(EventDeviceLost) })
			if !r.Stats().DeviceLost {
				t.Error("Stats().DeviceLost is false")
			}
			h.waitFor("the lost stream to be closed", 5*time.Second, s.isClosed)
			// Recording goes on: pause works while lost.
			if err := r.Pause(); err != nil {
				t.Fatalf("Pause while lost: %v", err)
			}
			if err := r.Resume(); err != nil {
				t.Fatalf("Resume while lost: %v", err)
			}
			b.setDevices(tc.replugs...)
			h.waitFor("device-changed", 5*time.Second, func() bool { return h.has(EventDeviceChanged) })
			var s2 *fakeStream
			select {
			case s2 = <-b.opened:
			default:
				t.Fatal("no stream opened after device-changed")
			}
			if s2.dev.Name != tc.reopened {
				t.Errorf("reopened %q, want %q", s2.dev.Name, tc.reopened)
			}
			f2 := 0
			pushChunks(t, s2, tone(s2.format, 300, 0.25, time.Second, &f2))
			h.waitFor("the second second in the journal", 5*time.Second, h.reached(32000))
			if err := r.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			st := r.Stats()
			if st.Reopens != 1 || st.DeviceLost || st.Device.Name != tc.reopened {
				t.Errorf("stats after reopening: %+v", st)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			m, err := journal.ReadManifest(dir, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range m.Events {
				got = append(got, string(e.Kind)+":"+strings.SplitN(e.Detail, ":", 2)[0])
			}
			want := "start:,device:" + mic44.Name + " (fake), 44100 Hz, 2 ch,device:lost,pause:,resume:,gap:"
			if !strings.HasPrefix(strings.Join(got, ","), want) || !strings.Contains(strings.Join(got, ","), "device:changed") {
				t.Errorf("journal events %q, want them to start %q and include device:changed", got, want)
			}
			if n := len(readJournal(t, dir, journal.Options{})); n < 32000 || n > 32020 {
				t.Errorf("journal holds %d samples, want the 2 s recorded (32000) and no gap filler", n)
			}
		})
	}
}

// TestWriteError makes the disk refuse writes: the error is reported at once,
// audio is held, and once the disk accepts writes again all of it arrives.
func TestWriteError(t *testing.T) {
	store := &failStorage{}
	opts := journal.Options{Storage: store}
	b := newFakeBackend(mic48)
	j, dir := newJournal(t, opts)
	h := newHarness(t)
	r, s := startFake(t, h, h.config(b, j), b)
	frame := 0
	pushChunks(t, s, tone(s.format, 300, 0.25, time.Second, &frame))
	h.waitFor("the first second", 5*time.Second, h.reached(16000))

	store.fail.Store(true)
	pushChunks(t, s, tone(s.format, 300, 0.25, time.Second, &frame))
	h.waitFor("write-error", 5*time.Second, func() bool { return h.has(EventWriteError) })
	h.waitFor("a second held in memory", 5*time.Second, func() bool { return r.Stats().Backlog >= 990*time.Millisecond })
	st := r.Stats()
	if st.WriteErrors == 0 || !errors.Is(st.LastWriteError, syscall.ENOSPC) || st.Backlog == 0 {
		t.Errorf("stats while failing: %+v", st)
	}

	store.fail.Store(false)
	h.waitFor("write-recovered", 5*time.Second, func() bool { return h.has(EventWriteRecovered) })
	pushChunks(t, s, tone(s.format, 300, 0.25, time.Second, &frame))
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st := r.Stats(); st.Backlog != 0 || st.Dropped != 0 {
		t.Errorf("stats after recovery: %+v", st)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	pcm := readJournal(t, dir, opts)
	if d := len(pcm) - 48000; d < 0 || d > 10 {
		t.Errorf("journal holds %d samples, want all 3 s (48000)", len(pcm))
	}
	// The held audio is the tone, continuous across the failure.
	for i := 16000; i < 47000; i += 997 {
		want := 0.25 * 32768 * math.Sin(2*math.Pi*300*float64(i)/16000)
		if math.Abs(float64(pcm[i])-want) > 0.02*32768 {
			t.Fatalf("sample %d = %d, want about %.0f", i, pcm[i], want)
		}
	}
}

// TestWriteErrorBacklogFull drops audio beyond the backlog, says so, and
// marks the gap once writes work again.
func TestWriteErrorBacklogFull(t *testing.T) {
	store := &failStorage{}
	opts := journal.Options{Storage: store}
	b := newFakeBackend(mic48)
	j, dir := newJournal(t, opts)
	h := newHarness(t)
	cfg := h.config(b, j)
	cfg.Backlog = 500 * time.Millisecond
	r, s := startFake(t, h, cfg, b)
	frame := 0
	store.fail.Store(true)
	pushChunks(t, s, tone(s.format, 300, 0.25, 2*time.Second, &frame))
	// All but the backlog is dropped; the resampler holds back a few samples.
	h.waitFor("1.49 s dropped", 5*time.Second, func() bool { return r.Stats().Dropped >= 1490*time.Millisecond })
	if st := r.Stats(); st.Dropped > 1500*time.Millisecond || st.Backlog != 500*time.Millisecond {
		t.Errorf("dropped %s, backlog %s; want 1.5s, 500ms", st.Dropped, st.Backlog)
	}
	store.fail.Store(false)
	h.waitFor("write-recovered", 5*time.Second, func() bool { return h.has(EventWriteRecovered) })
	e, _ := h.first(EventWriteRecovered)
	if !strings.Contains(e.Detail, "1.5s was lost") {
		t.Errorf("recovery event %q does not say what was lost", e.Detail)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := journal.ReadManifest(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	gap := false
	for _, e := range m.Events {
		gap = gap || (e.Kind == journal.EventGap && strings.Contains(e.Detail, "1.5s of audio lost"))
	}
	if !gap {
		t.Errorf("no gap event for the dropped audio in %+v", m.Events)
	}
}

// TestNoAudio: silence gives "no-audio" within 10 s of recorded audio, and
// sound takes it back.
func TestNoAudio(t *testing.T) {
	b := newFakeBackend(mic48)
	j, _ := newJournal(t, journal.Options{})
	h := newHarness(t)
	r, s := startFake(t, h, h.config(b, j), b)
	silence := make([]float32, 48000)
	for sec := 1; !h.has(EventNoAudio); sec++ {
		if sec > 11 {
			t.Fatalf("no %q event after 11 s of silence", EventNoAudio)
		}
		pushChunks(t, s, silence)
		h.waitFor("a second of silence metered", 5*time.Second, h.reached(int64(sec)*16000))
	}
	e, _ := h.first(EventNoAudio)
	if e.At > 10*16000 {
		t.Errorf("no-audio at %s of audio, want within 10 s", samplesDur(e.At))
	}
	frame := 0
	pushChunks(t, s, tone(s.format, 300, 0.25, time.Second, &frame))
	h.waitFor("audio-detected", 5*time.Second, func() bool { return h.has(EventAudioDetected) })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestOverrunReported: a buffer the ring cannot take and an overflow the
// device flags are both counted, reported and marked.
func TestOverrunReported(t *testing.T) {
	b := newFakeBackend(mic48)
	j, dir := newJournal(t, journal.Options{})
	h := newHarness(t)
	r, s := startFake(t, h, h.config(b, j), b)
	huge := make([]float32, 48000*(ringSeconds+3)) // larger than the ring
	if !s.push(huge, false) {
		t.Fatal("push failed")
	}
	frame := 0
	if !s.push(tone(s.format, 300, 0.25, 20*time.Millisecond, &frame), true) {
		t.Fatal("push failed")
	}
	h.waitFor("overrun", 5*time.Second, func() bool { return h.has(EventOverrun) })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Overruns != 2 || st.OverrunFrames != int64(len(huge)) {
		t.Errorf("overruns %d (%d frames), want 2 (%d frames)", st.Overruns, st.OverrunFrames, len(huge))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := journal.ReadManifest(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, e := range m.Events {
		if e.Kind == journal.EventOverrun {
			marked++
		}
	}
	if marked == 0 {
		t.Errorf("no overrun in the journal: %+v", m.Events)
	}
}

func TestClipping(t *testing.T) {
	b := newFakeBackend(mic48)
	j, _ := newJournal(t, journal.Options{})
	h := newHarness(t)
	r, s := startFake(t, h, h.config(b, j), b)
	frame := 0
	// A sine driven far past full scale is flattened at the rails.
	pushChunks(t, s, tone(s.format, 200, 3, time.Second, &frame))
	h.waitFor("clipping", 5*time.Second, func() bool { return h.has(EventClipping) })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := h.count(EventClipping); n != 1 {
		t.Errorf("%d clipping events for one loud second, want 1", n)
	}
}

func TestStartValidates(t *testing.T) {
	j, _ := newJournal(t, journal.Options{})
	if _, err := Start(t.Context(), Config{Journal: j}); err == nil || !strings.Contains(err.Error(), "Backend") {
		t.Errorf("no backend: %v", err)
	}
	if _, err := Start(t.Context(), Config{Backend: newFakeBackend(mic48)}); err == nil || !strings.Contains(err.Error(), "Journal") {
		t.Errorf("no journal: %v", err)
	}
}

// TestRingDoesNotAllocate holds the audio-thread promise for the Go ring
// (the PortAudio callback is C and cannot allocate Go memory).
func TestRingDoesNotAllocate(t *testing.T) {
	r := newRing(1<<12, 2)
	buf := make([]float32, 512)
	out := make([]float32, 1<<12)
	allocs := testing.AllocsPerRun(1000, func() {
		r.write(buf, false)
		r.read(out)
	})
	if allocs != 0 {
		t.Errorf("ring write+read allocates %.1f times per buffer", allocs)
	}
}

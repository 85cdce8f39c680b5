package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
)

// The conformance suite: every Backend configuration this machine can set
// up records the same espeak-ng speech through the real capture path into a
// real journal, and the journal must match the speech.
//
// Configurations: PortAudio reading an ALSA `file` plugin (exact, faster
// than real time), PortAudio through a PulseAudio null sink's monitor (real
// time, like a microphone), and the in-process fake. A virtual microphone
// that cannot be set up skips its configuration with the reason, or fails
// it when CI is set.

const speechText = "The patient reports three days of chest pain, worse on exertion and relieved by rest. " +
	"No shortness of breath. Blood pressure one hundred and thirty over eighty five."

// vmic is one configuration under test.
type vmic struct {
	backend Backend
	// realtime devices deliver audio at its own pace; the others as fast
	// as they are read.
	realtime bool
	// play starts the speech on the default input and returns; done closes
	// once it has all been delivered. nil: the speech starts when the
	// device is opened.
	play func(t *testing.T) (done <-chan struct{})
	// silent: the device delivers digital silence when nothing plays.
	silent bool
	// unplug and replug the default input; nil when the configuration
	// cannot.
	unplug, replug func(t *testing.T)
}

func TestBackends(t *testing.T) {
	sp := makeSpeech(t)
	for _, tc := range []struct {
		name  string
		setup func(*testing.T, *speech) *vmic
	}{
		{"Fake", fakeVmic},
		{"PortAudio/ALSAFile", alsaFileVmic},
		{"PortAudio/PulseAudio", pulseVmic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.setup(t, sp)
			testBackend(t, m, sp)
		})
	}
}

func testBackend(t *testing.T, m *vmic, sp *speech) {
	devs, err := m.backend.Devices(t.Context())
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	var def Device
	for _, d := range devs {
		if d.Default {
			def = d
		}
	}
	t.Run("Devices", func(t *testing.T) {
		defaults := 0
		for _, d := range devs {
			t.Logf("device %+v", d)
			if d.Name == "" || d.Channels < 1 || d.SampleRate <= 0 || d.HostAPI == "" {
				t.Errorf("incomplete device %+v", d)
			}
			if d.Default {
				defaults++
			}
		}
		if defaults != 1 {
			t.Errorf("%d default devices among %d, want 1", defaults, len(devs))
		}
	})
	if def.Name == "" {
		t.Fatalf("no default device among %+v", devs)
	}

	t.Run("OpenNativeFormat", func(t *testing.T) {
		st, err := m.backend.Open(t.Context(), "", Format{})
		if err != nil {
			t.Fatalf("Open default: %v", err)
		}
		f := st.Format()
		if f.SampleRate != def.SampleRate || f.Channels != min(def.Channels, 2) || st.Device().Name != def.Name {
			t.Errorf("opened %q at %+v, want %q at its native %g Hz, %d ch", st.Device().Name, f, def.Name, def.SampleRate, min(def.Channels, 2))
		}
		if c := st.Counters(); c.Callbacks != 0 {
			t.Errorf("%d callbacks before Start", c.Callbacks)
		}
		if err := st.Start(); err != nil {
			t.Fatalf("Start: %v", err)
		}
		// Wait for a few callbacks and some audio, at the writer's pace.
		buf := make([]float32, 4096*f.Channels)
		got := 0
		deadline := time.After(5 * time.Second)
		poll := time.NewTicker(tick)
		defer poll.Stop()
		for st.Counters().Callbacks < 4 || got == 0 {
			select {
			case <-poll.C:
			case <-deadline:
				t.Fatalf("after 5 s: %+v, %d samples read", st.Counters(), got)
			}
			n := st.Read(buf)
			if n%f.Channels != 0 {
				t.Fatalf("Read returned %d samples: not whole %d-channel frames", n, f.Channels)
			}
			got += n
		}
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		c := st.Counters()
		if n := st.Read(buf); n != 0 {
			t.Errorf("Read after Close returned %d samples", n)
		}
		if err := st.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if c2 := st.Counters(); c2 != c {
			t.Errorf("counters moved after Close: %+v then %+v", c, c2)
		}
	})

	t.Run("UnknownDevice", func(t *testing.T) {
		_, err := m.backend.Open(t.Context(), "no such microphone 7f3a", Format{})
		if !errors.Is(err, ErrDeviceNotFound) {
			t.Errorf("Open unknown name: %v, want ErrDeviceNotFound", err)
		}
		j, _ := newJournal(t, journal.Options{})
		h := newHarness(t)
		cfg := h.config(m.backend, j)
		cfg.Device = "no such microphone 7f3a"
		if _, err := Start(t.Context(), cfg); !errors.Is(err, ErrDeviceNotFound) || !strings.Contains(err.Error(), def.Name) {
			t.Errorf("Start unknown name: %v, want ErrDeviceNotFound naming %q", err, def.Name)
		}
	})

	t.Run("RecordSpeech", func(t *testing.T) {
		j, dir := newJournal(t, journal.Options{})
		h := newHarness(t)
		r, err := Start(t.Context(), h.config(m.backend, j))
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		defer r.Stop()
		started := time.Now()
		end := int64(len(sp.ref))
		if m.play != nil {
			// Let the stream settle, then play, then wait for the
			// speech to have been delivered.
			h.waitFor("the first levels", 10*time.Second, h.reached(1600))
			done := m.play(t)
			h.waitFor("the speech to be played", 30*time.Second, func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			})
			end = h.levelAt()
		}
		// Half a second more covers the device's and the pipeline's latency.
		h.waitFor("the speech in the journal", 30*time.Second, h.reached(end+8000))
		if err := r.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		wall := time.Since(started)
		st := r.Stats()
		t.Logf("stats %+v", st)
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		pcm := readJournal(t, dir, journal.Options{})
		compareSpeech(t, sp.ref, pcm)

		levels, times := h.levelList()
		if int64(len(levels)) != int64(len(pcm))/800 {
			t.Errorf("%d levels for %d samples, want one per 50 ms of audio (%d)", len(levels), len(pcm), len(pcm)/800)
		}
		if m.realtime {
			if st.Overruns != 0 {
				t.Errorf("%d overruns from a real-time device", st.Overruns)
			}
			if len(times) > 40 {
				hz := float64(len(times)-21) / times[len(times)-1].Sub(times[20]).Seconds()
				t.Logf("levels at %.1f Hz over %s", hz, wall.Round(time.Millisecond))
				if hz < 17 || hz > 23 {
					t.Errorf("levels arrive at %.1f Hz, want about 20", hz)
				}
			}
		}
	})

	if m.silent {
		t.Run("NoAudio", func(t *testing.T) {
			j, _ := newJournal(t, journal.Options{})
			h := newHarness(t)
			r, err := Start(t.Context(), h.config(m.backend, j))
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer r.Stop()
			h.waitFor("no-audio", 15*time.Second, func() bool { return h.has(EventNoAudio) })
			if e, _ := h.first(EventNoAudio); e.At > 10*journal.SampleRate {
				t.Errorf("no-audio after %s of silence, want within 10 s", samplesDur(e.At))
			}
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}

	if m.unplug != nil {
		t.Run("DeviceLost", func(t *testing.T) {
			j, dir := newJournal(t, journal.Options{})
			h := newHarness(t)
			cfg := h.config(m.backend, j)
			cfg.RetryMax = time.Second
			r, err := Start(t.Context(), cfg)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer r.Stop()
			h.waitFor("audio", 10*time.Second, h.reached(8000))
			m.unplug(t)
			h.waitFor("device-lost", 10*time.Second, func() bool { return h.has(EventDeviceLost) })
			lostAt := h.levelAt()
			m.replug(t)
			h.waitFor("device-changed", 15*time.Second, func() bool { return h.has(EventDeviceChanged) })
			h.waitFor("audio after the change", 10*time.Second, h.reached(lostAt+8000))
			if err := r.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			mf, err := journal.ReadManifest(dir, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range mf.Events {
				kinds = append(kinds, string(e.Kind))
			}
			if !strings.Contains(strings.Join(kinds, ","), "device,gap,device") {
				t.Errorf("journal events %v lack device lost, gap, device changed", kinds)
			}
		})
	}
}

// speech is the test utterance: the espeak-ng WAV and its 16 kHz mono
// reference, made by sox (not by our resampler).
type speech struct {
	wav string
	ref []int16
}

// vmicUnavailable skips, or fails under CI, a configuration this machine
// cannot set up.
func vmicUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("virtual microphone unavailable under CI: "+format, args...)
	}
	t.Skipf("virtual microphone unavailable (set CI=true to make this fail): "+format, args...)
}

func makeSpeech(t *testing.T) *speech {
	t.Helper()
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			vmicUnavailable(t, "%s is not installed (apt-get install espeak-ng sox)", tool)
		}
	}
	dir := t.TempDir()
	wav := filepath.Join(dir, "speech.wav")
	run(t, "espeak-ng", "-w", wav, speechText)
	raw := filepath.Join(dir, "ref.raw")
	run(t, "sox", wav, "-t", "raw", "-e", "signed", "-b", "16", "-L", "-r", "16000", "-c", "1", raw)
	return &speech{wav: wav, ref: readRaw16(t, raw)}
}

// rawFloat converts the speech to interleaved float32 frames at rate Hz.
func (sp *speech) rawFloat(t *testing.T, rate, ch int) []float32 {
	raw := filepath.Join(t.TempDir(), "speech.raw")
	run(t, "sox", sp.wav, "-t", "raw", "-e", "signed", "-b", "16", "-L", "-r", strconv.Itoa(rate), "-c", strconv.Itoa(ch), raw)
	pcm := readRaw16(t, raw)
	out := make([]float32, len(pcm))
	for i, v := range pcm {
		out[i] = float32(v) / 32768
	}
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func readRaw16(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	return pcm
}

// vmicScript runs scripts/vmic.sh with env added to the environment and
// returns the variables it exports. It does not use t.Context, so that it
// works in cleanups too.
func vmicScript(t *testing.T, env []string, args ...string) (map[string]string, error) {
	t.Helper()
	script, err := filepath.Abs("../../scripts/vmic.sh")
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(script, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("vmic.sh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			vars[k] = v
		}
	}
	return vars, nil
}

// fakeVmic plays the speech through the fake backend at ten times real
// time, silence otherwise.
func fakeVmic(t *testing.T, sp *speech) *vmic {
	dev := Device{Name: "Fake Microphone", Default: true, Channels: 2, SampleRate: 44100, HostAPI: "fake"}
	b := newFakeBackend(dev)
	audio := sp.rawFloat(t, 44100, 2)
	var playing atomic.Pointer[chan struct{}]
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		chunk := make([]float32, 882*2) // 20 ms
		pos := 0
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			clear(chunk)
			if done := playing.Load(); done != nil {
				n := copy(chunk, audio[pos:])
				pos += n
				if pos == len(audio) {
					pos = 0
					playing.Store(nil)
					close(*done)
				}
			}
			if s := b.current(); s != nil {
				s.push(chunk, false)
			}
		}
	}()
	return &vmic{
		backend: b,
		silent:  true,
		play: func(*testing.T) <-chan struct{} {
			done := make(chan struct{})
			playing.Store(&done)
			return done
		},
		unplug: func(*testing.T) { b.unplug() },
		replug: func(*testing.T) { b.setDevices(dev) },
	}
}

// alsaFileVmic points ALSA's default capture device at the speech, through
// the `file` plugin, and uses PortAudio on it.
func alsaFileVmic(t *testing.T, sp *speech) *vmic {
	dir := t.TempDir()
	// PortAudio asks for float32: the file must be float32 too (see
	// vmic.sh alsa-file).
	raw := filepath.Join(dir, "speech44k.raw")
	run(t, "sox", sp.wav, "-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-r", "44100", "-c", "2", raw)
	vars, err := vmicScript(t, nil, "alsa-file", raw, dir, "44100", "2", "FLOAT_LE")
	if err != nil {
		vmicUnavailable(t, "%v", err)
	}
	t.Setenv("ALSA_CONFIG_PATH", vars["ALSA_CONFIG_PATH"])
	b := NewPortAudio(testLogger(t))
	if devs, err := b.Devices(t.Context()); err != nil || len(devs) == 0 {
		vmicUnavailable(t, "PortAudio sees no input device through the ALSA file plugin (%v)", err)
	}
	return &vmic{backend: b}
}

// pulseVmic starts a PulseAudio daemon of its own (other packages' tests
// use PulseAudio at the same time) with a null sink, and points ALSA's
// default capture device at the sink's monitor.
func pulseVmic(t *testing.T, sp *speech) *vmic {
	// Short: the daemon's socket path must fit in 108 bytes.
	rt, err := os.MkdirTemp("", "vmic-capture-")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"VMIC_RUNTIME=" + rt, "VMIC_OWN=1"}
	t.Cleanup(func() {
		if _, err := vmicScript(t, env, "pulse-stop"); err != nil {
			t.Error(err)
		}
		if err := os.RemoveAll(rt); err != nil {
			t.Error(err)
		}
	})
	const sink = "scribe_capture_test"
	if _, err := vmicScript(t, env, "pulse-up", sink); err != nil {
		vmicUnavailable(t, "%v", err)
	}
	dir := t.TempDir()
	vars, err := vmicScript(t, env, "alsa-pulse", sink, dir)
	if err != nil {
		vmicUnavailable(t, "%v", err)
	}
	t.Setenv("ALSA_CONFIG_PATH", vars["ALSA_CONFIG_PATH"])
	b := NewPortAudio(testLogger(t))
	if devs, err := b.Devices(t.Context()); err != nil || len(devs) == 0 {
		vmicUnavailable(t, "PortAudio sees no input device through PulseAudio (%v)", err)
	}
	return &vmic{
		backend:  b,
		realtime: true,
		silent:   true,
		play: func(t *testing.T) <-chan struct{} {
			done := make(chan struct{})
			go func() {
				defer close(done)
				if _, err := vmicScript(t, env, "pulse-play", sink, sp.wav); err != nil {
					t.Error(err)
				}
			}()
			return done
		},
		unplug: func(t *testing.T) {
			if _, err := vmicScript(t, env, "pulse-down", sink); err != nil {
				t.Fatal(err)
			}
		},
		replug: func(t *testing.T) {
			if _, err := vmicScript(t, env, "pulse-up", sink); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// compareSpeech aligns the recording with the reference and requires a
// normalised cross-correlation of at least 0.9 and the speech's duration
// within 50 ms.
func compareSpeech(t *testing.T, ref, rec []int16) {
	t.Helper()
	// SCRIBE_CAPTURE_DUMP=DIR keeps each recording as raw s16le 16 kHz mono
	// (play -r 16000 -e signed -b 16 -c 1 FILE) to hear what went wrong.
	if dir := os.Getenv("SCRIBE_CAPTURE_DUMP"); dir != "" {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.LittleEndian, rec)
		name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".raw")
		if err := os.WriteFile(name, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("recording written to %s", name)
	}
	lag, ncc := align(ref, rec)
	refSpan, recSpan := speechSpan(ref), speechSpan(rec)
	t.Logf("alignment: lag %d samples (%s), NCC %.4f; speech %s in the source, %s recorded",
		lag, samplesDur(int64(lag)), ncc, refSpan, recSpan)
	if ncc < 0.9 {
		t.Errorf("normalised cross-correlation %.4f, want ≥ 0.9", ncc)
	}
	if d := recSpan - refSpan; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("speech lasts %s recorded, %s in the source: off by more than 50 ms", recSpan, refSpan)
	}
}

// align finds the lag of ref in rec with the best normalised
// cross-correlation: coarsely on 10 ms energy envelopes, then sample by
// sample around the best coarse lag.
func align(ref, rec []int16) (lag int, ncc float64) {
	const hop = 160
	er, ec := envelope(ref, hop), envelope(rec, hop)
	best, bestLag := math.Inf(-1), 0
	for l := -len(er) + 1; l < len(ec); l++ {
		var s float64
		for i, v := range er {
			if j := i + l; j >= 0 && j < len(ec) {
				s += v * ec[j]
			}
		}
		if s > best {
			best, bestLag = s, l
		}
	}
	ncc = math.Inf(-1)
	for l := bestLag*hop - 2*hop; l <= bestLag*hop+2*hop; l++ {
		if c := nccAt(ref, rec, l); c > ncc {
			ncc, lag = c, l
		}
	}
	return lag, ncc
}

func envelope(x []int16, hop int) []float64 {
	e := make([]float64, len(x)/hop)
	for i := range e {
		var s float64
		for _, v := range x[i*hop : (i+1)*hop] {
			s += float64(v) * float64(v)
		}
		e[i] = math.Sqrt(s / float64(hop))
	}
	// Zero mean, so that silence does not correlate with everything.
	var m float64
	for _, v := range e {
		m += v
	}
	m /= float64(len(e))
	for i := range e {
		e[i] -= m
	}
	return e
}

// nccAt is Σ ref[i]·rec[i+l] / √(Σ ref² · Σ rec[i+l]²) over ref's length.
func nccAt(ref, rec []int16, l int) float64 {
	var xy, xx, yy float64
	for i, v := range ref {
		x := float64(v)
		xx += x * x
		if j := i + l; j >= 0 && j < len(rec) {
			y := float64(rec[j])
			xy += x * y
			yy += y * y
		}
	}
	if xx == 0 || yy == 0 {
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}

// speechSpan is the time from the first to the last 10 ms frame within
// 30 dB of the loudest frame.
func speechSpan(x []int16) time.Duration {
	const hop = 160
	var frames []float64
	var peak float64
	for i := 0; i+hop <= len(x); i += hop {
		var s float64
		for _, v := range x[i : i+hop] {
			s += float64(v) * float64(v)
		}
		r := math.Sqrt(s / hop)
		frames = append(frames, r)
		peak = max(peak, r)
	}
	first, last := -1, -1
	for i, r := range frames {
		if r >= peak*math.Pow(10, -30.0/20) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0
	}
	return time.Duration(last-first+1) * 10 * time.Millisecond
}

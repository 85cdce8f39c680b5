package playback

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// These tests play through the real PortAudio path into ALSA's `file`
// plugin (scripts/vmic.sh alsa-out): what ALSA's default playback device
// receives lands in a file, which is compared with what was played. A
// machine where that cannot be set up skips them with the reason, or fails
// them when CI is set.

// alsaUnavailable skips, or fails under CI, a test this machine cannot set
// up.
func alsaUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("virtual speaker unavailable under CI: "+format, args...)
	}
	t.Skipf("virtual speaker unavailable (set CI=true to make this fail): "+format, args...)
}

// fileSpeaker points ALSA's default playback device at a file taking
// 16-bit samples at rate Hz, ch channels, and returns the file's path.
func fileSpeaker(t *testing.T, rate, ch int) string {
	t.Helper()
	script, err := filepath.Abs("../../scripts/vmic.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "speaker.raw")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), script, "alsa-out", out, dir, strconv.Itoa(rate), strconv.Itoa(ch), "S16_LE")
	cmd.Stderr = &stderr
	vars, err := cmd.Output()
	if err != nil {
		alsaUnavailable(t, "vmic.sh alsa-out: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	path, ok := strings.CutPrefix(strings.TrimSpace(string(vars)), "export ALSA_CONFIG_PATH=")
	if !ok {
		t.Fatalf("vmic.sh alsa-out printed %q, want export ALSA_CONFIG_PATH=…", vars)
	}
	t.Setenv("ALSA_CONFIG_PATH", path)
	return out
}

// play plays src through PortAudio, skipping the test (or failing it
// under CI) when PortAudio finds no output device at all.
func play(t *testing.T, ctx context.Context, src Source, rate int) error {
	t.Helper()
	err := NewPortAudio(testLogger(t)).Play(ctx, src, rate)
	if errors.Is(err, ErrNoOutput) {
		alsaUnavailable(t, "PortAudio sees no output device through the ALSA file plugin: %v", err)
	}
	return err
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// toneRamp is n samples of a 440 Hz tone whose amplitude ramps up from
// 2000 to 20000, starting at a non-zero sample, at rate Hz.
func toneRamp(n, rate int) pcm {
	p := make(pcm, n)
	for i := range p {
		amp := 2000 + 18000*float64(i)/float64(n)
		p[i] = int16(math.Round(amp * math.Cos(2*math.Pi*440*float64(i)/float64(rate))))
	}
	return p
}

func readRaw16(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read what the speaker got: %v", err)
	}
	out := make([]int16, len(b)/2)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// played finds src in got: the silence PortAudio or ALSA adds before and
// after is allowed (up to 100 ms each side), anything else is not.
func played(got, src []int16, rate int) error {
	lead := 0
	for lead < len(got) && got[lead] == 0 {
		lead++
	}
	if lead == len(got) {
		return fmt.Errorf("the speaker got %d samples of silence", len(got))
	}
	if lead > rate/10 {
		return fmt.Errorf("%d samples of silence before the audio, want at most 100 ms", lead)
	}
	if len(got)-lead < len(src) {
		return fmt.Errorf("the speaker got %d samples after %d of silence, want %d", len(got)-lead, lead, len(src))
	}
	if i := firstDiff(got[lead:lead+len(src)], src); i < len(src) {
		return fmt.Errorf("sample %d differs: got %d, want %d", i, got[lead+i], src[i])
	}
	tail := got[lead+len(src):]
	if len(tail) > rate/10 {
		return fmt.Errorf("%d samples after the audio, want at most 100 ms of silence", len(tail))
	}
	for i, v := range tail {
		if v != 0 {
			return fmt.Errorf("sample %d after the audio is %d, want silence", i, v)
		}
	}
	return nil
}

func TestPlayExact(t *testing.T) {
	const rate = 16000
	out := fileSpeaker(t, rate, 1)
	src := toneRamp(2*rate+123, rate) // not a whole number of chunks
	if err := play(t, t.Context(), NewSection(src, 0, int64(len(src))), rate); err != nil {
		t.Fatalf("Play: %v", err)
	}
	got := readRaw16(t, out)
	t.Logf("played %d samples, the speaker got %d", len(src), len(got))
	if err := played(got, src, rate); err != nil {
		t.Error(err)
	}
}

// TestPlayConverted plays 16 kHz mono on a device taking only 44.1 kHz
// stereo (as the fallback picks for devices refusing 16 kHz mono): both
// channels must carry the tone as it sounds at 44.1 kHz.
func TestPlayConverted(t *testing.T) {
	const rate, devRate = 16000, 44100
	out := fileSpeaker(t, devRate, 2)
	src := toneRamp(rate, rate)
	stereo44k := func(rate int) (output, error) {
		o, err := defaultOutput(rate)
		o.rate, o.channels = devRate, 2
		return o, err
	}
	err := NewPortAudio(testLogger(t)).playOn(t.Context(), NewSection(src, 0, int64(len(src))), rate, stereo44k)
	if errors.Is(err, ErrNoOutput) {
		alsaUnavailable(t, "PortAudio sees no output device through the ALSA file plugin: %v", err)
	}
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	got := readRaw16(t, out)
	var left, right []int16
	for i := 0; i+1 < len(got); i += 2 {
		left, right = append(left, got[i]), append(right, got[i+1])
	}
	if firstDiff(left, right) < len(left) {
		t.Fatalf("the channels differ at frame %d", firstDiff(left, right))
	}
	want := toneRamp(devRate, devRate)
	lead := 0
	for lead < len(left) && left[lead] == 0 {
		lead++
	}
	body := left[lead:]
	// ceil(16000·44100/16000) samples come out of the resampler; the
	// device may add silence after them.
	if len(body) < len(want) || len(body) > len(want)+devRate/10 {
		t.Fatalf("%d frames after %d of silence, want %d (+ at most 100 ms)", len(body), lead, len(want))
	}
	// The resampler's filter shapes the first and last few milliseconds.
	edge := devRate / 100
	c := ncc(body[edge:len(want)-edge], want[edge:len(want)-edge])
	t.Logf("%d frames after %d of silence for %d at 44.1 kHz; correlation %.6f", len(body), lead, len(want), c)
	if c < 0.999 {
		t.Errorf("correlation with the tone at 44.1 kHz is %.5f, want ≥ 0.999", c)
	}
}

func ncc(a, b []int16) float64 {
	var xy, xx, yy float64
	for i := range min(len(a), len(b)) {
		x, y := float64(a[i]), float64(b[i])
		xy, xx, yy = xy+x*y, xx+x*x, yy+y*y
	}
	if xx == 0 || yy == 0 {
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}

// endless is ten minutes of tone made as it is read; it calls stop once
// more than after samples have been read.
type endless struct {
	rate  int
	after int64
	stop  func()
	read  atomic.Int64
}

func (e *endless) Read(p []int16) (int, error) {
	off := e.read.Load()
	if off >= int64(10*60*e.rate) {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = int16(10000 * math.Cos(2*math.Pi*440*float64(off+int64(i))/float64(e.rate)))
	}
	if e.read.Add(int64(len(p))) > e.after {
		e.stop()
	}
	return len(p), nil
}

func TestPlayCancel(t *testing.T) {
	const rate = 16000
	out := fileSpeaker(t, rate, 1)
	stopped := errors.New("stopped by the test")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	src := &endless{rate: rate, after: rate, stop: func() { cancel(stopped) }}
	err := play(t, ctx, src, rate)
	if !errors.Is(err, stopped) {
		t.Fatalf("Play after cancel: %v, want the context's cause", err)
	}
	t.Logf("cancelled after %d samples read, %d played", src.read.Load(), len(readRaw16(t, out)))
	// Nothing is read or played after the chunk that saw the cancel.
	if n := src.read.Load(); n > rate+rate/chunkDiv {
		t.Errorf("%d samples read, want no more than %d: Play went on after its context ended", n, rate+rate/chunkDiv)
	}
	if n := len(readRaw16(t, out)); n > rate+rate/chunkDiv {
		t.Errorf("the speaker got %d samples, want at most %d", n, rate+rate/chunkDiv)
	}

	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(t.Context())
		cancel(stopped)
		src := &endless{rate: rate, after: math.MaxInt64, stop: func() {}}
		if err := play(t, ctx, src, rate); !errors.Is(err, stopped) {
			t.Errorf("Play with an ended context: %v, want its cause", err)
		}
		if n := src.read.Load(); n != 0 {
			t.Errorf("%d samples read with an ended context", n)
		}
	})
}

func TestPlayNoOutput(t *testing.T) {
	if _, err := os.Stat("/usr/share/alsa/alsa.conf"); err != nil {
		alsaUnavailable(t, "no ALSA configuration: %v", err)
	}
	// ALSA's own configuration (plugins, no cards here) without any
	// default device: PortAudio finds nothing to play on.
	dir := t.TempDir()
	conf := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(conf, []byte("</usr/share/alsa/alsa.conf>\npcm.!default { type hw card 99 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	src := toneRamp(1600, 16000)
	err := NewPortAudio(testLogger(t)).Play(t.Context(), NewSection(src, 0, int64(len(src))), 16000)
	if !errors.Is(err, ErrNoOutput) {
		t.Fatalf("Play with no output device: %v, want ErrNoOutput", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "No speaker or headphones found") || !strings.Contains(msg, "sound settings") {
		t.Errorf("message %q does not say what is missing and what to do", msg)
	}
}

func TestPlayRefusesBadInput(t *testing.T) {
	p := NewPortAudio(nil)
	src := NewSection(toneRamp(10, 16000), 0, 10)
	for _, tc := range []struct {
		name string
		src  Source
		rate int
		want string
	}{
		{"no source", nil, 16000, "no audio"},
		{"zero rate", src, 0, "sample rate 0 Hz"},
		{"absurd rate", src, 10_000_000, "sample rate 10000000 Hz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Play(t.Context(), tc.src, tc.rate)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Play: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

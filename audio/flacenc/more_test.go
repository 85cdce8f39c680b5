package flacenc_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/flacenc"
	"github.com/nextvisit/scribe/sync/sandbox/recognize"
	"github.com/nextvisit/scribe/sync/sandbox/recognize/speechtest"
)

// The sandbox's upload decoder, which the transcription endpoint uses, reads
// both files back sample for sample.
func TestSandboxDecodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pcm := append(speechLike(rng, 5*16000+77), noise(rng, 3000)...)
	var fl, wav bytes.Buffer
	if err := flacenc.Encode(&fl, pcm, 16000); err != nil {
		t.Fatal(err)
	}
	if err := flacenc.EncodeWAV(&wav, pcm, 16000); err != nil {
		t.Fatal(err)
	}
	if wav.Len() != 44+2*len(pcm) {
		t.Errorf("WAV of %d samples is %d bytes, want %d", len(pcm), wav.Len(), 44+2*len(pcm))
	}
	for name, data := range map[string][]byte{"FLAC": fl.Bytes(), "WAV": wav.Bytes()} {
		got, err := recognize.DecodeAudio(bytes.NewReader(data), time.Minute)
		if err != nil {
			t.Fatalf("%s: DecodeAudio: %v", name, err)
		}
		if !equal(got, pcm) {
			t.Errorf("%s: DecodeAudio returned %d samples differing from the %d encoded", name, len(got), len(pcm))
		}
	}
}

// libFLAC, through sox, is the reference decoder: it checks every frame's
// CRCs and syncs, and says so on stderr. (sox does not reliably report a
// wrong STREAMINFO MD5, so the MD5 is checked in encodeBoth instead.)
func TestLibFLACDecodes(t *testing.T) {
	requireTool(t, "sox")
	rng := rand.New(rand.NewPCG(7, 8))
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		pcm  []int16
		rate int
	}{
		{"speech-like", speechLike(rng, 7*flacenc.BlockSize+5), 16000},
		{"noise", noise(rng, 2*flacenc.BlockSize+1), 16000},
		{"one sample", []int16{-12345}, 16000},
		{"22050 Hz", speechLike(rng, 10000), 22050},
		{"11025 Hz", speechLike(rng, 10000), 11025},
		{"176400 Hz", noise(rng, 9000), 176400},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, c.name+".flac")
			out := filepath.Join(dir, c.name+".raw")
			var buf bytes.Buffer
			if err := flacenc.Encode(&buf, c.pcm, c.rate); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(in, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), "sox", "-V2", in, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", out)
			msg, err := cmd.CombinedOutput()
			if err != nil || len(msg) > 0 {
				t.Fatalf("sox (libFLAC) complained: %v\n%s", err, msg)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, le(c.pcm)) {
				t.Errorf("libFLAC decoded %d bytes differing from the %d encoded", len(raw), 2*len(c.pcm))
			}
			info, err := exec.CommandContext(t.Context(), "soxi", "-r", in).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(bytes.TrimSpace(info)); got != strconv.Itoa(c.rate) {
				t.Errorf("libFLAC reads the rate as %s, want %d", got, c.rate)
			}
		})
	}
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("%s is not installed, and CI=%s requires it", name, ci)
		}
		t.Skipf("%s is not installed", name)
	}
}

// Every rate STREAMINFO holds round-trips; each frame states the rate itself
// when a frame-header code can express it.
func TestSampleRates(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range []struct{ rate, frameRate int }{
		{1, 1}, {8000, 8000}, {11025, 11025}, {16000, 16000}, {22050, 22050},
		{24000, 24000}, {44100, 44100}, {48000, 48000}, {65535, 65535},
		{96000, 96000}, {176400, 176400}, {192000, 192000}, {655350, 655350},
		{700001, 0}, {flacenc.MaxSampleRate, 0}, // only STREAMINFO can hold these
	} {
		t.Run(strconv.Itoa(c.rate), func(t *testing.T) {
			pcm := speechLike(rng, flacenc.BlockSize+9)
			plain, _ := encodeBoth(t, pcm, c.rate, rng)
			for i, r := range decodeMewkiz(t, plain).frameRates {
				if r != c.frameRate {
					t.Fatalf("frame %d states %d Hz, want %d", i, r, c.frameRate)
				}
			}
		})
	}
}

func TestBadSampleRate(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x.flac"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, rate := range []int{0, -16000, flacenc.MaxSampleRate + 1} {
		var buf bytes.Buffer
		if err := flacenc.Encode(&buf, []int16{1, 2}, rate); !errors.Is(err, flacenc.ErrSampleRate) {
			t.Errorf("Encode at %d Hz: %v, want ErrSampleRate", rate, err)
		}
		if buf.Len() != 0 {
			t.Errorf("Encode at %d Hz wrote %d bytes before refusing", rate, buf.Len())
		}
		if _, err := flacenc.NewEncoder(f, rate); !errors.Is(err, flacenc.ErrSampleRate) {
			t.Errorf("NewEncoder at %d Hz: %v, want ErrSampleRate", rate, err)
		}
	}
	for _, rate := range []int{0, -1, 1 << 31} {
		if err := flacenc.EncodeWAV(io.Discard, nil, rate); !errors.Is(err, flacenc.ErrSampleRate) {
			t.Errorf("EncodeWAV at %d Hz: %v, want ErrSampleRate", rate, err)
		}
	}
}

var errDiskFull = errors.New("disk full")

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	n int
	io.WriteSeeker
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errDiskFull
	}
	f.n -= len(p)
	return f.WriteSeeker.Write(p)
}

func TestWriteErrors(t *testing.T) {
	pcm := noise(rand.New(rand.NewPCG(11, 12)), 3*flacenc.BlockSize)
	for _, n := range []int{0, 41, 42, 5000} {
		if err := flacenc.Encode(&failAfter{n: n, WriteSeeker: nopSeeker{}}, pcm, 16000); !errors.Is(err, errDiskFull) {
			t.Errorf("Encode with %d bytes of room: %v, want the writer's error", n, err)
		}
		if err := flacenc.EncodeWAV(&failAfter{n: n, WriteSeeker: nopSeeker{}}, pcm, 16000); !errors.Is(err, errDiskFull) {
			t.Errorf("EncodeWAV with %d bytes of room: %v, want the writer's error", n, err)
		}
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "x.flac"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := flacenc.NewEncoder(&failAfter{n: 5000, WriteSeeker: f}, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Write(pcm); !errors.Is(err, errDiskFull) {
		t.Fatalf("Write past the room: %v, want the writer's error", err)
	}
	if err := enc.Write(pcm[:10]); !errors.Is(err, errDiskFull) {
		t.Errorf("Write after a failure: %v, want the first error again", err)
	}
	if err := enc.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close after a failure: %v, want the first error again", err)
	}
	if err := enc.Close(); !errors.Is(err, flacenc.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if err := enc.Write(pcm[:10]); !errors.Is(err, flacenc.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

// nopSeeker discards writes.
type nopSeeker struct{}

func (nopSeeker) Write(p []byte) (int, error)    { return len(p), nil }
func (nopSeeker) Seek(int64, int) (int64, error) { return 0, nil }

// The Encoder writes its stream where the file stands and patches its own
// header there, leaving what came before untouched.
func TestEncoderAtOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.bin")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prefix := []byte("some other header")
	if _, err := f.Write(prefix); err != nil {
		t.Fatal(err)
	}
	pcm := speechLike(rand.New(rand.NewPCG(13, 14)), 3*flacenc.BlockSize+1)
	enc, err := flacenc.NewEncoder(f, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Write(pcm); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	tail := []byte("trailer")
	if _, err := f.Write(tail); err != nil { // Close left f at the stream's end
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, prefix) || !bytes.HasSuffix(data, tail) {
		t.Fatalf("the bytes around the stream changed: %q … %q", data[:len(prefix)], data[len(data)-len(tail):])
	}
	d := decodeMewkiz(t, data[len(prefix):len(data)-len(tail)])
	if !equal(d.pcm, pcm) || d.total != uint64(len(pcm)) || d.md5 != md5Of(pcm) {
		t.Errorf("stream at an offset: %d samples decoded, STREAMINFO total %d, MD5 match %v", len(d.pcm), d.total, d.md5 == md5Of(pcm))
	}
}

// An encounter's speech, spoken by espeak-ng: the ratio FLAC achieves on it
// is what a gap upload saves. It must be far below PCM's size and close to
// libFLAC's own (which adds LPC to our fixed predictors).
func TestSpeechCompression(t *testing.T) {
	phrases := []string{
		"Good morning, how have you been sleeping since we last met?",
		"Not well. I wake up around three and can't get back to sleep.",
		"Are you still taking the sertraline, fifty milligrams each morning?",
		"Yes, every day, but I think the anxiety is worse at night.",
		"Let's talk about what happens when you wake up.",
	}
	gaps := []time.Duration{400 * time.Millisecond, 700 * time.Millisecond, 300 * time.Millisecond, time.Second}
	clean, _ := speechtest.Build(t, 200*time.Millisecond, phrases, gaps, 300*time.Millisecond)
	// A real microphone never gives digital silence: add a faint noise floor
	// (about -66 dBFS) for the second measurement.
	rng := rand.New(rand.NewPCG(15, 16))
	mic := make([]int16, len(clean))
	for i, v := range clean {
		mic[i] = int16(max(-32768, min(32767, float64(v)+rng.NormFloat64()*16)))
	}
	for _, c := range []struct {
		name     string
		pcm      []int16
		maxRatio float64
	}{
		{"espeak-ng", clean, 0.55},
		{"espeak-ng with mic noise", mic, 0.7},
	} {
		t.Run(c.name, func(t *testing.T) {
			plain, _ := encodeBoth(t, c.pcm, 16000, rng)
			ratio := float64(len(plain)) / float64(2*len(c.pcm))
			msg := "FLAC %d bytes for %.1f s of PCM (%d bytes): ratio %.3f"
			args := []any{len(plain), float64(len(c.pcm)) / 16000, 2 * len(c.pcm), ratio}
			if ref, ok := libFLACSize(t, c.pcm); ok {
				msg += "; libFLAC -8: %d bytes, ratio %.3f"
				args = append(args, ref, float64(ref)/float64(2*len(c.pcm)))
				if float64(len(plain)) > 1.2*float64(ref) {
					t.Errorf("more than 20%% larger than libFLAC's %d bytes: %d", ref, len(plain))
				}
			}
			t.Logf(msg, args...)
			if ratio > c.maxRatio {
				t.Errorf("ratio %.3f, want at most %.2f", ratio, c.maxRatio)
			}
		})
	}
}

// libFLACSize encodes pcm with sox's libFLAC at its highest level.
func libFLACSize(t *testing.T, pcm []int16) (int, bool) {
	if _, err := exec.LookPath("sox"); err != nil {
		return 0, false
	}
	dir := t.TempDir()
	raw, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "ref.flac")
	if err := os.WriteFile(raw, le(pcm), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "sox", "-t", "raw", "-r", "16000", "-e", "signed-integer", "-b", "16", "-c", "1", "-L", raw, "-C", "8", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, msg)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Size()), true
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{1, 0}, uint16(1))
	f.Add(bytes.Repeat([]byte{0, 0x80, 0xff, 0x7f}, 3000), uint16(4095))
	f.Add(le(sine(5000, 440, 16000, 30000)), uint16(1000))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		var buf bytes.Buffer
		if err := flacenc.Encode(&buf, pcm, 16000); err != nil {
			t.Fatal(err)
		}
		d := decodeMewkiz(t, buf.Bytes())
		if !equal(d.pcm, pcm) || d.md5 != md5Of(pcm) || d.total != uint64(len(pcm)) {
			t.Fatalf("%d samples did not round-trip", len(pcm))
		}
		// Streamed in chunks of the fuzzed size, the frames are the same.
		path := filepath.Join(t.TempDir(), "f.flac")
		file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		enc, err := flacenc.NewEncoder(file, 16000)
		if err != nil {
			t.Fatal(err)
		}
		step := int(chunk) + 1
		for rest := pcm; len(rest) > 0; rest = rest[min(step, len(rest)):] {
			if err := enc.Write(rest[:min(step, len(rest))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		streamed, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(streamed[42:], buf.Bytes()[42:]) {
			t.Fatal("streaming wrote different frames")
		}
	})
}

// BenchmarkEncode reports throughput in MB/s of 16-bit PCM consumed.
func BenchmarkEncode(b *testing.B) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range []struct {
		name string
		pcm  []int16
	}{
		{"speech-like", speechLike(rng, 16000*60)},
		{"noise", noise(rng, 16000*60)},
		{"silence", make([]int16, 16000*60)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(2 * len(c.pcm)))
			var out countWriter
			for b.Loop() {
				out = 0
				if err := flacenc.Encode(&out, c.pcm, 16000); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out)/float64(2*len(c.pcm)), "ratio")
		})
	}
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

package recognize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/recognize/speechtest"
)

// wavSpec describes a WAV file built by the tests, byte by byte, as a tool
// other than ours would write it.
type wavSpec struct {
	encoding   uint16 // wavPCM, wavFloat or another code
	extensible bool
	channels   int
	rate       int
	bits       int
	frames     int
	dataSize   uint32 // 0: the true size
	// sample returns channel c of frame i in [-1, 1].
	sample func(i, c int) float64
	extra  []byte // chunks written between fmt and data
}

func (s wavSpec) bytes() []byte {
	le := binary.LittleEndian
	width := s.bits / 8
	var data []byte
	for i := range s.frames {
		for c := range s.channels {
			v := s.sample(i, c)
			switch {
			case s.encoding == wavFloat && s.bits == 32:
				data = le.AppendUint32(data, math.Float32bits(float32(v)))
			case s.encoding == wavFloat:
				data = le.AppendUint64(data, math.Float64bits(v))
			case s.bits == 8:
				data = append(data, byte(max(0, min(255, math.Round(v*128+128)))))
			default:
				full := float64(int64(1) << (s.bits - 1))
				x := int64(max(-full, min(full-1, math.Round(v*full))))
				for b := range width {
					data = append(data, byte(x>>(8*b)))
				}
			}
		}
	}
	var fmtChunk []byte
	code := s.encoding
	if s.extensible {
		code = wavExtensible
	}
	fmtChunk = le.AppendUint16(fmtChunk, code)
	fmtChunk = le.AppendUint16(fmtChunk, uint16(s.channels))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(s.rate))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(s.rate*s.channels*width))
	fmtChunk = le.AppendUint16(fmtChunk, uint16(s.channels*width))
	fmtChunk = le.AppendUint16(fmtChunk, uint16(s.bits))
	if s.extensible {
		fmtChunk = le.AppendUint16(fmtChunk, 22)
		fmtChunk = le.AppendUint16(fmtChunk, uint16(s.bits))
		fmtChunk = le.AppendUint32(fmtChunk, 0)
		fmtChunk = le.AppendUint16(fmtChunk, s.encoding)
		fmtChunk = append(fmtChunk, "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71"...)
	}
	size := s.dataSize
	if size == 0 {
		size = uint32(len(data))
	}
	var b []byte
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(4+8+len(fmtChunk)+len(s.extra)+8+len(data)))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, uint32(len(fmtChunk)))
	b = append(b, fmtChunk...)
	b = append(b, s.extra...)
	b = append(b, "data"...)
	b = le.AppendUint32(b, size)
	return append(b, data...)
}

func sineAt(freq, level float64, rate int) func(i, c int) float64 {
	return func(i, _ int) float64 { return level * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)) }
}

func TestDecodeWAVRoundTrip(t *testing.T) {
	pcm := make([]int16, 12345)
	for i := range pcm {
		pcm[i] = int16(i*7919%65536 - 32768)
	}
	var b bytes.Buffer
	if err := writeWAV(&b, pcm); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAudio(&b, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, pcm) {
		t.Fatal("16 kHz mono 16-bit WAV did not decode to the same samples")
	}
}

// Every supported encoding, channel count and rate decodes to the same
// 16 kHz signal: a 440 Hz tone, one second long.
func TestDecodeWAVFormats(t *testing.T) {
	type format struct {
		name     string
		encoding uint16
		bits     int
		ext      bool
	}
	formats := []format{
		{"u8", wavPCM, 8, false},
		{"s16", wavPCM, 16, false},
		{"s24", wavPCM, 24, false},
		{"s32", wavPCM, 32, false},
		{"f32", wavFloat, 32, false},
		{"f64", wavFloat, 64, false},
		{"s24 extensible", wavPCM, 24, true},
		{"f32 extensible", wavFloat, 32, true},
	}
	for _, f := range formats {
		for _, rate := range []int{8000, 16000, 22050, 44100, 48000} {
			for _, channels := range []int{1, 2} {
				name := f.name + "/" + strconv.Itoa(rate) + "Hz/" + strconv.Itoa(channels) + "ch"
				t.Run(name, func(t *testing.T) {
					tone := sineAt(440, 0.5, rate)
					spec := wavSpec{encoding: f.encoding, extensible: f.ext, channels: channels, rate: rate, bits: f.bits, frames: rate,
						sample: func(i, c int) float64 {
							// Stereo: 0.75 and 0.25 of the tone, which
							// average to 0.5 of it.
							if channels == 2 {
								return tone(i, c) * []float64{1.5, 0.5}[c]
							}
							return tone(i, c)
						}}
					got, err := DecodeAudio(bytes.NewReader(spec.bytes()), time.Hour)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != SampleRate {
						t.Fatalf("one second decoded to %d samples, want %d", len(got), SampleRate)
					}
					want := sineAt(440, 0.5, SampleRate)
					// Box filtering and linear interpolation shift and
					// smooth the tone a little; 8 bits add noise.
					if e := rmsError(got, want); e > 0.03 {
						t.Errorf("decoded tone differs from the original by %.3f RMS (full scale 1)", e)
					}
				})
			}
		}
	}
}

func rmsError(got []int16, want func(i, c int) float64) float64 {
	var sum float64
	for i, v := range got {
		d := float64(v)/32768 - want(i, 0)
		sum += d * d
	}
	return math.Sqrt(sum / float64(len(got)))
}

func TestDecodeWAVSkipsChunksAndReadsStreamedSize(t *testing.T) {
	// A LIST chunk of odd size (padded) before the data, and the data size
	// left at 0xFFFFFFFF as tools writing to a pipe do.
	list := append([]byte("LIST\x05\x00\x00\x00"), "INFOa\x00"...)
	spec := wavSpec{encoding: wavPCM, channels: 1, rate: SampleRate, bits: 16, frames: 800,
		sample: sineAt(1000, 0.25, SampleRate), extra: list, dataSize: math.MaxUint32}
	got, err := DecodeAudio(bytes.NewReader(spec.bytes()), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 800 {
		t.Fatalf("decoded %d samples, want 800", len(got))
	}
	if e := rmsError(got, sineAt(1000, 0.25, SampleRate)); e > 0.001 {
		t.Errorf("samples differ by %.4f RMS", e)
	}
}

func TestDecodeAudioErrors(t *testing.T) {
	good := wavSpec{encoding: wavPCM, channels: 1, rate: SampleRate, bits: 16, frames: 100, sample: sineAt(500, 0.5, SampleRate)}
	goodBytes := good.bytes()
	with := func(f func(*wavSpec)) []byte {
		s := good
		f(&s)
		return s.bytes()
	}
	patch := func(b []byte, off int, v string) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"text", []byte("hello, this is not audio"), "not a WAV or FLAC file"},
		{"mp3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "not a WAV or FLAC file"},
		{"riff but not wave", patch(goodBytes, 8, "AVI "), `not WAVE`},
		{"rifx", patch(goodBytes, 0, "RIFX"), "big-endian"},
		{"header cut", goodBytes[:20], "truncated WAV"},
		{"data cut", goodBytes[:len(goodBytes)-52], "truncated WAV: data chunk declares 200 bytes but the file holds 148"},
		{"data cut inside a sample", goodBytes[:len(goodBytes)-1], "truncated WAV"},
		{"no data chunk", goodBytes[:36], "no data chunk"},
		{"data before fmt", append([]byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00"), 0, 0), "before its fmt chunk"},
		{"adpcm", with(func(s *wavSpec) { s.encoding = 0x11 }), "encoding 0x11 is not supported"},
		{"12-bit", patch(goodBytes, 34, "\x0c\x00"), "12-bit PCM"},
		{"no channels", patch(goodBytes, 22, "\x00\x00"), "0 channels"},
		{"rate 500", patch(goodBytes, 24, "\xf4\x01\x00\x00"), "sample rate 500 Hz"},
		{"block size", patch(goodBytes, 32, "\x04\x00"), "block size 4"},
		{"odd data size", patch(goodBytes, 40, "\x03\x00\x00\x00"), "not a whole number"},
		{"huge fmt", patch(goodBytes, 16, "\x00\x00\x01\x00"), "fmt chunk of 65536 bytes"},
		{"huge chunk claim", append(bytes.Clone(goodBytes[:36]), "LIST\xff\xff\xff\x7f"...), "truncated WAV"},
		{"flac header only", []byte("fLaC"), "FLAC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeAudio(bytes.NewReader(tc.in), time.Hour)
			if !errors.Is(err, ErrAudioFormat) {
				t.Fatalf("got %v, want an ErrAudioFormat error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// A failing reader is the reader's fault, not the file's.
func TestDecodeAudioReaderError(t *testing.T) {
	spec := wavSpec{encoding: wavPCM, channels: 1, rate: SampleRate, bits: 16, frames: 100000, sample: sineAt(500, 0.5, SampleRate)}
	b := spec.bytes()
	boom := errors.New("connection reset")
	for _, at := range []int{2, 30, 70000} {
		r := io.MultiReader(bytes.NewReader(b[:at]), errReader{boom})
		_, err := DecodeAudio(r, time.Hour)
		if !errors.Is(err, boom) || errors.Is(err, ErrAudioFormat) {
			t.Errorf("reader failing after %d bytes: got %v, want the reader's error and not ErrAudioFormat", at, err)
		}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Files written by sox, a real tool, in several encodings and as FLAC, all
// decode to the audio sox itself makes at 16 kHz mono.
func TestDecodeSoxFiles(t *testing.T) {
	pcm, _ := speechtest.Build(t, 300*time.Millisecond, []string{"Decoding test"}, nil, 300*time.Millisecond)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.wav")
	var b bytes.Buffer
	if err := writeWAV(&b, pcm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	variants := []struct {
		name string
		args []string
	}{
		{"flac 16-bit 16k mono", []string{"-t", "flac"}},
		{"flac 24-bit 48k stereo", []string{"-t", "flac", "-b", "24", "-r", "48000", "-c", "2"}},
		{"wav 24-bit 44.1k stereo", []string{"-t", "wav", "-b", "24", "-r", "44100", "-c", "2"}},
		{"wav float 22.05k", []string{"-t", "wav", "-e", "floating-point", "-b", "32", "-r", "22050"}},
		{"wav u8 8k", []string{"-t", "wav", "-e", "unsigned-integer", "-b", "8", "-r", "8000"}},
	}
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			out := filepath.Join(dir, "v"+strconv.Itoa(i))
			args := append([]string{"-D", src}, v.args...)
			cmd := exec.CommandContext(t.Context(), "sox", append(args, out)...)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sox: %v\n%s", err, msg)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := DecodeAudio(f, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if d := len(got) - len(pcm); d < -1 || d > 1 {
				t.Fatalf("decoded %d samples, source has %d", len(got), len(pcm))
			}
			// Rate changes filter differently in sox and here, and 8 kHz
			// loses everything above 4 kHz; the speech must still line up.
			if c := correlation(got, pcm); c < 0.8 {
				t.Errorf("correlation with the source %.3f, want ≥ 0.8", c)
			}
		})
	}
}

func correlation(a, b []int16) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := range n {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	return ab / math.Sqrt(aa*bb)
}

func TestDecodeFLACTruncated(t *testing.T) {
	speechtest.Require(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "tone.flac")
	cmd := exec.CommandContext(t.Context(), "sox", "-n", "-r", "16000", "-b", "16", "-c", "1", out, "synth", "2", "sine", "440")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := DecodeAudio(bytes.NewReader(b), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 32000 {
		t.Fatalf("2 s of FLAC decoded to %d samples", len(whole))
	}
	_, err = DecodeAudio(bytes.NewReader(b[:len(b)*2/3]), time.Hour)
	if !errors.Is(err, ErrAudioFormat) || !strings.Contains(err.Error(), "FLAC") {
		t.Errorf("truncated FLAC: got %v, want an ErrAudioFormat error naming FLAC", err)
	}
}

// Resampling keeps exact time: a long file at an odd rate comes out exactly
// as long at 16 kHz.
func TestResamplerLength(t *testing.T) {
	for _, rate := range []int{8000, 11025, 22050, 44100, 48000, 96000} {
		rs := newResampler(rate)
		chunk := make([]float64, 4099)
		n := 0
		const secs = 31
		for n+len(chunk) <= secs*rate {
			rs.push(chunk)
			n += len(chunk)
		}
		rs.push(make([]float64, secs*rate-n))
		if got := len(rs.finish()); got != secs*SampleRate {
			t.Errorf("%d s at %d Hz became %d samples, want %d", secs, rate, got, secs*SampleRate)
		}
	}
}

func FuzzDecodeAudio(f *testing.F) {
	f.Add(wavSpec{encoding: wavPCM, channels: 2, rate: 44100, bits: 24, frames: 50, sample: sineAt(500, 0.5, 44100)}.bytes())
	f.Add(wavSpec{encoding: wavFloat, extensible: true, channels: 1, rate: 8000, bits: 32, frames: 50, sample: sineAt(500, 0.5, 8000)}.bytes())
	f.Add([]byte("fLaC\x80\x00\x00\x22\x10\x00\x10\x00\x00\x00\x00\x00\x00\x00\x03\xe8\x00\xf0\x00\x00\x00\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := DecodeAudio(bytes.NewReader(b), time.Minute)
		if err != nil && !errors.Is(err, ErrAudioFormat) {
			t.Fatalf("error from an in-memory file is not ErrAudioFormat: %v", err)
		}
		if len(pcm) > 60*SampleRate {
			t.Fatalf("decoded %d samples, over the one-minute limit", len(pcm))
		}
	})
}

// A tiny FLAC file of constant frames would decode to hours; the limit
// stops it.
func TestDecodeAudioLimit(t *testing.T) {
	spec := wavSpec{encoding: wavPCM, channels: 1, rate: 8000, bits: 8, frames: 8000 * 3, sample: sineAt(500, 0.5, 8000)}
	_, err := DecodeAudio(bytes.NewReader(spec.bytes()), 2*time.Second)
	if !errors.Is(err, ErrAudioFormat) || !strings.Contains(err.Error(), "longer than 2s") {
		t.Errorf("3 s of audio with a 2 s limit: got %v", err)
	}
	speechtest.Require(t)
	out := filepath.Join(t.TempDir(), "silence.flac")
	cmd := exec.CommandContext(t.Context(), "sox", "-n", "-r", "16000", "-b", "16", "-c", "1", out, "trim", "0", "100")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeAudio(bytes.NewReader(b), 10*time.Second)
	if !errors.Is(err, ErrAudioFormat) || !strings.Contains(err.Error(), "longer than 10s") {
		t.Errorf("%d bytes of FLAC holding 100 s, 10 s limit: got %v", len(b), err)
	}
}

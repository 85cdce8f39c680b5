package importer_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/importer"
	"github.com/nextvisit/scribe/audio/journal"
)

// sox makes a WAV file of a 440 Hz tone at -6 dBFS, lasting secs, in the
// given output format. The fixtures come from an encoder other than our own
// code, so decoder and test cannot agree by accident. scripts/deps.sh
// installs sox; CI must have it.
func sox(t *testing.T, rate, chans int, secs string, format ...string) string {
	t.Helper()
	if _, err := exec.LookPath("sox"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sox is not installed (scripts/deps.sh test installs it)")
		}
		t.Skip("sox is not installed; run scripts/deps.sh test")
	}
	path := filepath.Join(t.TempDir(), "tone.wav")
	args := append([]string{"-V1", "-n", "-r", strconv.Itoa(rate), "-c", strconv.Itoa(chans)}, format...)
	args = append(args, path, "synth", secs, "sine", "440", "gain", "-6")
	if out, err := exec.Command("sox", args...).CombinedOutput(); err != nil {
		t.Fatalf("sox %v: %v\n%s", args, err, out)
	}
	return path
}

// readJournal returns the whole journal at dir as float samples.
func readJournal(t *testing.T, dir string) []float64 {
	t.Helper()
	r, err := journal.OpenReader(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pcm := make([]int16, r.Samples())
	n, err := r.ReadAt(pcm, 0)
	if n != len(pcm) {
		t.Fatalf("read %d of %d journal samples: %v", n, len(pcm), err)
	}
	out := make([]float64, n)
	for i, v := range pcm {
		out[i] = float64(v) / 32768
	}
	return out
}

// toneLevel returns the frequency (from rising zero crossings) and the
// least-squares amplitude at 440 Hz of y, a 16 kHz signal.
func toneLevel(y []float64) (freq, amp float64) {
	first, last, count := -1.0, -1.0, 0
	for i := 1; i < len(y); i++ {
		if y[i-1] < 0 && y[i] >= 0 {
			at := float64(i-1) + -y[i-1]/(y[i]-y[i-1])
			if first < 0 {
				first = at
			}
			last, count = at, count+1
		}
	}
	if count > 1 {
		freq = float64(count-1) * 16000 / (last - first)
	}
	var ss, cc, sc, ys, yc float64
	for i, v := range y {
		s, c := math.Sincos(2 * math.Pi * 440 * float64(i) / 16000)
		ss, cc, sc, ys, yc = ss+s*s, cc+c*c, sc+s*c, ys+v*s, yc+v*c
	}
	det := ss*cc - sc*sc
	return freq, math.Hypot((ys*cc-yc*sc)/det, (yc*ss-ys*sc)/det)
}

// checkTone imports path and checks what comes out: the Info, the exact
// journal length, and a 440 Hz tone at -6 dBFS (±0.5 dB).
func checkTone(t *testing.T, path, format string, rate, chans int, dur time.Duration, durTol time.Duration) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "enc")
	info, m, err := importer.Import(t.Context(), path, dir, "enc-1", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != format || info.SampleRate != rate || info.Channels != chans {
		t.Errorf("info %+v, want %s at %d Hz, %d channels", info, format, rate, chans)
	}
	if d := info.Duration - dur; d < -durTol || d > durTol {
		t.Errorf("duration %v, want %v ± %v", info.Duration, dur, durTol)
	}
	frames := int64(info.Duration * time.Duration(rate) / time.Second)
	if want := (frames*16000 + int64(rate) - 1) / int64(rate); m.Samples < want-1 || m.Samples > want+1 {
		t.Errorf("journal holds %d samples, want %d", m.Samples, want)
	}
	if !m.Closed || m.ID != "enc-1" {
		t.Errorf("manifest closed=%v id=%q, want a closed journal enc-1", m.Closed, m.ID)
	}
	y := readJournal(t, dir)
	if int64(len(y)) != m.Samples {
		t.Fatalf("reader gives %d samples, manifest says %d", len(y), m.Samples)
	}
	mid := y[len(y)/10 : len(y)-len(y)/10]
	freq, amp := toneLevel(mid)
	if math.Abs(freq-440) > 0.5 {
		t.Errorf("tone at %.2f Hz, want 440", freq)
	}
	if g := 20 * math.Log10(amp/0.5012); math.Abs(g) > 0.5 {
		t.Errorf("tone level %.2f dB off -6 dBFS", g)
	}
}

func TestImportWAV(t *testing.T) {
	cases := []struct {
		name        string
		rate, chans int
		format      []string
	}{
		{"16-bit stereo 44.1 kHz", 44100, 2, []string{"-b", "16"}},
		{"8-bit mono 8 kHz", 8000, 1, []string{"-b", "8", "-e", "unsigned-integer"}},
		{"24-bit mono 48 kHz (extensible)", 48000, 1, []string{"-b", "24"}},
		{"24-bit stereo 32 kHz (plain PCM)", 32000, 2, []string{"-b", "24", "-t", "wavpcm"}},
		{"32-bit int stereo 22.05 kHz", 22050, 2, []string{"-b", "32", "-e", "signed-integer"}},
		{"32-bit float stereo 48 kHz", 48000, 2, []string{"-b", "32", "-e", "floating-point"}},
		{"32-bit float 3 channels (extensible)", 44100, 3, []string{"-b", "32", "-e", "floating-point"}},
		{"16-bit mono 16 kHz", 16000, 1, []string{"-b", "16"}},
		{"16-bit mono 96 kHz", 96000, 1, []string{"-b", "16"}},
		{"16-bit mono 11.025 kHz", 11025, 1, []string{"-b", "16"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := sox(t, c.rate, c.chans, "3", c.format...)
			checkTone(t, path, "wav", c.rate, c.chans, 3*time.Second, time.Millisecond)
		})
	}
}

// chunk builds a RIFF chunk.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// splitWAV cuts a WAV made by sox into its fmt chunk and its data chunk
// (other chunks dropped), so tests can rebuild it with extra chunks.
func splitWAV(t *testing.T, b []byte) (fmtChunk, data []byte) {
	t.Helper()
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		switch id {
		case "fmt ":
			fmtChunk = b[off : off+8+size]
		case "data":
			data = b[off : off+8+size]
		}
		off += 8 + size + size%2
	}
	if fmtChunk == nil || data == nil {
		t.Fatal("sox made a WAV without fmt or data")
	}
	return fmtChunk, data
}

func riff(parts ...[]byte) []byte {
	body := append([]byte("WAVE"), bytes.Join(parts, nil)...)
	return chunk("RIFF", body)
}

func write(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportWAVExtraChunks: metadata chunks before fmt, between fmt and
// data, and after the data, with odd sizes (padding), are skipped.
func TestImportWAVExtraChunks(t *testing.T) {
	src, err := os.ReadFile(sox(t, 44100, 2, "2", "-b", "16"))
	if err != nil {
		t.Fatal(err)
	}
	fmtC, data := splitWAV(t, src)
	info := append([]byte("INFO"), chunk("ICMT", []byte("Follow-up visit."))...) // odd: 16+1 → padded
	info = append(info, chunk("ISFT", []byte("Recorder 1.0"))...)
	path := write(t, "meta.wav", riff(
		chunk("JUNK", make([]byte, 27)),
		chunk("bext", bytes.Repeat([]byte{'x'}, 601)),
		fmtC,
		chunk("LIST", info),
		chunk("fact", []byte{0x44, 0xAC, 0, 0}),
		data,
		chunk("LIST", info),
		chunk("id3 ", []byte("ID3 tail")),
	))
	checkTone(t, path, "wav", 44100, 2, 2*time.Second, time.Millisecond)
}

// importErr imports path and checks it fails with the sentinel, the error
// names the file, and no journal folder is left behind.
func importErr(t *testing.T, path string, want error, mention string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "enc")
	_, _, err := importer.Import(t.Context(), path, dir, "enc-1", journal.Options{})
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Errorf("error %q does not say %q", err, mention)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal folder left behind after a failed import (stat: %v)", err)
	}
	t.Logf("%v", err)
}

func TestImportBadWAV(t *testing.T) {
	src, err := os.ReadFile(sox(t, 22050, 1, "1", "-b", "16"))
	if err != nil {
		t.Fatal(err)
	}
	fmtC, data := splitWAV(t, src)
	good := riff(fmtC, data)
	patch := func(b []byte, off int, v uint16) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint16(b[off:], v)
		return b
	}
	hugeList := riff(fmtC, []byte("LIST\xf0\xff\xff\x7fINFOxxxx"))
	cases := []struct {
		name    string
		b       []byte
		want    error
		mention string
	}{
		{"empty file", nil, importer.ErrEmpty, "no data"},
		{"no samples", riff(fmtC, chunk("data", nil)), importer.ErrEmpty, "no audio samples"},
		{"cut in half", good[:len(good)/2], importer.ErrTruncated, "ends after"},
		{"cut inside the header", good[:30], importer.ErrTruncated, ""},
		{"RIFF only", good[:8], importer.ErrTruncated, ""},
		{"size 0 but data follows", append(riff(fmtC, chunk("data", nil)), data[8:]...), importer.ErrTruncated, "stopped before finishing"},
		{"4 GB LIST claim", hugeList, importer.ErrTruncated, "LIST"},
		{"no fmt chunk", riff(data), importer.ErrCorrupt, "before its format"},
		{"zero channels", patch(good, 12+8+2, 0), importer.ErrCorrupt, "no channels"},
		{"zero block align", patch(good, 12+8+12, 0), importer.ErrCorrupt, ""},
		{"zero rate", patch(patch(good, 12+8+4, 0), 12+8+6, 0), importer.ErrCorrupt, "0 Hz"},
		{"a PDF renamed .wav", []byte("%PDF-1.7\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"), importer.ErrUnsupported, "PDF"},
		{"text", []byte("hello, this is not audio at all\n"), importer.ErrUnsupported, "not a WAV or MP3"},
		{"FLAC", append([]byte("fLaC"), make([]byte, 40)...), importer.ErrUnsupported, "FLAC"},
		{"AVI", append([]byte("RIFF\x10\x00\x00\x00AVI LIST"), make([]byte, 8)...), importer.ErrUnsupported, "not WAVE"},
		{"RF64", append([]byte("RF64\xff\xff\xff\xffWAVE"), make([]byte, 40)...), importer.ErrUnsupported, "RF64"},
		{"unknown encoding", patch(good, 12+8, 0x1234), importer.ErrUnsupported, "0x1234"},
		{"40-bit integer", patch(patch(good, 12+8+12, 5), 12+8+14, 40), importer.ErrUnsupported, "40-bit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			importErr(t, write(t, "bad.wav", c.b), c.want, c.mention)
		})
	}

	encodings := []struct {
		name, mention string
		format        []string
	}{
		{"A-law", "A-law", []string{"-e", "a-law"}},
		{"µ-law", "µ-law", []string{"-e", "u-law"}},
		{"64-bit float", "64-bit floating-point", []string{"-e", "floating-point", "-b", "64"}},
		{"IMA ADPCM", "IMA ADPCM", []string{"-e", "ima-adpcm"}},
		{"GSM", "GSM", []string{"-e", "gsm-full-rate"}},
	}
	for _, c := range encodings {
		t.Run(c.name, func(t *testing.T) {
			importErr(t, sox(t, 8000, 1, "0.5", c.format...), importer.ErrUnsupported, c.mention)
		})
	}
}

func TestImportMP3(t *testing.T) {
	cases := []struct {
		file        string
		rate, chans int
	}{
		{"tone-44k-stereo-vbr.mp3", 44100, 2},
		{"tone-48k-stereo-cbr.mp3", 48000, 2},
		{"tone-32k-mono-abr.mp3", 32000, 1},
		{"tone-22k-mono-cbr64.mp3", 22050, 1},
		{"tone-16k-mono-vbr.mp3", 16000, 1},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			// An MP3 is 2 s plus the encoder's and decoder's delay and
			// padding (up to a few frames).
			checkTone(t, filepath.Join("testdata", c.file), "mp3", c.rate, c.chans, 2*time.Second+80*time.Millisecond, 80*time.Millisecond)
		})
	}
}

func TestImportBadMP3(t *testing.T) {
	vbr, err := os.ReadFile("testdata/tone-44k-stereo-vbr.mp3")
	if err != nil {
		t.Fatal(err)
	}
	cbr, err := os.ReadFile("testdata/tone-48k-stereo-cbr.mp3")
	if err != nil {
		t.Fatal(err)
	}
	id3 := func(size int) []byte { // an ID3v2.4 tag with size bytes of body
		return append([]byte{'I', 'D', '3', 4, 0, 0, byte(size >> 21 & 0x7F), byte(size >> 14 & 0x7F), byte(size >> 7 & 0x7F), byte(size & 0x7F)}, make([]byte, size)...)
	}
	mp2 := bytes.Repeat([]byte{0xFF, 0xFD, 0x90, 0x04}, 200) // MPEG-1 Layer II, 128 kbps, 44.1 kHz
	garbage := bytes.Clone(cbr)
	for i := len(garbage) / 3; i < len(garbage); i += 7 {
		garbage[i] ^= 0x5A
	}
	cases := []struct {
		name    string
		b       []byte
		want    error
		mention string
	}{
		{"VBR cut in half", vbr[:len(vbr)/2], importer.ErrTruncated, "should hold"},
		{"only an ID3 tag", id3(300), importer.ErrEmpty, "only tags"},
		{"ID3 tag longer than the file", id3(300)[:100], importer.ErrTruncated, "ID3"},
		{"ID3 tag then junk", append(id3(20), bytes.Repeat([]byte("not an mp3 "), 50)...), importer.ErrCorrupt, "no MP3 audio frames"},
		{"MPEG Layer II", mp2, importer.ErrUnsupported, "Layer II"},
		{"MPEG-2.5 8 kHz", mustRead(t, "testdata/tone-8k-mono.mp3"), importer.ErrUnsupported, "MPEG-2.5"},
		{"22.05 kHz frames go-mp3 misreads", mustRead(t, "testdata/tone-22k-mono-cbr32.mp3"), importer.ErrUnsupported, "misreads"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			importErr(t, write(t, "bad.mp3", c.b), c.want, c.mention)
		})
	}
	// Damage in the middle of a stream: the decoder either reports it or
	// resynchronises on the next good frame; it must not panic or leave a
	// half-written journal behind on error.
	t.Run("damaged stream", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "enc")
		_, _, err := importer.Import(t.Context(), write(t, "bad.mp3", garbage), dir, "enc-1", journal.Options{})
		if err != nil {
			if !errors.Is(err, importer.ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
			if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
				t.Error("journal left behind")
			}
		}
		t.Logf("damaged stream: %v", err)
	})
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportContentNotName: the format comes from the contents, so an MP3
// named .wav imports as MP3.
func TestImportContentNotName(t *testing.T) {
	b, err := os.ReadFile("testdata/tone-22k-mono-cbr64.mp3")
	if err != nil {
		t.Fatal(err)
	}
	checkTone(t, write(t, "mislabelled.wav", b), "mp3", 22050, 1, 2*time.Second+80*time.Millisecond, 80*time.Millisecond)
}

func TestImportCancel(t *testing.T) {
	path := sox(t, 48000, 2, "60", "-b", "16")
	dir := filepath.Join(t.TempDir(), "enc")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	_, _, err := importer.ImportProgress(ctx, path, dir, "enc-1", journal.Options{}, func(done, total int64) {
		calls++
		if done <= 0 || done > total {
			t.Errorf("progress %d of %d", done, total)
		}
		if calls == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if calls != 3 {
		t.Errorf("%d progress calls after cancelling at the third", calls)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal folder left behind after cancellation (stat: %v)", err)
	}
}

func TestImportProgress(t *testing.T) {
	path := sox(t, 44100, 2, "5", "-b", "16")
	var last, total int64
	_, _, err := importer.ImportProgress(t.Context(), path, filepath.Join(t.TempDir(), "enc"), "enc-1", journal.Options{},
		func(d, tt int64) {
			if d < last {
				t.Errorf("progress went back from %d to %d", last, d)
			}
			last, total = d, tt
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(5 * 44100 * 4); last != want || total != want {
		t.Errorf("final progress %d of %d, want %d of %d", last, total, want, want)
	}
}

// TestImportExistingDir: a journal folder that already exists is refused
// and left exactly as it was.
func TestImportExistingDir(t *testing.T) {
	path := sox(t, 16000, 1, "1", "-b", "16")
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := importer.Import(t.Context(), path, dir, "enc-1", journal.Options{}); err == nil {
		t.Fatal("import into an existing folder succeeded")
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Fatalf("existing folder disturbed: %v", err)
	}
}

func TestImportMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.wav")
	_, _, err := importer.Import(t.Context(), path, filepath.Join(t.TempDir(), "enc"), "enc-1", journal.Options{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming the missing file", err)
	}
	_, _, err = importer.Import(t.Context(), t.TempDir(), filepath.Join(t.TempDir(), "enc"), "enc-1", journal.Options{})
	if !errors.Is(err, importer.ErrUnsupported) {
		t.Fatalf("importing a folder: %v, want ErrUnsupported", err)
	}
}

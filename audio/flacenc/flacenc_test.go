package flacenc_test

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mewkiz/flac"

	"github.com/nextvisit/scribe/audio/flacenc"
)

// decoded is what mewkiz/flac, an independent decoder, reads back.
type decoded struct {
	pcm                    []int16
	rate                   uint32
	total                  uint64
	md5                    [md5.Size]byte
	minBlock, maxBlock     uint16
	minFrame, maxFrame     uint32
	frameRates, blockSizes []int
}

func decodeMewkiz(t testing.TB, data []byte) decoded {
	t.Helper()
	stream, err := flac.New(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("mewkiz/flac: parse header: %v", err)
	}
	info := stream.Info
	if info.NChannels != 1 || info.BitsPerSample != 16 {
		t.Fatalf("STREAMINFO says %d channels of %d bits, want 1 of 16", info.NChannels, info.BitsPerSample)
	}
	d := decoded{
		rate: info.SampleRate, total: info.NSamples, md5: info.MD5sum,
		minBlock: info.BlockSizeMin, maxBlock: info.BlockSizeMax,
		minFrame: info.FrameSizeMin, maxFrame: info.FrameSizeMax,
		pcm: []int16{},
	}
	for {
		fr, err := stream.ParseNext() // verifies each frame's CRC-8 and CRC-16
		if errors.Is(err, io.EOF) {
			return d
		}
		if err != nil {
			t.Fatalf("mewkiz/flac: frame %d: %v", len(d.blockSizes), err)
		}
		if len(fr.Subframes) != 1 {
			t.Fatalf("frame with %d subframes, want 1", len(fr.Subframes))
		}
		if fr.Num != uint64(len(d.blockSizes)) {
			t.Fatalf("frame number %d, want %d", fr.Num, len(d.blockSizes))
		}
		for _, v := range fr.Subframes[0].Samples {
			d.pcm = append(d.pcm, int16(v))
		}
		d.blockSizes = append(d.blockSizes, int(fr.BlockSize))
		d.frameRates = append(d.frameRates, int(fr.SampleRate))
	}
}

func md5Of(pcm []int16) [md5.Size]byte {
	b := make([]byte, 0, 2*len(pcm))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return md5.Sum(b)
}

// encodeBoth encodes pcm with Encode and with the streaming Encoder (fed in
// random chunk sizes), checks that both carry the same frames and decode to
// pcm exactly, and returns Encode's bytes and the Encoder's.
func encodeBoth(t testing.TB, pcm []int16, rate int, rng *rand.Rand) (plain, streamed []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := flacenc.Encode(&buf, pcm, rate); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	plain = buf.Bytes()

	path := filepath.Join(t.TempDir(), "gap.flac")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := flacenc.NewEncoder(f, rate)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	for rest := pcm; len(rest) > 0; {
		n := min(len(rest), rng.IntN(3*flacenc.BlockSize))
		if err := enc.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if streamed, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}

	for name, data := range map[string][]byte{"Encode": plain, "Encoder": streamed} {
		d := decodeMewkiz(t, data)
		if !equal(d.pcm, pcm) {
			t.Fatalf("%s: decoded samples differ from the input (%d samples in, %d out)", name, len(pcm), len(d.pcm))
		}
		want := md5Of(pcm)
		if d.md5 != want || md5Of(d.pcm) != want {
			t.Fatalf("%s: STREAMINFO MD5 %x, input's %x, decoded's %x", name, d.md5, want, md5Of(d.pcm))
		}
		if d.total != uint64(len(pcm)) || d.rate != uint32(rate) {
			t.Fatalf("%s: STREAMINFO says %d samples at %d Hz, want %d at %d", name, d.total, d.rate, len(pcm), rate)
		}
		if d.minBlock != flacenc.BlockSize || d.maxBlock != flacenc.BlockSize {
			t.Fatalf("%s: STREAMINFO block sizes %d–%d, want %d", name, d.minBlock, d.maxBlock, flacenc.BlockSize)
		}
		for i, n := range d.blockSizes {
			if i < len(d.blockSizes)-1 && n != flacenc.BlockSize || n > flacenc.BlockSize {
				t.Fatalf("%s: frame %d of %d holds %d samples", name, i, len(d.blockSizes), n)
			}
		}
	}
	// The same frames follow the 42-byte header either way.
	if len(plain) < 42 || !bytes.Equal(plain[42:], streamed[42:]) {
		t.Fatalf("Encode and Encoder wrote different frames (%d and %d bytes)", len(plain), len(streamed))
	}
	d := decodeMewkiz(t, streamed)
	switch {
	case len(pcm) == 0 && (d.minFrame != 0 || d.maxFrame != 0):
		t.Fatalf("no frames, but STREAMINFO frame sizes %d–%d", d.minFrame, d.maxFrame)
	case len(pcm) > 0 && (d.minFrame == 0 || d.minFrame > d.maxFrame || int(d.maxFrame) > len(streamed)-42):
		t.Fatalf("STREAMINFO frame sizes %d–%d in a %d-byte file", d.minFrame, d.maxFrame, len(streamed))
	case len(d.blockSizes) == 1 && (d.minFrame != d.maxFrame || int(d.minFrame) != len(streamed)-42):
		t.Fatalf("one frame of %d bytes, but STREAMINFO frame sizes %d–%d", len(streamed)-42, d.minFrame, d.maxFrame)
	}
	if plainInfo := decodeMewkiz(t, plain); plainInfo.minFrame != 0 || plainInfo.maxFrame != 0 {
		t.Fatalf("Encode cannot know frame sizes, yet STREAMINFO says %d–%d", plainInfo.minFrame, plainInfo.maxFrame)
	}
	return plain, streamed
}

func equal(a, b []int16) bool {
	return len(a) == len(b) && (len(a) == 0 || bytes.Equal(le(a), le(b)))
}

func le(pcm []int16) []byte {
	b := make([]byte, 0, 2*len(pcm))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// Signals.

func noise(rng *rand.Rand, n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(rng.Uint32())
	}
	return pcm
}

func sine(n int, hz, rate, amp float64) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(math.Round(amp * math.Sin(2*math.Pi*hz*float64(i)/rate)))
	}
	return pcm
}

// speechLike is voiced sound (a glottal pulse train at a wandering pitch
// through two formant resonators) in syllables of about 200 ms, with pauses,
// over a microphone's faint noise floor.
func speechLike(rng *rand.Rand, n int) []int16 {
	const rate = 16000
	pcm := make([]int16, n)
	type resonator struct{ a1, a2, y1, y2 float64 }
	mk := func(hz, bw float64) resonator {
		r := math.Exp(-math.Pi * bw / rate)
		return resonator{a1: 2 * r * math.Cos(2*math.Pi*hz/rate), a2: -r * r}
	}
	f1, f2 := mk(700, 130), mk(1200, 70)
	phase := 0.0
	for i := range pcm {
		t := float64(i) / rate
		pitch := 120 + 30*math.Sin(2*math.Pi*0.7*t)
		phase += pitch / rate
		var src float64
		if phase >= 1 {
			phase--
			src = 1
		}
		syllable := math.Max(0, math.Sin(2*math.Pi*2.5*t))
		if math.Mod(t, 3) > 2.2 { // a pause every 3 s
			syllable = 0
		}
		src *= syllable
		y := src + f1.a1*f1.y1 + f1.a2*f1.y2
		f1.y2, f1.y1 = f1.y1, y
		z := y + f2.a1*f2.y1 + f2.a2*f2.y2
		f2.y2, f2.y1 = f2.y1, z
		pcm[i] = int16(max(-32768, min(32767, math.Round(300*z+rng.NormFloat64()*8))))
	}
	return pcm
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alternating := make([]int16, 3*flacenc.BlockSize)
	for i := range alternating {
		alternating[i] = [2]int16{math.MinInt16, math.MaxInt16}[i%2]
	}
	ramp := make([]int16, 70000)
	for i := range ramp {
		ramp[i] = int16(i)
	}
	cases := []struct {
		name string
		pcm  []int16
	}{
		{"empty", nil},
		{"silence 10 s", make([]int16, 160000)},
		{"full-scale noise", noise(rng, 5*flacenc.BlockSize+123)},
		{"full-scale alternating extremes", alternating},
		{"sine 440 Hz", sine(100000, 440, 16000, 20000)},
		{"full-scale sine 3 kHz", sine(50000, 3000, 16000, 32767)},
		{"speech-like 20 s", speechLike(rng, 320000)},
		{"wrapping ramp", ramp},
	}
	for _, n := range []int{1, 2, 3, 4, 5, 17, 255, 256, 257, flacenc.BlockSize - 1, flacenc.BlockSize, flacenc.BlockSize + 1, 2*flacenc.BlockSize - 1, 3*flacenc.BlockSize + 17} {
		cases = append(cases, struct {
			name string
			pcm  []int16
		}{"noise of " + strconv.Itoa(n), noise(rng, n)}, struct {
			name string
			pcm  []int16
		}{"speech-like of " + strconv.Itoa(n), speechLike(rng, n)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plain, _ := encodeBoth(t, c.pcm, 16000, rand.New(rand.NewPCG(uint64(len(c.pcm)), 3)))
			// No block may grow past verbatim: 16 bits a sample plus
			// at most 21 bytes of frame and subframe header.
			blocks := (len(c.pcm) + flacenc.BlockSize - 1) / flacenc.BlockSize
			if limit := 42 + 2*len(c.pcm) + 21*blocks; len(plain) > limit {
				t.Errorf("%d samples took %d bytes, more than verbatim's %d", len(c.pcm), len(plain), limit)
			}
		})
	}
}

func TestSilenceIsTiny(t *testing.T) {
	pcm := make([]int16, 16000*60)
	for i := range pcm {
		pcm[i] = -7 // a DC offset is as constant as zero
	}
	var buf bytes.Buffer
	if err := flacenc.Encode(&buf, pcm, 16000); err != nil {
		t.Fatal(err)
	}
	// Each block is a constant subframe: a header of about 9 bytes, 3 more.
	blocks := (len(pcm) + flacenc.BlockSize - 1) / flacenc.BlockSize
	if buf.Len() > 42+12*blocks {
		t.Errorf("a minute of constant samples took %d bytes, want at most %d", buf.Len(), 42+12*blocks)
	}
	if d := decodeMewkiz(t, buf.Bytes()); !equal(d.pcm, pcm) {
		t.Error("decoded samples differ")
	}
}

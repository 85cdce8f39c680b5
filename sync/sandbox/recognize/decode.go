package recognize

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/mewkiz/flac"
)

// ErrAudioFormat marks every DecodeAudio error caused by the file itself (not
// WAV or FLAC, an unsupported encoding, truncated), as opposed to a failing
// reader. An upload handler answers it with 422 and the error's text.
var ErrAudioFormat = errors.New("unsupported or malformed audio")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAudioFormat, fmt.Sprintf(format, args...))
}

// DecodeAudio reads a WAV file (PCM 8, 16, 24 or 32-bit integer, or 32 or
// 64-bit float, any number of channels, any rate) or a FLAC file and returns
// its audio as 16 kHz mono, the channels averaged and the rate converted.
// Memory grows with the audio actually read, never with sizes a header claims.
// Audio longer than maxDuration is refused: FLAC compresses silence so well
// that a small upload could otherwise decode to gigabytes. Callers bound the
// input's bytes too (http.MaxBytesReader).
func DecodeAudio(r io.Reader, maxDuration time.Duration) ([]int16, error) {
	src := &watchReader{r: r}
	d := &decoder{limit: int(maxDuration / (time.Second / SampleRate))}
	pcm, err := d.decode(bufio.NewReaderSize(src, 64<<10))
	if err != nil && src.err != nil {
		// The reader failed (a body over its limit, a dropped upload): that
		// is not the file's fault, whatever the parser made of it.
		return nil, fmt.Errorf("read audio: %w", src.err)
	}
	return pcm, err
}

// decoder carries the output limit through one decoding.
type decoder struct {
	limit int // samples at SampleRate
}

// push resamples x and checks the limit.
func (d *decoder) push(rs *resampler, x []float64) error {
	rs.push(x)
	if len(rs.out) > d.limit {
		return formatErr("audio is longer than %v: split it into shorter files", time.Duration(d.limit)*time.Second/SampleRate)
	}
	return nil
}

func (d *decoder) decode(br *bufio.Reader) ([]int16, error) {
	magic, _ := br.Peek(4)
	switch string(magic) {
	case "RIFF":
		return d.wav(br)
	case "fLaC":
		return d.flac(br)
	case "RIFX":
		return nil, formatErr("big-endian WAV (RIFX) is not supported: convert it to little-endian WAV or FLAC")
	case "RF64":
		return nil, formatErr("RF64 WAV is not supported: split the recording or convert it to FLAC")
	}
	if len(magic) < 4 {
		return nil, formatErr("file is %d bytes long: too short for WAV or FLAC", len(magic))
	}
	return nil, formatErr("not a WAV or FLAC file (starts with %q): upload PCM WAV or FLAC", magic)
}

// watchReader remembers the first error other than io.EOF its reader returns.
type watchReader struct {
	r   io.Reader
	err error
}

func (w *watchReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && w.err == nil {
		w.err = err
	}
	return n, err
}

const (
	wavPCM        = 1
	wavFloat      = 3
	wavExtensible = 0xFFFE
)

type wavFormat struct {
	encoding   uint16 // wavPCM or wavFloat
	channels   int
	rate       int
	bits       int
	blockAlign int
}

func (d *decoder) wav(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, truncated("RIFF header", err)
	}
	if string(hdr[8:12]) != "WAVE" {
		return nil, formatErr("RIFF file of type %q, not WAVE", hdr[8:12])
	}
	var f *wavFormat
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, formatErr("WAV file has no data chunk")
			}
			return nil, truncated("chunk header", err)
		}
		id, size := string(ch[:4]), binary.LittleEndian.Uint32(ch[4:])
		switch id {
		case "fmt ":
			if f != nil {
				return nil, formatErr("WAV file has two fmt chunks")
			}
			var err error
			if f, err = readWAVFormat(r, size); err != nil {
				return nil, err
			}
		case "data":
			if f == nil {
				return nil, formatErr("WAV data chunk comes before its fmt chunk")
			}
			return d.wavData(r, f, size)
		default:
			// Chunks are padded to even sizes.
			n := int64(size) + int64(size&1)
			if m, err := io.CopyN(io.Discard, r, n); err != nil {
				return nil, truncated(fmt.Sprintf("%q chunk (%d of %d bytes)", id, m, n), err)
			}
		}
	}
}

func readWAVFormat(r io.Reader, size uint32) (*wavFormat, error) {
	if size < 16 || size > 1024 {
		return nil, formatErr("WAV fmt chunk of %d bytes (want 16 to 40)", size)
	}
	b := make([]byte, int(size)+int(size&1))
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, truncated("fmt chunk", err)
	}
	f := &wavFormat{
		encoding:   binary.LittleEndian.Uint16(b[0:]),
		channels:   int(binary.LittleEndian.Uint16(b[2:])),
		rate:       int(binary.LittleEndian.Uint32(b[4:])),
		blockAlign: int(binary.LittleEndian.Uint16(b[12:])),
		bits:       int(binary.LittleEndian.Uint16(b[14:])),
	}
	if f.encoding == wavExtensible {
		if size < 26 {
			return nil, formatErr("WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes is too short", size)
		}
		// The sub-format GUID starts with the plain format code.
		f.encoding = binary.LittleEndian.Uint16(b[24:])
	}
	switch {
	case f.encoding != wavPCM && f.encoding != wavFloat:
		return nil, formatErr("WAV encoding %#x is not supported: use PCM integer or float", f.encoding)
	case f.channels < 1 || f.channels > 8:
		return nil, formatErr("WAV with %d channels: 1 to 8 are supported", f.channels)
	case f.rate < 1000 || f.rate > 384000:
		return nil, formatErr("WAV sample rate %d Hz: 1000 to 384000 are supported", f.rate)
	case f.encoding == wavPCM && f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32:
		return nil, formatErr("%d-bit PCM WAV: 8, 16, 24 or 32 bits are supported", f.bits)
	case f.encoding == wavFloat && f.bits != 32 && f.bits != 64:
		return nil, formatErr("%d-bit float WAV: 32 or 64 bits are supported", f.bits)
	case f.blockAlign != f.channels*f.bits/8:
		return nil, formatErr("WAV block size %d does not match %d channels of %d bits", f.blockAlign, f.channels, f.bits)
	}
	return f, nil
}

// wavData converts the data chunk. A size of 0xFFFFFFFF, which tools
// writing to a pipe leave behind, means "up to the end of the file".
func (d *decoder) wavData(r io.Reader, f *wavFormat, size uint32) ([]int16, error) {
	toEOF := size == math.MaxUint32
	if !toEOF && int(size)%f.blockAlign != 0 {
		return nil, formatErr("WAV data chunk of %d bytes is not a whole number of %d-byte frames", size, f.blockAlign)
	}
	if !toEOF {
		r = io.LimitReader(r, int64(size))
	}
	rs := newResampler(f.rate)
	buf := make([]byte, 64<<10/f.blockAlign*f.blockAlign)
	mono := make([]float64, len(buf)/f.blockAlign)
	var read int64
	for {
		n, err := io.ReadFull(r, buf)
		read += int64(n)
		if n%f.blockAlign != 0 {
			if toEOF {
				return nil, formatErr("WAV data ends inside a frame (%d bytes is not a whole number of %d-byte frames)", read, f.blockAlign)
			}
			return nil, formatErr("truncated WAV: data chunk declares %d bytes but the file holds %d", size, read)
		}
		frames := n / f.blockAlign
		f.toMono(buf[:n], mono[:frames])
		if err := d.push(rs, mono[:frames]); err != nil {
			return nil, err
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			if !toEOF && read < int64(size) {
				return nil, formatErr("truncated WAV: data chunk declares %d bytes but the file holds %d", size, read)
			}
			return rs.finish(), nil
		default:
			return nil, fmt.Errorf("read WAV data: %w", err)
		}
	}
}

// toMono averages each frame's channels into one value in [-1, 1].
func (f *wavFormat) toMono(b []byte, out []float64) {
	width := f.bits / 8
	scale := 1 / float64(f.channels)
	for i := range out {
		var sum float64
		for c := range f.channels {
			p := b[i*f.blockAlign+c*width:]
			sum += f.sample(p)
		}
		out[i] = sum * scale
	}
}

func (f *wavFormat) sample(p []byte) float64 {
	if f.encoding == wavFloat {
		var v float64
		if f.bits == 32 {
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(p)))
		} else {
			v = math.Float64frombits(binary.LittleEndian.Uint64(p))
		}
		if math.IsNaN(v) {
			return 0
		}
		return max(-1, min(1, v))
	}
	switch f.bits {
	case 8: // unsigned
		return (float64(p[0]) - 128) / 128
	case 16:
		return float64(int16(binary.LittleEndian.Uint16(p))) / (1 << 15)
	case 24:
		v := int32(uint32(p[0])<<8|uint32(p[1])<<16|uint32(p[2])<<24) >> 8
		return float64(v) / (1 << 23)
	default: // 32
		return float64(int32(binary.LittleEndian.Uint32(p))) / (1 << 31)
	}
}

func truncated(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr("truncated WAV: the file ends inside its %s", what)
	}
	return fmt.Errorf("read WAV %s: %w", what, err)
}

// decodeFLAC decodes a FLAC stream. The decoder is a third-party parser of
// uploaded bytes, so a panic inside it on malformed input is turned into an
// error instead of taking the server down.
func (d *decoder) flac(r io.Reader) (pcm []int16, err error) {
	defer func() {
		if p := recover(); p != nil {
			pcm, err = nil, formatErr("malformed FLAC stream (%v)", p)
		}
	}()
	stream, err := flac.New(r)
	if err != nil {
		return nil, flacErr("FLAC header", err)
	}
	info := stream.Info
	if info.SampleRate < 1000 || info.SampleRate > 384000 {
		return nil, formatErr("FLAC sample rate %d Hz: 1000 to 384000 are supported", info.SampleRate)
	}
	rs := newResampler(int(info.SampleRate))
	var mono []float64
	for {
		fr, err := stream.ParseNext()
		if errors.Is(err, io.EOF) {
			return rs.finish(), nil
		}
		if err != nil {
			return nil, flacErr("FLAC frame", err)
		}
		if len(fr.Subframes) == 0 || fr.BitsPerSample == 0 || fr.BitsPerSample > 32 {
			return nil, formatErr("malformed FLAC frame (%d channels of %d bits)", len(fr.Subframes), fr.BitsPerSample)
		}
		n := fr.Subframes[0].NSamples
		mono = mono[:0]
		scale := 1 / (float64(int64(1)<<(fr.BitsPerSample-1)) * float64(len(fr.Subframes)))
		for i := range n {
			var sum int64
			for _, sf := range fr.Subframes {
				if i >= len(sf.Samples) {
					return nil, formatErr("malformed FLAC frame: channels of different lengths")
				}
				sum += int64(sf.Samples[i])
			}
			mono = append(mono, max(-1, min(1, float64(sum)*scale)))
		}
		if err := d.push(rs, mono); err != nil {
			return nil, err
		}
	}
}

func flacErr(what string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr("truncated FLAC: the file ends inside a %s", what)
	}
	return formatErr("malformed %s: %v", what, err)
}

// writeWAV writes 16 kHz mono 16-bit PCM as a WAV file.
func writeWAV(w io.Writer, pcm []int16) error {
	le := binary.LittleEndian
	dataLen := uint32(2 * len(pcm))
	h := make([]byte, 0, 44)
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, 36+dataLen)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, wavPCM)
	h = le.AppendUint16(h, 1)
	h = le.AppendUint32(h, SampleRate)
	h = le.AppendUint32(h, 2*SampleRate)
	h = le.AppendUint16(h, 2)
	h = le.AppendUint16(h, 16)
	h = append(h, "data"...)
	h = le.AppendUint32(h, dataLen)
	if _, err := w.Write(h); err != nil {
		return err
	}
	buf := make([]byte, 0, 32<<10)
	for len(pcm) > 0 {
		n := min(len(pcm), cap(buf)/2)
		buf = buf[:0]
		for _, v := range pcm[:n] {
			buf = le.AppendUint16(buf, uint16(v))
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		pcm = pcm[n:]
	}
	return nil
}

package importer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/go-audio/wav"
)

// WAV format tags (the fmt chunk's first field, or an extensible file's
// sub-format).
const (
	tagPCM        = 0x0001
	tagADPCM      = 0x0002
	tagFloat      = 0x0003
	tagALaw       = 0x0006
	tagMuLaw      = 0x0007
	tagIMAADPCM   = 0x0011
	tagGSM        = 0x0031
	tagMPEG       = 0x0050
	tagMP3        = 0x0055
	tagExtensible = 0xFFFE
)

// maxChannels bounds the channels a WAV may have. The issue asks for mono
// and stereo; up to 8 (surround mixes, multi-microphone recorders) are
// averaged down to mono all the same.
const maxChannels = 8

// Limits of the RIFF walk. A fmt chunk is 16, 18 or 40 bytes; anything much
// larger is not a WAV header.
const maxFmtSize = 1024

// extensibleGUIDTail is bytes 2–15 of every standard KSDATAFORMAT_SUBTYPE
// GUID; bytes 0–1 carry the format tag.
var extensibleGUIDTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// openWAV walks the RIFF chunks itself, then has go-audio/wav decode the
// format. go-audio/wav is never handed the file: it trusts chunk sizes and
// allocates them whole (a 64-byte file declaring a 4 GB LIST chunk makes it
// allocate 4 GB), does not know 32-bit float or WAVE_FORMAT_EXTENSIBLE
// sub-formats, and decodes one sample per call. So it reads a minimal copy
// of the header, built from the validated fmt chunk, and the samples are
// converted here, a chunk at a time.
func openWAV(s src) (decoder, format, error) {
	fmtChunk, dataOff, dataSize, err := walkRIFF(s)
	if err != nil {
		return nil, format{}, err
	}
	if binary.LittleEndian.Uint16(fmtChunk[2:4]) == 0 {
		// go-audio/wav takes a channel count of 0 for "header not read yet".
		return nil, format{}, fail(s.name, ErrCorrupt, "its header says it has no channels", "export the recording again")
	}

	// A minimal WAV header: RIFF, the file's own fmt chunk, and the data
	// chunk's header.
	var h bytes.Buffer
	h.WriteString("RIFF")
	le32(&h, uint32(4+8+len(fmtChunk)+len(fmtChunk)%2+8))
	h.WriteString("WAVEfmt ")
	le32(&h, uint32(len(fmtChunk)))
	h.Write(fmtChunk)
	if len(fmtChunk)%2 == 1 {
		h.WriteByte(0)
	}
	h.WriteString("data")
	le32(&h, uint32(dataSize))
	d := wav.NewDecoder(bytes.NewReader(h.Bytes()))
	if err := d.FwdToPCM(); err != nil || d.PCMChunk == nil {
		return nil, format{}, fail(s.name, ErrCorrupt, "its format (fmt) chunk cannot be read", "export the recording again")
	}

	tag := d.WavAudioFormat
	chans, rate, bits := int(d.NumChans), int(d.SampleRate), int(d.BitDepth)
	blockAlign := int(binary.LittleEndian.Uint16(fmtChunk[12:14]))
	if tag == tagExtensible {
		if len(fmtChunk) < 40 {
			return nil, format{}, fail(s.name, ErrCorrupt, "its extensible format header is cut short", "export the recording again")
		}
		if !bytes.Equal(fmtChunk[26:40], extensibleGUIDTail) {
			return nil, format{}, fail(s.name, ErrUnsupported, "its audio uses a non-standard extensible WAV sub-format",
				"convert it to a 16-bit PCM WAV file")
		}
		tag = binary.LittleEndian.Uint16(fmtChunk[24:26])
	}

	switch {
	case chans > maxChannels:
		return nil, format{}, fail(s.name, ErrUnsupported, fmt.Sprintf("it has %d channels", chans),
			"mix it down to mono or stereo first")
	case rate == 0:
		return nil, format{}, fail(s.name, ErrCorrupt, "its header gives a sample rate of 0 Hz", "export the recording again")
	case blockAlign == 0 || blockAlign%chans != 0:
		return nil, format{}, fail(s.name, ErrCorrupt,
			fmt.Sprintf("its header gives %d bytes per frame for %d channel(s)", blockAlign, chans), "export the recording again")
	}
	width := blockAlign / chans
	if err := checkEncoding(s.name, tag, width, bits); err != nil {
		return nil, format{}, err
	}
	if dataSize == 0 {
		return nil, format{}, fail(s.name, ErrEmpty, "it holds no audio samples", "choose the recording itself, or export it again")
	}

	// A trailing partial frame (a writer stopped mid-frame) is dropped.
	usable := dataSize - dataSize%int64(blockAlign)
	w := &wavDecoder{
		r:     io.NewSectionReader(s.r, dataOff, usable),
		name:  s.name,
		float: tag == tagFloat,
		width: width,
		align: blockAlign,
		chans: chans,
		raw:   make([]byte, chunkFrames*blockAlign),
	}
	return w, format{name: "wav", rate: rate, chans: chans, fileChans: chans, total: usable}, nil
}

// checkEncoding accepts integer PCM of 1 to 4 bytes a sample and 32-bit
// float, and names anything else.
func checkEncoding(name string, tag uint16, width, bits int) error {
	convert := "convert it to a 16-bit PCM WAV file (for example with Audacity or sox)"
	switch tag {
	case tagPCM:
		if width > 4 {
			return fail(name, ErrUnsupported, fmt.Sprintf("it uses %d-bit integer samples", 8*width), convert)
		}
		if bits == 0 || bits > 8*width {
			return fail(name, ErrCorrupt,
				fmt.Sprintf("its header gives %d bits per sample in %d-byte samples", bits, width), "export the recording again")
		}
		return nil
	case tagFloat:
		switch width {
		case 4:
			return nil
		case 8:
			return fail(name, ErrUnsupported, "it uses 64-bit floating-point samples", convert)
		}
		return fail(name, ErrCorrupt, fmt.Sprintf("its header gives %d-byte floating-point samples", width), "export the recording again")
	}
	what := map[uint16]string{
		tagADPCM:    "Microsoft ADPCM",
		tagALaw:     "A-law",
		tagMuLaw:    "µ-law",
		tagIMAADPCM: "IMA ADPCM",
		tagGSM:      "GSM 6.10",
		tagMPEG:     "MPEG",
		tagMP3:      "MP3",
	}[tag]
	if what == "" {
		what = fmt.Sprintf("format 0x%04X", tag)
	}
	return fail(name, ErrUnsupported, "its audio is "+what+"-encoded, which is not supported", convert)
}

// walkRIFF finds the fmt and data chunks, checking that every chunk before
// the audio lies inside the file.
func walkRIFF(s src) (fmtChunk []byte, dataOff, dataSize int64, err error) {
	hdr := make([]byte, 8)
	for off := int64(12); ; {
		if off+8 > s.size {
			if fmtChunk == nil {
				return nil, 0, 0, fail(s.name, ErrTruncated, "it ends before its format (fmt) chunk", "copy or export the recording again")
			}
			return nil, 0, 0, fail(s.name, ErrTruncated, "it ends before its audio data begins", "copy or export the recording again")
		}
		if _, err := s.r.ReadAt(hdr, off); err != nil {
			return nil, 0, 0, fmt.Errorf("import %s: read: %w", s.name, err)
		}
		id, size := string(hdr[:4]), int64(binary.LittleEndian.Uint32(hdr[4:]))
		body := off + 8
		left := s.size - body
		switch id {
		case "fmt ":
			if fmtChunk != nil {
				return nil, 0, 0, fail(s.name, ErrCorrupt, "it has two format (fmt) chunks", "export the recording again")
			}
			if size < 16 || size > maxFmtSize {
				return nil, 0, 0, fail(s.name, ErrCorrupt, fmt.Sprintf("its format (fmt) chunk is %d bytes long", size), "export the recording again")
			}
			if size > left {
				return nil, 0, 0, fail(s.name, ErrTruncated, "it ends inside its format (fmt) chunk", "copy or export the recording again")
			}
			fmtChunk = make([]byte, size)
			if _, err := s.r.ReadAt(fmtChunk, body); err != nil {
				return nil, 0, 0, fmt.Errorf("import %s: read: %w", s.name, err)
			}
		case "data":
			if fmtChunk == nil {
				return nil, 0, 0, fail(s.name, ErrCorrupt, "its audio data comes before its format (fmt) chunk", "export the recording again")
			}
			switch {
			case size == 0 && left > 0:
				return nil, 0, 0, fail(s.name, ErrTruncated,
					fmt.Sprintf("its header says it holds no audio, but %s follow", bytesText(left)),
					"the recorder probably stopped before finishing the file; re-save it in an audio editor (such as Audacity) and import that")
			case size > left:
				return nil, 0, 0, fail(s.name, ErrTruncated,
					fmt.Sprintf("its audio data should be %s but the file ends after %s", bytesText(size), bytesText(left)),
					"copy or export the recording again; if the original is cut short too, re-save it in an audio editor (such as Audacity) and import that")
			}
			return fmtChunk, body, size, nil
		default:
			// LIST, bext, JUNK, fact, cue …: metadata we skip, without
			// reading it.
			if size > left {
				return nil, 0, 0, fail(s.name, ErrTruncated, fmt.Sprintf("it ends inside its %q chunk, before the audio data", printable(hdr[:4])),
					"copy or export the recording again")
			}
		}
		off = body + size + size&1 // chunks are padded to even sizes
	}
}

func le32(b *bytes.Buffer, v uint32) {
	var x [4]byte
	binary.LittleEndian.PutUint32(x[:], v)
	b.Write(x[:])
}

func bytesText(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// wavDecoder converts little-endian PCM or float frames to float32.
type wavDecoder struct {
	r     *io.SectionReader
	name  string
	float bool
	width int // bytes per sample
	align int // bytes per frame
	chans int
	raw   []byte
	read0 int64
}

var _ decoder = (*wavDecoder)(nil)

func (w *wavDecoder) done() int64   { return w.read0 }
func (w *wavDecoder) finish() error { return nil }

func (w *wavDecoder) read(p []float32) (int, error) {
	frames := min(len(p)/w.chans, len(w.raw)/w.align)
	n, err := io.ReadFull(w.r, w.raw[:frames*w.align])
	w.read0 += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		return 0, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The section is sized to whole frames, so only a file shrinking
		// under us ends early; keep what came.
	case err != nil:
		return 0, fmt.Errorf("import %s: read: %w", w.name, err)
	}
	raw := w.raw[:n-n%w.align]
	out := p[:len(raw)/w.width]
	switch {
	case w.float:
		for i := range out {
			v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			// NaN would spread through the resampler's filter; infinities
			// and absurd values are clipped like any over-full-scale float.
			switch {
			case v != v:
				v = 0
			case v > 8:
				v = 8
			case v < -8:
				v = -8
			}
			out[i] = v
		}
	case w.width == 1: // 8-bit WAV is unsigned
		for i, b := range raw {
			out[i] = float32(int(b)-128) / 128
		}
	case w.width == 2:
		for i := range out {
			out[i] = float32(int16(binary.LittleEndian.Uint16(raw[2*i:]))) / (1 << 15)
		}
	case w.width == 3:
		for i := range out {
			b := raw[3*i : 3*i+3]
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			out[i] = float32(v) / (1 << 23)
		}
	default: // 4
		for i := range out {
			out[i] = float32(int32(binary.LittleEndian.Uint32(raw[4*i:]))) / (1 << 31)
		}
	}
	return len(out), nil
}

package importer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hajimehoshi/go-mp3"
)

// An MPEG audio frame header, as far as choosing and checking a decoder
// needs it.
type mpegHeader struct {
	version int // 1, 2, or 25 for MPEG-2.5
	layer   int // 1, 2 or 3
	kbps    int // 0 = free format
	rate    int
	mono    bool
	crc     bool
	pad     bool
	size    int // frame length in bytes (Layer III, not free format)
}

// misread reports a frame go-mp3 (v0.3.4) reads one byte short: it sizes
// MPEG-2 frames as (144·bitrate/rate + padding)/2 instead of
// 72·bitrate/rate + padding, which differs for a padded frame whenever
// 144·bitrate/rate rounds down to an even number (22.05 kHz at 8–32, 80, 96,
// 144 and 160 kbps). The lost byte shifts the bit reservoir and everything
// after it decodes to noise, without an error, so such files are refused
// rather than imported garbled.
func (h mpegHeader) misread() bool {
	return h.version == 2 && h.pad && (144*h.kbps*1000/h.rate)%2 == 0
}

var (
	mp3Kbps1 = [16]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, -1}
	mp3Kbps2 = [16]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, -1}
	mp3Rates = map[int][3]int{1: {44100, 48000, 32000}, 2: {22050, 24000, 16000}, 25: {11025, 12000, 8000}}
)

// parseHeader decodes the 4 bytes at the start of an MPEG audio frame.
func parseHeader(b []byte) (mpegHeader, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mpegHeader{}, false
	}
	var h mpegHeader
	switch (b[1] >> 3) & 3 {
	case 0:
		h.version = 25
	case 2:
		h.version = 2
	case 3:
		h.version = 1
	default:
		return mpegHeader{}, false
	}
	h.layer = 4 - int((b[1]>>1)&3)
	if h.layer == 4 {
		return mpegHeader{}, false
	}
	h.crc = b[1]&1 == 0
	bi, ri := b[2]>>4, (b[2]>>2)&3
	if bi == 15 || ri == 3 {
		return mpegHeader{}, false
	}
	h.rate = mp3Rates[h.version][ri]
	h.mono = b[3]>>6 == 3
	if h.layer != 3 || bi == 0 {
		return h, true
	}
	h.pad = b[2]>>1&1 == 1
	pad := int(b[2]>>1) & 1
	if h.version == 1 {
		h.kbps = mp3Kbps1[bi]
		h.size = 144*h.kbps*1000/h.rate + pad
	} else {
		h.kbps = mp3Kbps2[bi]
		h.size = 72*h.kbps*1000/h.rate + pad
	}
	return h, true
}

// samplesPerFrame of a Layer III frame.
func (h mpegHeader) samplesPerFrame() int {
	if h.version == 1 {
		return 1152
	}
	return 576
}

// maxSync is how far past the tags the first frame is looked for; encoders
// sometimes leave padding or junk there.
const maxSync = 64 << 10

// openMP3 skips ID3v2 tags and trailing ID3v1/APE tags, checks the first
// frame is one go-mp3 decodes (MPEG-1 or -2 Layer III, not free format),
// and reads the Xing/Info/VBRI frame count if there is one, so that a cut-off
// file can be told from a short one. go-mp3 then decodes from the first
// frame on, through a reader that cannot seek: given a seeker, go-mp3 would
// first scan the whole file and keep an offset for every frame, growing
// with the file's length.
func openMP3(s src) (decoder, format, error) {
	start, err := skipID3v2(s)
	if err != nil {
		return nil, format{}, err
	}
	end := trailingTags(s, start)
	if start >= end {
		return nil, format{}, fail(s.name, ErrEmpty, "it holds only tags and no audio", "choose the recording itself, or export it again")
	}
	first, h, err := findFrame(s, start, end)
	if err != nil {
		return nil, format{}, err
	}
	switch {
	case h.layer != 3:
		return nil, format{}, fail(s.name, ErrUnsupported, fmt.Sprintf("it is MPEG Layer %s audio, not MP3", [4]string{"", "I", "II", ""}[h.layer]),
			"convert it to MP3 or WAV first")
	case h.version == 25:
		return nil, format{}, fail(s.name, ErrUnsupported, fmt.Sprintf("it is an MPEG-2.5 MP3 at %d Hz, which the decoder does not support", h.rate),
			"convert it to WAV, or to an MP3 at 16 kHz or more")
	case h.kbps == 0:
		return nil, format{}, fail(s.name, ErrUnsupported, "it is a free-format MP3, which the decoder does not support",
			"convert it to WAV, or to a standard MP3")
	}
	declared := xingFrames(s, first, h)

	counter := &frameWatch{r: io.NewSectionReader(s.r, first, end-first), first: h}
	m := &mp3Decoder{
		name:     s.name,
		rate:     h.rate,
		spf:      h.samplesPerFrame(),
		declared: declared,
		counter:  counter,
		raw:      make([]byte, chunkFrames*4),
	}
	// bufio: go-mp3 reads a few bytes at a time. The wrapper hides Seek.
	if err := m.guard(func() (err error) {
		m.dec, err = mp3.NewDecoder(struct{ io.Reader }{bufio.NewReaderSize(counter, 64<<10)})
		return err
	}); err != nil {
		return nil, format{}, fail(s.name, ErrCorrupt, fmt.Sprintf("its first MP3 frame cannot be decoded (%v)", err), "export the recording again")
	}
	chans := 2
	if h.mono {
		chans = 1
	}
	// go-mp3 always yields 16-bit stereo, duplicating a mono channel.
	return m, format{name: "mp3", rate: h.rate, chans: 2, fileChans: chans, total: end - first}, nil
}

// skipID3v2 returns the offset after the ID3v2 tags at the start (some files
// carry more than one).
func skipID3v2(s src) (int64, error) {
	var off int64
	b := make([]byte, 10)
	for {
		n, _ := s.r.ReadAt(b, off)
		if n < 3 || string(b[:3]) != "ID3" {
			return off, nil
		}
		if n < 10 {
			return 0, fail(s.name, ErrTruncated, "it ends inside its ID3 tag", "copy or export the recording again")
		}
		sz := b[6:10]
		if sz[0]|sz[1]|sz[2]|sz[3] >= 0x80 {
			return 0, fail(s.name, ErrCorrupt, "its ID3 tag header is damaged", "remove the tag or export the recording again")
		}
		size := int64(sz[0])<<21 | int64(sz[1])<<14 | int64(sz[2])<<7 | int64(sz[3])
		size += 10
		if b[5]&0x10 != 0 { // footer present
			size += 10
		}
		if off+size > s.size {
			return 0, fail(s.name, ErrTruncated, "it ends inside its ID3 tag, before any audio", "copy or export the recording again")
		}
		off += size
	}
}

// trailingTags returns where the audio ends: before an ID3v1 tag and an
// APEv2 tag, if present, so their bytes are not mistaken for frames.
func trailingTags(s src, start int64) int64 {
	end := s.size
	b := make([]byte, 32)
	if end-start >= 128 {
		if n, _ := s.r.ReadAt(b[:3], end-128); n == 3 && string(b[:3]) == "TAG" {
			end -= 128
		}
	}
	if end-start >= 32 {
		if n, _ := s.r.ReadAt(b, end-32); n == 32 && string(b[:8]) == "APETAGEX" {
			size := int64(binary.LittleEndian.Uint32(b[12:16])) // items + footer
			if binary.LittleEndian.Uint32(b[20:24])&(1<<31) != 0 {
				size += 32 // header
			}
			if size <= end-start {
				end -= size
			}
		}
	}
	return end
}

// findFrame locates the first frame: a valid header followed, one frame
// length later, by another (or by the end of the audio), so that a stray
// 0xFFE in tag padding is not taken for audio.
func findFrame(s src, start, end int64) (int64, mpegHeader, error) {
	buf := make([]byte, min(end-start, maxSync+4))
	n, err := s.r.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, mpegHeader{}, fmt.Errorf("import %s: read: %w", s.name, err)
	}
	buf = buf[:n]
	next := make([]byte, 4)
	for i := 0; i+4 <= len(buf); i++ {
		h, ok := parseHeader(buf[i:])
		if !ok {
			continue
		}
		if h.layer != 3 || h.kbps == 0 || h.version == 25 {
			if i == 0 {
				return start, h, nil // reported as unsupported by the caller
			}
			continue
		}
		at := start + int64(i)
		if at+int64(h.size) >= end {
			return at, h, nil // a single frame
		}
		if _, err := s.r.ReadAt(next, at+int64(h.size)); err != nil {
			continue
		}
		if h2, ok := parseHeader(next); ok && h2.layer == 3 && h2.version == h.version && h2.rate == h.rate {
			return at, h, nil
		}
	}
	return 0, mpegHeader{}, fail(s.name, ErrCorrupt, "no MP3 audio frames were found in it", "check that it is the visit's recording, or export it again")
}

// xingFrames reads the frame count an encoder wrote into the first frame
// (Xing/Info by LAME and most encoders, VBRI by Fraunhofer's), or 0.
func xingFrames(s src, at int64, h mpegHeader) int64 {
	side := 17
	switch {
	case h.version == 1 && !h.mono:
		side = 32
	case h.version != 1 && h.mono:
		side = 9
	}
	off := at + 4 + int64(side)
	if h.crc {
		off += 2
	}
	b := make([]byte, 12)
	if n, _ := s.r.ReadAt(b, off); n == 12 && (string(b[:4]) == "Xing" || string(b[:4]) == "Info") &&
		binary.BigEndian.Uint32(b[4:8])&1 != 0 {
		return int64(binary.BigEndian.Uint32(b[8:12]))
	}
	b = make([]byte, 18)
	if n, _ := s.r.ReadAt(b, at+4+32); n == 18 && string(b[:4]) == "VBRI" {
		return int64(binary.BigEndian.Uint32(b[14:18]))
	}
	return 0
}

// mp3Decoder turns go-mp3's 16-bit stereo stream into float32 frames.
type mp3Decoder struct {
	name     string
	dec      *mp3.Decoder
	rate     int
	spf      int   // samples per frame
	declared int64 // frames the header announced, 0 if unknown
	counter  *frameWatch
	raw      []byte
	pending  int   // bytes of a partial stereo frame carried in raw[:pending]
	samples  int64 // stereo frames decoded
}

var _ decoder = (*mp3Decoder)(nil)

func (m *mp3Decoder) done() int64 { return m.counter.n }

func (m *mp3Decoder) read(p []float32) (int, error) {
	want := min(len(p)/2, len(m.raw)/4) * 4
	var n int
	err := m.guard(func() (err error) {
		n, err = io.ReadFull(m.dec, m.raw[m.pending:want])
		return err
	})
	n += m.pending
	if m.counter.misread {
		return 0, fail(m.name, ErrUnsupported,
			"it is a 22.05 kHz (MPEG-2) MP3 whose padded frames the MP3 decoder misreads (they would import as noise)",
			"convert it to WAV, or to an MP3 at 44.1 kHz, and import that")
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if n < 4 {
			return 0, io.EOF
		}
	case err != nil:
		at := time.Duration(m.samples) * time.Second / time.Duration(m.rate)
		return 0, fail(m.name, ErrCorrupt, fmt.Sprintf("its MP3 data is damaged %s into the recording (%v)", at.Round(time.Second), err),
			"export the recording again")
	}
	whole := n - n%4
	out := p[:whole/2]
	for i := range out {
		out[i] = float32(int16(binary.LittleEndian.Uint16(m.raw[2*i:]))) / (1 << 15)
	}
	m.pending = copy(m.raw, m.raw[whole:n])
	m.samples += int64(whole / 4)
	return len(out), nil
}

// finish reports a file cut short: fewer frames than its header announced.
func (m *mp3Decoder) finish() error {
	frames := m.samples / int64(m.spf)
	if m.declared > 0 && frames < m.declared {
		d := func(f int64) time.Duration {
			return (time.Duration(f*int64(m.spf)) * time.Second / time.Duration(m.rate)).Round(time.Second)
		}
		return fail(m.name, ErrTruncated, fmt.Sprintf("it should hold %s of audio but ends after %s", d(m.declared), d(frames)),
			"copy or export the recording again")
	}
	return nil
}

// guard runs f, turning a panic inside the third-party decoder (which
// reads untrusted bits) into an error.
func (m *mp3Decoder) guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder failed: %v", r)
		}
	}()
	return f()
}

// frameWatch passes go-mp3 its input, counting the bytes and walking the
// frame headers as they go by, to catch frames go-mp3 would misread (see
// mpegHeader.misread) before they are decoded. Where the chain of frames
// breaks (damaged data), it looks for the next header, as go-mp3 does.
type frameWatch struct {
	r       io.Reader
	first   mpegHeader // the stream's first frame: later ones must match it
	n       int64      // bytes read so far
	next    int64      // offset of the next frame header
	lost    bool       // the chain broke: look for a header from next on
	hdr     [4]byte
	have    int // bytes of hdr collected (a header can straddle two reads)
	misread bool
}

func (w *frameWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.scan(p[:n], w.n)
	w.n += int64(n)
	return n, err
}

// scan walks the headers in b, which starts at stream offset base.
func (w *frameWatch) scan(b []byte, base int64) {
	end := base + int64(len(b))
	for w.next < end {
		if w.lost {
			i := max(w.next-base, 0)
			for i+4 <= int64(len(b)) && !w.sameStream(b[i:]) {
				i++
			}
			if i+4 > int64(len(b)) {
				// A header straddling this read and the next is missed;
				// the one after it is found.
				w.next = end
				return
			}
			w.next, w.lost, w.have = base+i, false, 0
		}
		for w.have < 4 && w.next+int64(w.have) < end {
			w.hdr[w.have] = b[w.next+int64(w.have)-base]
			w.have++
		}
		if w.have < 4 {
			return
		}
		w.have = 0
		h, _ := parseHeader(w.hdr[:])
		if !isLayer3(w.hdr[:]) || h.version != w.first.version || h.rate != w.first.rate {
			// Damage, or a false sync inside it: not a frame of this stream.
			w.lost = true
			w.next++
			continue
		}
		if h.misread() {
			w.misread = true
		}
		w.next += int64(h.size)
	}
}

// sameStream reports whether b starts with a header like the first frame's.
func (w *frameWatch) sameStream(b []byte) bool {
	h, ok := parseHeader(b)
	return ok && isLayer3(b) && h.version == w.first.version && h.rate == w.first.rate
}

// isLayer3 reports whether b starts with a header go-mp3 decodes.
func isLayer3(b []byte) bool {
	h, ok := parseHeader(b)
	return ok && h.layer == 3 && h.kbps > 0 && h.version != 25
}

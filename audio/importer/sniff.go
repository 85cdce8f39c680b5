package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// open recognises the file from its first bytes and returns its decoder.
func open(s src) (decoder, format, error) {
	head := make([]byte, 16)
	n, err := s.r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, format{}, fmt.Errorf("import %s: read: %w", s.name, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("RIFF")) && len(head) < 12:
		return nil, format{}, fail(s.name, ErrTruncated, "it ends inside its WAV header", "copy or export the recording again")
	case bytes.HasPrefix(head, []byte("RIFF")) && string(head[8:12]) == "WAVE":
		return openWAV(s)
	case bytes.HasPrefix(head, []byte("RIFF")):
		return nil, format{}, fail(s.name, ErrUnsupported,
			fmt.Sprintf("it is a RIFF file of type %q, not WAVE audio", printable(head[8:12])),
			"choose a WAV or MP3 recording")
	case bytes.HasPrefix(head, []byte("RF64")), bytes.HasPrefix(head, []byte("BW64")):
		return nil, format{}, fail(s.name, ErrUnsupported, "it is an RF64 (over 4 GB) WAV file",
			"split it into shorter WAV files, or convert it to MP3")
	case bytes.HasPrefix(head, []byte("RIFX")):
		return nil, format{}, fail(s.name, ErrUnsupported, "it is a big-endian (RIFX) WAV file",
			"convert it to a standard 16-bit WAV file")
	case bytes.HasPrefix(head, []byte("ID3")), len(head) >= 2 && head[0] == 0xFF && head[1]&0xE0 == 0xE0:
		return openMP3(s)
	}
	for _, m := range magics {
		if len(head) >= m.at+len(m.prefix) && string(head[m.at:m.at+len(m.prefix)]) == m.prefix {
			remedy := "choose the visit's audio recording (WAV or MP3) instead"
			if m.audio {
				remedy = "convert it to WAV or MP3 first (for example with Audacity or ffmpeg)"
			}
			return nil, format{}, fail(s.name, ErrUnsupported, "it is "+m.what+", not a WAV or MP3 file", remedy)
		}
	}
	return nil, format{}, fail(s.name, ErrUnsupported, "it is not a WAV or MP3 audio file",
		"choose the visit's audio recording (WAV or MP3)")
}

// magics name common files people pick by mistake, so the error can say
// what the file is.
var magics = []struct {
	prefix string
	at     int
	what   string
	audio  bool
}{
	{"%PDF", 0, "a PDF document", false},
	{"PK\x03\x04", 0, "a ZIP archive or Office document", false},
	{"\xD0\xCF\x11\xE0", 0, "an Office document", false},
	{"{\\rtf", 0, "an RTF document", false},
	{"\x89PNG", 0, "a PNG image", false},
	{"\xFF\xD8\xFF", 0, "a JPEG image", false},
	{"GIF8", 0, "a GIF image", false},
	{"fLaC", 0, "FLAC audio", true},
	{"OggS", 0, "Ogg audio (Vorbis or Opus)", true},
	{"ftyp", 4, "MP4/M4A audio or video", true},
	{"FORM", 0, "AIFF audio", true},
	{"caff", 0, "Core Audio (CAF) audio", true},
	{"#!AMR", 0, "AMR audio", true},
	{"\x30\x26\xB2\x75", 0, "Windows Media (WMA) audio", true},
	{"\x1A\x45\xDF\xA3", 0, "WebM/Matroska audio or video", true},
}

func printable(b []byte) string {
	out := []byte(string(b))
	for i, c := range out {
		if c < 0x20 || c > 0x7E {
			out[i] = '?'
		}
	}
	return string(out)
}

// Package wavtest writes the audio files tests feed to Scribe. Only tests
// import it.
package wavtest

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"
	"time"
)

// Tone writes d of a 440 Hz tone at about -12 dBFS, every channel alike, as
// a 16-bit PCM WAV (0600). The sandbox's recognizer hears it as speech.
func Tone(tb testing.TB, path string, rate, channels int, d time.Duration) {
	tb.Helper()
	frames := int(d * time.Duration(rate) / time.Second)
	var data bytes.Buffer
	data.Grow(frames * channels * 2)
	for i := range frames {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for range channels {
			binary.Write(&data, binary.LittleEndian, v)
		}
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(channels), uint32(rate), uint32(rate * channels * 2), uint16(channels * 2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
}

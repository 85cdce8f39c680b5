package importer

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"testing"

	"github.com/hajimehoshi/go-mp3"
)

// TestGoMP3MisreadsPaddedLSFFrames pins the go-mp3 bug that
// mpegHeader.misread works around: decoded directly, the 22.05 kHz 32 kbps
// fixture (a -6 dBFS tone, peak 0.5) comes out as noise. When this test
// fails, go-mp3 has been fixed: drop misread and accept these files.
func TestGoMP3MisreadsPaddedLSFFrames(t *testing.T) {
	f, err := os.Open("testdata/tone-22k-mono-cbr32.mp3")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := mp3.NewDecoder(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b) / 4
	var peak float64
	for i := n / 4; i < 3*n/4; i++ {
		peak = max(peak, math.Abs(float64(int16(binary.LittleEndian.Uint16(b[4*i:])))/32768))
	}
	if math.Abs(peak-0.5) < 0.05 {
		t.Fatalf("go-mp3 now decodes padded 22.05 kHz frames correctly (peak %.3f): remove mpegHeader.misread", peak)
	}
	t.Logf("go-mp3 still garbles it: peak %.3f, want 0.5", peak)

	// And the frame walk flags the file, while the 64 kbps one (whose padded
	// frames go-mp3 happens to size right) passes.
	for name, want := range map[string]bool{"testdata/tone-22k-mono-cbr32.mp3": true, "testdata/tone-22k-mono-cbr64.mp3": false} {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := parseHeader(raw)
		w := &frameWatch{first: first}
		for i := 0; i < len(raw); i += 777 { // in pieces, headers straddling reads
			w.scan(raw[i:min(i+777, len(raw))], int64(i))
		}
		if w.misread != want {
			t.Errorf("%s: misread %v, want %v", name, w.misread, want)
		}
	}
}

package importer

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
)

// The fuzz targets feed arbitrary bytes to the importer, as a file a user
// picked. Whatever the bytes, an import must not panic or hang, must fail
// only with one of the four sentinels (an I/O error cannot happen here),
// must leave no journal behind when it fails, and when it succeeds must have
// journalled exactly the audio it reports. Seeds: testdata/fuzz/<target>/,
// small WAVs in every supported encoding and the first frames of each MP3
// fixture, plus damaged variants.

func FuzzImportWAV(f *testing.F) { fuzzImport(f) }

func FuzzImportMP3(f *testing.F) { fuzzImport(f) }

func fuzzImport(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		st := newMemStorage()
		const dir = "/profile/encounters/enc-1"
		s := src{r: bytes.NewReader(b), size: int64(len(b)), name: "fuzz.bin"}
		info, m, err := importFrom(t.Context(), s, dir, "enc-1", journal.Options{Storage: st}, nil)
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if left := st.under(dir); len(left) > 0 {
				t.Fatalf("failed import left %v behind: %v", left, err)
			}
			return
		}
		if info.SampleRate <= 0 || info.Channels <= 0 || info.Duration <= 0 {
			t.Fatalf("success with info %+v", info)
		}
		// Duration is truncated to the nanosecond, so the frame count it
		// gives may be one short.
		frames := int64(info.Duration) * int64(info.SampleRate) / int64(time.Second)
		lo := (frames*journal.SampleRate + int64(info.SampleRate) - 1) / int64(info.SampleRate)
		hi := ((frames+1)*journal.SampleRate + int64(info.SampleRate) - 1) / int64(info.SampleRate)
		if m.Samples < lo || m.Samples > hi || !m.Closed {
			t.Fatalf("journal of %d samples (closed %v) for %v at %d Hz, want %d..%d", m.Samples, m.Closed, info.Duration, info.SampleRate, lo, hi)
		}
	})
}

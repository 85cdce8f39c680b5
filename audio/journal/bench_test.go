package journal

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWrite appends 100 ms chunks with the default options (30 s
// segments, 1 s background sync) to plain files: x_realtime is audio time
// written per wall time.
func BenchmarkWrite(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "enc"), "bench", Options{})
	if err != nil {
		b.Fatal(err)
	}
	chunk := signal(0, SampleRate/10)
	b.SetBytes(int64(len(chunk) * bytesPerSample))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/10/b.Elapsed().Seconds(), "x_realtime")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkExport exports one hour of audio (30 s segments) to a file.
func BenchmarkExport(b *testing.B) {
	root := b.TempDir()
	dir := filepath.Join(root, "enc")
	w, err := Create(dir, "bench", Options{})
	if err != nil {
		b.Fatal(err)
	}
	minute := signal(0, 60*SampleRate)
	for range 60 {
		if err := w.Write(minute); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	out, err := os.Create(filepath.Join(root, "out.wav"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	b.SetBytes(headerSize + 3600*SampleRate*bytesPerSample)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if err := Export(b.Context(), dir, out, Options{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)*float64(time.Hour)/float64(b.Elapsed()), "x_realtime")
}

//go:build unix

package capture

import (
	"fmt"
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/journal"
)

// pipeline is the capture-to-journal path without a device or the writer
// goroutine: the benchmark plays the audio thread (a ring write per 20 ms
// buffer) and the writer (a drain after each buffer, as its 20 ms tick
// would), and syncs the journal once per audio second, as the journal does
// on the wall clock during a real recording.
type pipeline struct {
	r      *Recorder
	j      *journal.Writer
	stream *fakeStream
	chunks [][]float32 // one second of a speech-like signal, in 20 ms buffers
	levels int
}

func newPipeline(tb testing.TB, f Format) *pipeline {
	tb.Helper()
	j, err := journal.Create(tb.TempDir()+"/enc", "bench", journal.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = j.Close() })
	p := &pipeline{j: j}
	r, err := newRecorder(tb.Context(), Config{
		Backend: newFakeBackend(),
		Journal: j,
		OnLevel: func(dsp.Level) { p.levels++ },
		OnEvent: func(e Event) { tb.Logf("event %+v", e) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.cancel)
	dev := Device{Name: "bench", Channels: f.Channels, SampleRate: f.SampleRate, HostAPI: "none"}
	p.stream = &fakeStream{dev: dev, format: f, ring: newRing(int(f.SampleRate)*f.Channels*ringSeconds, f.Channels), started: true}
	src, err := newSource(p.stream)
	if err != nil {
		tb.Fatal(err)
	}
	r.attach(src, time.Now())
	p.r = r
	// A 300 Hz tone with a 4 Hz syllable envelope, at speech level.
	frame := 0
	per := int(f.SampleRate) / 50
	for range 50 {
		c := make([]float32, 0, per*f.Channels)
		for i := range per {
			t := float64(frame+i) / f.SampleRate
			v := float32(0.3 * math.Sin(2*math.Pi*300*t) * (0.5 + 0.5*math.Sin(2*math.Pi*4*t)))
			for range f.Channels {
				c = append(c, v)
			}
		}
		frame += per
		p.chunks = append(p.chunks, c)
	}
	return p
}

// second pushes and writes one second of audio.
func (p *pipeline) second(tb testing.TB) {
	for _, c := range p.chunks {
		p.stream.ring.write(c, false)
		p.r.drain()
	}
	if err := p.j.Sync(); err != nil {
		tb.Fatal(err)
	}
	if p.r.failing {
		tb.Fatalf("journal write failed: %v", p.r.lastErr)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline: one op is one second of audio from a device at the
// given format through ring, downmix, resampler, int16, meter, silence
// detector and journal (with its once-a-second fsync). cpu-ns/audio-s is the
// process's CPU time (user+system, GC included) per audio second;
// cpu-s/audio-h the same per hour of audio; cpu/realtime the fraction of one
// core a live recording takes.
func BenchmarkPipeline(b *testing.B) {
	for _, f := range []Format{{48000, 2}, {44100, 2}, {48000, 1}, {16000, 1}} {
		b.Run(fmt.Sprintf("%gHz-%dch", f.SampleRate, f.Channels), func(b *testing.B) {
			p := newPipeline(b, f)
			p.second(b) // warm up: first segment, buffers sized
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				p.second(b)
			}
			cpu := float64(cpuTime()-cpu0) / float64(b.N)
			b.ReportMetric(cpu, "cpu-ns/audio-s")
			b.ReportMetric(cpu*3600/1e9, "cpu-s/audio-h")
			b.ReportMetric(cpu/1e9, "cpu/realtime")
			if p.levels < 20*b.N {
				b.Fatalf("%d levels for %d seconds", p.levels, b.N)
			}
		})
	}
}

// BenchmarkThreeHours records three hours of 48 kHz stereo audio through
// the pipeline and reports the heap after ten minutes and after three hours
// (each after a GC): a flat heap means nothing grows with the recording's
// length but the journal's manifest (one entry per 30 s segment). Run with
// -benchtime=1x; it writes 345 MB to the temp folder.
func BenchmarkThreeHours(b *testing.B) {
	const (
		warm  = 10 * 60
		total = 3 * 60 * 60
	)
	for b.Loop() {
		p := newPipeline(b, Format{SampleRate: 48000, Channels: 2})
		var early, late runtime.MemStats
		cpu0 := cpuTime()
		for s := range total {
			if s == warm {
				runtime.GC()
				runtime.ReadMemStats(&early)
			}
			p.second(b)
		}
		cpu := cpuTime() - cpu0
		runtime.GC()
		runtime.ReadMemStats(&late)
		segs := len(p.j.Manifest().Segments)
		b.Logf("after %d min: HeapAlloc %d B, HeapInuse %d B, HeapObjects %d, Sys %d B, NumGC %d",
			warm/60, early.HeapAlloc, early.HeapInuse, early.HeapObjects, early.Sys, early.NumGC)
		b.Logf("after %d h:   HeapAlloc %d B, HeapInuse %d B, HeapObjects %d, Sys %d B, NumGC %d; %d segments",
			total/3600, late.HeapAlloc, late.HeapInuse, late.HeapObjects, late.Sys, late.NumGC, segs)
		b.Logf("allocated while recording the last %d min: %d B (%.1f B per audio second); CPU %s for 3 h of audio",
			(total-warm)/60, late.TotalAlloc-early.TotalAlloc, float64(late.TotalAlloc-early.TotalAlloc)/float64(total-warm), cpu)
		b.ReportMetric(float64(early.HeapAlloc)/1024, "heap-10min-KiB")
		b.ReportMetric(float64(late.HeapAlloc)/1024, "heap-3h-KiB")
		b.ReportMetric(float64(int64(late.HeapAlloc)-int64(early.HeapAlloc))/1024, "heap-growth-KiB")
		b.ReportMetric(cpu.Seconds(), "cpu-s/3h")
		if want := int64(total) * journal.SampleRate; p.j.Samples() < want-100 {
			b.Fatalf("journal holds %d samples, want %d", p.j.Samples(), want)
		}
	}
}

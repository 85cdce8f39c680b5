package dsp_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/dsp"
)

func pcmSine(rate int, freq, amp float64, n int) []int16 {
	x := make([]int16, n)
	for i := range x {
		x[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return x
}

// push feeds pcm to m in random chunk sizes and collects the levels.
func push(m *dsp.Meter, pcm []int16, rng *rand.Rand) []dsp.Level {
	var levels []dsp.Level
	for len(pcm) > 0 {
		n := min(len(pcm), rng.IntN(1500))
		m.Push(pcm[:n], func(l dsp.Level) { levels = append(levels, l) })
		pcm = pcm[n:]
	}
	return levels
}

func TestMeterLevels(t *testing.T) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
	square := make([]int16, 16000)
	for i := range square {
		square[i] = 3277 // -20 dBFS
		if i/40%2 == 1 {
			square[i] = -3277
		}
	}
	cases := []struct {
		name      string
		pcm       []int16
		rms, peak float64
	}{
		{"full-scale sine", pcmSine(16000, 1000, 32767, 16000), -3.01, 0},
		{"half-scale sine", pcmSine(16000, 1000, 16384, 16000), -9.03, -6.02},
		{"-20 dBFS square", square, -20, -20},
		{"silence", make([]int16, 16000), dsp.FloorDB, dsp.FloorDB},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			levels := push(dsp.NewMeter(16000, 50*time.Millisecond), c.pcm, rng)
			if len(levels) != 20 {
				t.Fatalf("%d levels for 1 s in 50 ms windows, want 20", len(levels))
			}
			for i, l := range levels {
				if want := int64(800 * (i + 1)); l.At != want {
					t.Errorf("level %d at sample %d, want %d", i, l.At, want)
				}
				if math.Abs(l.RMS-c.rms) > 0.05 || math.Abs(l.Peak-c.peak) > 0.05 {
					t.Errorf("level %d: RMS %.2f peak %.2f dBFS, want %.2f and %.2f", i, l.RMS, l.Peak, c.rms, c.peak)
				}
				if l.Clipping {
					t.Errorf("level %d: clipping reported for a clean signal", i)
				}
			}
		})
	}
}

func TestMeterClipping(t *testing.T) {
	var got []dsp.Level
	m := dsp.NewMeter(16000, 50*time.Millisecond)
	emit := func(l dsp.Level) { got = append(got, l) }

	pcm := make([]int16, 800*4)
	pcm[100] = math.MaxInt16 // a lone full-scale sample: loud, not clipped
	pcm[800+10], pcm[800+11] = math.MinInt16, math.MinInt16
	// A run split across windows 3 and 4 counts in the window it ends in.
	pcm[3*800-1], pcm[3*800] = math.MaxInt16, math.MaxInt16
	m.Push(pcm, emit)
	want := []bool{false, true, false, true}
	if len(got) != len(want) {
		t.Fatalf("%d levels, want %d", len(got), len(want))
	}
	for i, l := range got {
		if l.Clipping != want[i] {
			t.Errorf("window %d: clipping %v, want %v", i, l.Clipping, want[i])
		}
	}
	if got[1].Peak != 0 {
		t.Errorf("peak of a window at -32768 is %.2f dBFS, want 0", got[1].Peak)
	}
}

// levels makes n consecutive 50 ms levels at 16 kHz starting after offset
// from, all at the given RMS.
func levels(from int64, n int, rms float64) []dsp.Level {
	out := make([]dsp.Level, n)
	for i := range out {
		out[i] = dsp.Level{At: from + int64(i+1)*800, RMS: rms, Peak: rms + 3}
	}
	return out
}

type silenceEvent struct {
	at           int64
	warn, clears bool
}

func observe(s *dsp.Silence, ls []dsp.Level) []silenceEvent {
	var ev []silenceEvent
	for _, l := range ls {
		if w, c := s.Observe(l); w || c {
			ev = append(ev, silenceEvent{l.At, w, c})
		}
	}
	return ev
}

func TestSilence(t *testing.T) {
	const sec = 16000
	cfg := dsp.SilenceConfig{Threshold: -55, AtStart: 10 * time.Second, Later: time.Minute}

	t.Run("dead microphone warns at 10 s, once", func(t *testing.T) {
		s := dsp.NewSilence(cfg, sec)
		ev := observe(s, levels(0, 20*30, dsp.FloorDB)) // 30 s
		if len(ev) != 1 || !ev[0].warn || ev[0].at != 10*sec {
			t.Fatalf("events %v, want one warning at %d", ev, 10*sec)
		}
		if !s.Warning() {
			t.Error("Warning() false after the warning")
		}
	})
	t.Run("noise under the threshold is silence", func(t *testing.T) {
		ev := observe(dsp.NewSilence(cfg, sec), levels(0, 20*11, -60))
		if len(ev) != 1 || ev[0].at != 10*sec {
			t.Fatalf("events %v, want a warning at 10 s", ev)
		}
	})
	t.Run("sound then a minute of silence", func(t *testing.T) {
		s := dsp.NewSilence(cfg, sec)
		ls := levels(0, 20*5, -30)                            // 5 s of speech
		ls = append(ls, levels(5*sec, 20*90, dsp.FloorDB)...) // then 90 s of nothing
		ev := observe(s, ls)
		if len(ev) != 1 || !ev[0].warn || ev[0].at != 65*sec {
			t.Fatalf("events %v, want one warning at %d (60 s after the last sound)", ev, 65*sec)
		}
	})
	t.Run("cleared when sound returns, warns again later", func(t *testing.T) {
		s := dsp.NewSilence(cfg, sec)
		ls := levels(0, 20*12, dsp.FloorDB) // warns at 10 s
		ls = append(ls, levels(12*sec, 1, -40)...)
		ls = append(ls, levels(12*sec+800, 20*61, dsp.FloorDB)...)
		ev := observe(s, ls)
		want := []silenceEvent{{10 * sec, true, false}, {12*sec + 800, false, true}, {72*sec + 800, true, false}}
		if len(ev) != len(want) {
			t.Fatalf("events %v, want %v", ev, want)
		}
		for i := range want {
			if ev[i] != want[i] {
				t.Errorf("event %d: %v, want %v", i, ev[i], want[i])
			}
		}
	})
	t.Run("short silences do not warn", func(t *testing.T) {
		s := dsp.NewSilence(cfg, sec)
		var ls []dsp.Level
		for k := range 10 { // 9 s silent, 1 s speech, ten times
			ls = append(ls, levels(int64(k)*10*sec, 20*9, dsp.FloorDB)...)
			ls = append(ls, levels(int64(k)*10*sec+9*sec, 20, -20)...)
		}
		if ev := observe(s, ls); len(ev) != 0 {
			t.Fatalf("events %v, want none", ev)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		ev := observe(dsp.NewSilence(dsp.SilenceConfig{}, sec), levels(0, 20*11, -56))
		if len(ev) != 1 || ev[0].at != 10*sec {
			t.Fatalf("events %v, want a warning at 10 s with the default config", ev)
		}
	})
	t.Run("a new meter starts a new stream", func(t *testing.T) {
		s := dsp.NewSilence(cfg, sec)
		ls := levels(0, 20*5, -30)
		ls = append(ls, levels(5*sec, 20*50, dsp.FloorDB)...)
		ls = append(ls, levels(0, 20*10, dsp.FloorDB)...) // At restarts at 0
		ev := observe(s, ls)
		if len(ev) != 1 || ev[0].at != 10*sec {
			t.Fatalf("events %v, want one warning 10 s into the new stream", ev)
		}
	})
}

func TestDownmixToInt16(t *testing.T) {
	st := []float32{0.5, -0.5, 1, 0.5, 0.25, 0.25, 9}
	if got := dsp.Downmix(nil, st, 2); len(got) != 3 || got[0] != 0 || got[1] != 0.75 || got[2] != 0.25 {
		t.Errorf("stereo downmix %v, want [0 0.75 0.25] (partial frame dropped)", got)
	}
	if got := dsp.Downmix(nil, []float32{0.3, 0.3, 0.6, 1, 1, 1}, 3); len(got) != 2 || math.Abs(float64(got[0])-0.4) > 1e-6 || got[1] != 1 {
		t.Errorf("3-channel downmix %v, want [0.4 1]", got)
	}
	if got := dsp.Downmix([]float32{7}, st, 0); len(got) != 1 {
		t.Errorf("zero channels appended %v", got)
	}
	out, clipped := dsp.ToInt16(nil, []float32{0, 0.5, -0.5, 1, -1, 1.5, -2, float32(math.NaN()), 32767.0 / 32768})
	want := []int16{0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 32767}
	if clipped != 3 {
		t.Errorf("clipped %d, want 3 (1.0, 1.5 and -2)", clipped)
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("sample %d: %d, want %d", i, out[i], want[i])
		}
	}
}

func BenchmarkMeter(b *testing.B) {
	pcm := pcmSine(16000, 440, 8000, 16000) // one second per op
	m := dsp.NewMeter(16000, 50*time.Millisecond)
	var n int
	b.SetBytes(2 * int64(len(pcm)))
	b.ReportAllocs()
	for b.Loop() {
		m.Push(pcm, func(dsp.Level) { n++ })
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}

package dsp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nextvisit/scribe/audio/dsp"
)

const out = 16000

// rates covers every rate the issue names, a few more devices report, and
// 44056 Hz, whose ratio to 16 kHz needs the interpolated phase table.
var rates = []int{8000, 11025, 16000, 22050, 32000, 44100, 44056, 48000, 96000}

func sine(rate int, freq, amp float64, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return x
}

func resampleAll(t testing.TB, in []float32, inRate int) []float32 {
	t.Helper()
	r, err := dsp.NewResampler(inRate, out)
	if err != nil {
		t.Fatal(err)
	}
	y := r.Process(nil, in)
	return r.Flush(y)
}

// zeroCrossFreq estimates a sine's frequency from the first and last rising
// zero crossings, located to a fraction of a sample by linear interpolation.
func zeroCrossFreq(y []float32, rate int) float64 {
	first, last := -1.0, -1.0
	count := 0
	for i := 1; i < len(y); i++ {
		if y[i-1] < 0 && y[i] >= 0 {
			at := float64(i-1) + float64(-y[i-1]/(y[i]-y[i-1]))
			if first < 0 {
				first = at
			}
			last = at
			count++
		}
	}
	if count < 2 {
		return 0
	}
	return float64(count-1) * float64(rate) / (last - first)
}

// fitAmp is the least-squares amplitude of a sinusoid at freq in y.
func fitAmp(y []float32, rate int, freq float64) float64 {
	var ss, cc, sc, ys, yc float64
	for i, v := range y {
		w := 2 * math.Pi * freq * float64(i) / float64(rate)
		s, c := math.Sincos(w)
		ss += s * s
		cc += c * c
		sc += s * c
		ys += float64(v) * s
		yc += float64(v) * c
	}
	det := ss*cc - sc*sc
	a := (ys*cc - yc*sc) / det
	b := (yc*ss - ys*sc) / det
	return math.Hypot(a, b)
}

func rms(y []float32) float64 {
	var s float64
	for _, v := range y {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(y)))
}

func db(x float64) float64 { return 20 * math.Log10(x) }

// TestResampleSine sends tones through every input rate and checks the
// output's frequency, amplitude (±0.5 dB), length and timing: output sample
// j must match the ideal tone at time j/16000 s, which fails for any delay
// or drift.
func TestResampleSine(t *testing.T) {
	for _, rate := range rates {
		for _, freq := range []float64{440, 1000, 3000} {
			t.Run(fmt.Sprintf("%dHz/%gHz", rate, freq), func(t *testing.T) {
				const amp = 0.5
				n := 2 * rate
				y := resampleAll(t, sine(rate, freq, amp, n), rate)
				if want := (int64(n)*out + int64(rate) - 1) / int64(rate); int64(len(y)) != want {
					t.Fatalf("output length %d, want %d", len(y), want)
				}
				// Skip the edges, where the filter sees the stream's ends.
				mid := y[out/10 : len(y)-out/10]
				if f := zeroCrossFreq(mid, out); math.Abs(f-freq) > freq*1e-4 {
					t.Errorf("frequency %.3f Hz, want %g Hz", f, freq)
				}
				if g := db(fitAmp(mid, out, freq) / amp); math.Abs(g) > 0.5 {
					t.Errorf("gain %.3f dB, want within ±0.5 dB", g)
				}
				var errSq float64
				for j := out / 10; j < len(y)-out/10; j++ {
					want := amp * math.Sin(2*math.Pi*freq*float64(j)/out)
					errSq += (float64(y[j]) - want) * (float64(y[j]) - want)
				}
				if e := db(math.Sqrt(errSq/float64(len(mid))) / (amp / math.Sqrt2)); e > -60 {
					t.Errorf("output differs from the ideal tone by %.1f dB (want ≤ -60 dB): delayed or distorted", e)
				}
			})
		}
	}
}

// TestResampleAliasing checks that tones above 8 kHz, which would fold back
// into the 16 kHz output's band, are attenuated by at least 60 dB, and that
// upsampling from 8 and 11.025 kHz leaves no image of an in-band tone.
func TestResampleAliasing(t *testing.T) {
	const amp = 0.5
	for _, rate := range rates {
		if rate <= out {
			continue
		}
		freqs := []float64{8000, 8050, 8500, 9000, 10000, 12000, 15000, 0.98 * float64(rate) / 2}
		for _, freq := range freqs {
			if freq >= 0.99*float64(rate)/2 && freq != freqs[len(freqs)-1] {
				continue // not representable at this rate
			}
			t.Run(fmt.Sprintf("%dHz/%.0fHz", rate, freq), func(t *testing.T) {
				y := resampleAll(t, sine(rate, freq, amp, rate), rate)
				mid := y[out/10 : len(y)-out/10]
				if a := db(rms(mid) / (amp / math.Sqrt2)); a > -60 {
					t.Errorf("tone at %.0f Hz comes out at %.1f dB, want ≤ -60 dB", freq, a)
				}
			})
		}
	}
	for _, rate := range []int{8000, 11025} {
		for _, freq := range []float64{1000, 3000, 0.97 * float64(rate) / 2} {
			t.Run(fmt.Sprintf("image/%dHz/%.0fHz", rate, freq), func(t *testing.T) {
				y := resampleAll(t, sine(rate, freq, amp, rate), rate)
				mid := y[out/10 : len(y)-out/10]
				image := float64(rate) - freq
				if a := db(fitAmp(mid, out, image) / amp); a > -60 {
					t.Errorf("image of %.0f Hz at %.0f Hz is %.1f dB, want ≤ -60 dB", freq, image, a)
				}
				if g := db(fitAmp(mid, out, freq) / amp); freq <= 0.8*float64(rate)/2 && math.Abs(g) > 0.5 {
					t.Errorf("tone at %.0f Hz has gain %.2f dB", freq, g)
				}
			})
		}
	}
}

// TestResampleChunked feeds the same signal in random chunk sizes and at
// once; the outputs must be identical sample for sample.
func TestResampleChunked(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, rate := range rates {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			in := make([]float32, rate*3/2)
			for i := range in {
				in[i] = float32(rng.NormFloat64() * 0.2)
			}
			whole := resampleAll(t, in, rate)

			r, err := dsp.NewResampler(rate, out)
			if err != nil {
				t.Fatal(err)
			}
			var got []float32
			for rest := in; len(rest) > 0; {
				n := min(len(rest), rng.IntN(3000))
				got = r.Process(got, rest[:n])
				rest = rest[n:]
			}
			got = r.Flush(got)
			if len(got) != len(whole) {
				t.Fatalf("chunked output %d samples, one-shot %d", len(got), len(whole))
			}
			for i := range got {
				if got[i] != whole[i] {
					t.Fatalf("sample %d: chunked %g, one-shot %g", i, got[i], whole[i])
				}
			}

			// Flush resets: a second stream gives the same output again.
			again := r.Flush(r.Process(nil, in))
			if !slices.Equal(again, whole) {
				t.Fatal("a second stream after Flush differs from the first")
			}
		})
	}
}

// TestResampleImpulse checks the filter is centred: an impulse at input
// sample k peaks at the output sample nearest k·16000/rate.
func TestResampleImpulse(t *testing.T) {
	for _, rate := range rates {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			for _, k := range []int{0, 1, 777, rate - 3} {
				in := make([]float32, rate)
				in[k] = 1
				y := resampleAll(t, in, rate)
				peak := 0
				for i := range y {
					if y[i] > y[peak] {
						peak = i
					}
				}
				want := float64(k) * out / float64(rate)
				if math.Abs(float64(peak)-want) > 0.5+1e-9 {
					t.Errorf("impulse at input %d peaks at output %d, want %.2f", k, peak, want)
				}
			}
		})
	}
}

func TestResamplerRates(t *testing.T) {
	for _, c := range []struct{ in, out int }{{0, 16000}, {-8000, 16000}, {16000, 0}, {1000, 16000}, {1 << 30, 16000}} {
		if _, err := dsp.NewResampler(c.in, c.out); !errors.Is(err, dsp.ErrRate) {
			t.Errorf("NewResampler(%d, %d): %v, want ErrRate", c.in, c.out, err)
		}
	}
	r, err := dsp.NewResampler(16000, 16000)
	if err != nil {
		t.Fatal(err)
	}
	in := sine(16000, 440, 0.5, 1000)
	if got := r.Flush(r.Process(nil, in)); !slices.Equal(got, in) {
		t.Error("16 kHz to 16 kHz is not a passthrough")
	}
}

func BenchmarkResample(b *testing.B) {
	for _, rate := range []int{8000, 22050, 32000, 44100, 48000} {
		b.Run(fmt.Sprint(rate), func(b *testing.B) {
			r, err := dsp.NewResampler(rate, out)
			if err != nil {
				b.Fatal(err)
			}
			in := sine(rate, 440, 0.5, rate) // one second per op
			dst := make([]float32, 0, out+1)
			b.SetBytes(int64(4 * len(in)))
			b.ReportAllocs()
			for b.Loop() {
				dst = r.Process(dst[:0], in)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
			b.ReportMetric(float64(r.Taps()), "taps")
		})
	}
}

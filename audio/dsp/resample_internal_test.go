package dsp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestResampleHour streams one hour of input at each rate in random chunks
// and checks that exactly ceil(n·16000/rate) samples come out and that
// impulses at the start, middle and last second land on the output sample
// nearest their time: the position bookkeeping must not drift. The
// bookkeeping does not depend on the filter, so a short (8-tap) filter keeps
// the test fast; the real filter's timing is checked by TestResampleImpulse
// and TestResampleSine.
func TestResampleHour(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rates := []int{8000, 22050, 32000, 44100, 44056, 48000}
	if raceEnabled {
		rates = []int{44100, 44056} // L=160 phases, and interpolated phases
	}
	for _, rate := range rates {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, uint64(rate)))
			r := newResampler(rate, 16000, 8)
			n := int64(rate) * 3600
			total := (n*16000 + int64(rate) - 1) / int64(rate)
			// Impulses at the start, in the middle and in the last second,
			// and the outputs around each one's time.
			impulses := []int64{0, n/2 + 12345, n - int64(rate) + 777, n - 5}
			around := map[int64]float32{}
			for _, at := range impulses {
				e := int64(math.Round(float64(at) * 16000 / float64(rate)))
				for k := max(e-3, 0); k <= min(e+3, total-1); k++ {
					around[k] = float32(math.Inf(-1))
				}
			}
			chunk := make([]float32, 2*rate)
			var dst []float32
			var got int64 // outputs so far
			keep := func(out []float32) {
				for k := range around {
					if k >= got && k < got+int64(len(out)) {
						around[k] = out[k-got]
					}
				}
				got += int64(len(out))
			}
			for pos := int64(0); pos < n; {
				m := min(n-pos, 1+rng.Int64N(int64(len(chunk))))
				c := chunk[:m]
				clear(c)
				for _, at := range impulses {
					if at >= pos && at < pos+m {
						c[at-pos] = 1
					}
				}
				dst = r.Process(dst[:0], c)
				keep(dst)
				pos += m
			}
			dst = r.Flush(dst[:0])
			keep(dst)
			if got != total {
				t.Fatalf("%d outputs for an hour at %d Hz, want %d", got, rate, total)
			}
			for _, at := range impulses {
				want := float64(at) * 16000 / float64(rate)
				e := int64(math.Round(want))
				peak := max(e-3, 0)
				for k := peak; k <= min(e+3, total-1); k++ {
					if around[k] > around[peak] {
						peak = k
					}
				}
				if math.Abs(float64(peak)-want) > 0.5+1e-9 {
					t.Errorf("impulse at input %d peaks at output %d, want %.2f", at, peak, want)
				}
			}
		})
	}
}

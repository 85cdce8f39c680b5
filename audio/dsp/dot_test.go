package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDot checks the dot product in use (AVX2/FMA where the CPU has it)
// against the plain Go loop, for every length up to a few filters' worth
// and at unaligned starts.
func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 400)
	c := make([]float32, 400)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		c[i] = float32(rng.NormFloat64())
	}
	for n := 0; n <= 300; n++ {
		for _, off := range []int{0, 1, 3} {
			cc, xx := c[off:off+n], x[2*off:]
			got, want := dot(cc, xx), dotGeneric(cc, xx)
			var mag float64
			for k := range cc {
				mag += math.Abs(float64(cc[k] * xx[k]))
			}
			if d := math.Abs(float64(got - want)); d > 1e-5*mag+1e-30 {
				t.Fatalf("n=%d off=%d: dot %g, generic %g", n, off, got, want)
			}
		}
	}
	t.Logf("AVX2/FMA in use: %v", haveFMA)
}

// TestDot2 checks the paired dot product against two plain ones.
func TestDot2(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]float32, 1300)
	for i := range buf {
		buf[i] = float32(rng.NormFloat64())
	}
	for n := 0; n <= 300; n++ {
		c1, x1, c2, x2 := buf[0:n], buf[301:], buf[603:603+n], buf[905:]
		a, b := dot2(c1, x1, c2, x2)
		for _, p := range []struct {
			got  float32
			c, x []float32
		}{{a, c1, x1}, {b, c2, x2}} {
			want := dotGeneric(p.c, p.x)
			var mag float64
			for k := range p.c {
				mag += math.Abs(float64(p.c[k] * p.x[k]))
			}
			if d := math.Abs(float64(p.got - want)); d > 1e-5*mag+1e-30 {
				t.Fatalf("n=%d: dot2 %g, generic %g", n, p.got, want)
			}
		}
	}
}

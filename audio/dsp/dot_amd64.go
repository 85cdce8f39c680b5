//go:build !purego

package dsp

import "golang.org/x/sys/cpu"

// haveFMA selects the AVX2/FMA inner loop, which resamples several times
// faster than dotGeneric: importing an hour of audio is dominated by it.
var haveFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotFMA is dotGeneric for n elements with AVX2 and FMA (dot_amd64.s).
//
//go:noescape
func dotFMA(c, x *float32, n int) float32

// dot returns Σ c[k]·x[k] over len(c) elements; len(x) must be at least
// len(c).
func dot(c, x []float32) float32 {
	if !haveFMA || len(c) == 0 {
		return dotGeneric(c, x)
	}
	x = x[:len(c)]
	return dotFMA(&c[0], &x[0], len(c))
}

// dot2FMA is two dotFMAs at once; n must be a multiple of 8.
//
//go:noescape
func dot2FMA(c1, x1, c2, x2 *float32, n int) (a, b float32)

// dot2 returns dot(c1, x1) and dot(c2, x2); c1 and c2 have the same length.
func dot2(c1, x1, c2, x2 []float32) (a, b float32) {
	n := len(c1)
	if !haveFMA || n == 0 || n%8 != 0 {
		return dotGeneric(c1, x1), dotGeneric(c2, x2)
	}
	c2, x1, x2 = c2[:n], x1[:n], x2[:n]
	return dot2FMA(&c1[0], &x1[0], &c2[0], &x2[0], n)
}

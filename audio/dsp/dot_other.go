//go:build !amd64 || purego

package dsp

// dot returns Σ c[k]·x[k] over len(c) elements; len(x) must be at least
// len(c). (arm64 fuses the multiply-adds of dotGeneric by itself.)
func dot(c, x []float32) float32 { return dotGeneric(c, x) }

// dot2 returns dot(c1, x1) and dot(c2, x2); c1 and c2 have the same length.
func dot2(c1, x1, c2, x2 []float32) (a, b float32) {
	return dotGeneric(c1, x1), dotGeneric(c2, x2)
}

// haveFMA: no vector inner loop on this architecture.
const haveFMA = false

package dsp

// dotGeneric is the filter's inner loop in plain Go: four accumulators hide
// the latency of the floating-point adds, and re-slicing lets the compiler
// drop bounds checks. len(x) must be at least len(c).
func dotGeneric(c, x []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(c); i += 8 {
		cc := c[i : i+8 : i+8]
		xx := x[i : i+8 : i+8]
		s0 += cc[0]*xx[0] + cc[4]*xx[4]
		s1 += cc[1]*xx[1] + cc[5]*xx[5]
		s2 += cc[2]*xx[2] + cc[6]*xx[6]
		s3 += cc[3]*xx[3] + cc[7]*xx[7]
	}
	for ; i < len(c); i++ {
		s0 += c[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

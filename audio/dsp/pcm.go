package dsp

import "math"

// Downmix averages interleaved frames of the given number of channels into
// mono, appending to dst. Averaging (rather than summing) keeps a signal
// present on every channel at its level and can never clip. A trailing
// partial frame is ignored, and channels < 1 appends nothing; callers hand
// over whole frames.
func Downmix(dst, interleaved []float32, channels int) []float32 {
	switch {
	case channels < 1:
		return dst
	case channels == 1:
		return append(dst, interleaved...)
	case channels == 2:
		for i := 0; i+1 < len(interleaved); i += 2 {
			dst = append(dst, (interleaved[i]+interleaved[i+1])*0.5)
		}
		return dst
	}
	scale := 1 / float32(channels)
	for i := 0; i+channels <= len(interleaved); i += channels {
		var s float32
		for _, v := range interleaved[i : i+channels] {
			s += v
		}
		dst = append(dst, s*scale)
	}
	return dst
}

// ToInt16 converts samples in [-1, 1) to 16-bit PCM (full scale 32768),
// rounding to nearest, and appends them to dst. Samples beyond the 16-bit
// range are clamped and counted in clipped, so callers can warn about a
// level set too high. NaN becomes silence.
func ToInt16(dst []int16, in []float32) (out []int16, clipped int) {
	for _, v := range in {
		x := float64(v) * 32768
		switch {
		case x >= 32767.5:
			dst = append(dst, math.MaxInt16)
			clipped++
		case x < -32768.5:
			dst = append(dst, math.MinInt16)
			clipped++
		case x != x: // NaN
			dst = append(dst, 0)
		default:
			dst = append(dst, int16(math.RoundToEven(x)))
		}
	}
	return dst, clipped
}

package recognize

import "math"

// resampler converts mono samples in [-1, 1] at any rate to SampleRate. Going
// down it averages the input samples within half an output period of each
// output sample (a centred box filter: crude, but it keeps the energy contour
// the VAD needs, and no delay); going up it interpolates linearly. Positions are exact integer ratios, so hours of
// audio do not drift.
type resampler struct {
	in  int64 // input rate
	out []int16
	n   int64 // input samples seen

	// down
	sum    float64
	count  int
	bucket int64

	// up
	prev float64
	next int64 // next output index
}

func newResampler(rate int) *resampler {
	return &resampler{in: int64(rate)}
}

func (r *resampler) push(x []float64) {
	switch {
	case r.in == SampleRate:
		for _, v := range x {
			r.out = append(r.out, toInt16(v))
		}
	case r.in > SampleRate:
		for _, v := range x {
			b := (2*r.n*SampleRate + r.in) / (2 * r.in)
			if b != r.bucket && r.count > 0 {
				r.out = append(r.out, toInt16(r.sum/float64(r.count)))
				r.sum, r.count = 0, 0
			}
			r.bucket = b
			r.sum += v
			r.count++
			r.n++
		}
		return
	default:
		for _, v := range x {
			if r.n > 0 {
				// Outputs whose position lies in [n-1, n) fall between
				// the previous sample and this one.
				for r.next*r.in < r.n*SampleRate {
					frac := float64(r.next*r.in-(r.n-1)*SampleRate) / SampleRate
					r.out = append(r.out, toInt16(r.prev+(v-r.prev)*frac))
					r.next++
				}
			}
			r.prev = v
			r.n++
		}
		return
	}
	r.n += int64(len(x))
}

func (r *resampler) finish() []int16 {
	switch {
	case r.in > SampleRate && r.count > 0:
		r.out = append(r.out, toInt16(r.sum/float64(r.count)))
		// The last bucket may lie past the end: n input samples make
		// ceil(n·16000/in) output samples.
		r.out = r.out[:min(len(r.out), int((r.n*SampleRate+r.in-1)/r.in))]
	case r.in < SampleRate:
		for r.n > 0 && r.next*r.in < r.n*SampleRate {
			r.out = append(r.out, toInt16(r.prev))
			r.next++
		}
	}
	return r.out
}

func toInt16(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v*32768))))
}

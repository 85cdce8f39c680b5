package dsp

import (
	"errors"
	"fmt"
	"math"
)

// ErrRate reports a sample rate the resampler cannot handle.
var ErrRate = errors.New("unsupported sample rate")

// Rates the resampler accepts. Below MinRate there is no speech left to
// keep; above MaxRate no capture device or audio file we expect would be.
const (
	MinRate = 4000
	MaxRate = 384000
)

// Filter design. The stopband starts at half the lower of the two rates
// (8 kHz when converting to 16 kHz), so nothing above the output's Nyquist
// frequency folds back into it; the passband ends at 80 % of that (6.4
// kHz), which keeps all of speech while giving the filter a transition band
// wide enough to stay short. 70 dB is designed for so that the ≥ 60 dB the
// product promises holds with margin at the band edge.
const (
	stopbandDB   = 70
	passFraction = 0.80
	// maxExactPhases bounds the polyphase table for an exact rational ratio
	// L/M; ratios needing more phases (odd device rates such as 44056 Hz)
	// interpolate linearly between interpPhases phases instead, which keeps
	// the table small and adds no measurable error (a 1 kHz tone from
	// 44056 Hz comes out within -78 dB of the ideal, as from 44100 Hz).
	maxExactPhases = 1024
	interpPhases   = 512
)

// Resampler converts a stream of mono float32 samples from one rate to
// another with a Kaiser-windowed sinc filter evaluated in polyphase form.
//
// The position of every output sample is kept as an exact integer pair
// (input index, phase in units of 1/L of an input sample), so the output
// never drifts from the input however long the stream runs: after n input
// samples and Flush, exactly ceil(n·out/in) samples have come out, and
// output sample j sits at input time j·in/out with no delay. The filter is
// centred on each output's time, so the first output waits for half a filter
// (a few milliseconds of input) and Flush pads the end with silence.
//
// A Resampler is not safe for concurrent use.
type Resampler struct {
	inRate, outRate int
	l, m            int64 // output/input = l/m, reduced
	passthrough     bool

	taps  int       // coefficients per phase (a multiple of 8)
	half  int       // taps/2
	rows  int       // phases in the table
	exact bool      // rows == l: one row per phase; else interpolate rows
	coef  []float32 // rows(+1 when interpolating) × taps

	buf  []float32 // input from index base on, history included
	base int64
	i    int64 // input index of the next output
	ph   int64 // and its phase, 0 ≤ ph < l
	n    int64 // input samples received since the stream began
}

// NewResampler returns a resampler from inRate to outRate (both in Hz,
// between MinRate and MaxRate). Equal rates pass samples through unchanged.
func NewResampler(inRate, outRate int) (*Resampler, error) {
	if inRate < MinRate || inRate > MaxRate || outRate < MinRate || outRate > MaxRate {
		return nil, fmt.Errorf("resample %d Hz to %d Hz: rates must lie between %d and %d Hz: %w",
			inRate, outRate, MinRate, MaxRate, ErrRate)
	}
	return newResampler(inRate, outRate, kaiserTaps(inRate, outRate)), nil
}

// newResampler builds a resampler with a filter taps input samples long.
func newResampler(inRate, outRate, taps int) *Resampler {
	g := gcd(inRate, outRate)
	r := &Resampler{
		inRate:  inRate,
		outRate: outRate,
		l:       int64(outRate / g),
		m:       int64(inRate / g),
	}
	if inRate == outRate {
		r.passthrough = true
		return r
	}
	r.design(taps)
	r.Reset()
	return r
}

// InRate returns the input sample rate.
func (r *Resampler) InRate() int { return r.inRate }

// OutRate returns the output sample rate.
func (r *Resampler) OutRate() int { return r.outRate }

// Taps returns the filter length in input samples (0 for a passthrough).
func (r *Resampler) Taps() int { return r.taps }

// OutputLen returns how many samples a whole stream of n input samples
// yields once flushed: ceil(n·out/in).
func (r *Resampler) OutputLen(n int64) int64 {
	if r.passthrough {
		return n
	}
	return ceilDiv(n*r.l, r.m)
}

// Reset forgets the stream, as if the resampler were new.
func (r *Resampler) Reset() {
	if r.passthrough {
		return
	}
	// History before the first sample is silence: half-1 zeros so the first
	// output (at input index 0) sees its whole left wing.
	r.buf = append(r.buf[:0], make([]float32, r.half-1)...)
	r.base = -int64(r.half - 1)
	r.i, r.ph, r.n = 0, 0, 0
}

// Process appends to dst the output that in makes available and returns the
// extended slice. State is kept between calls, so feeding a stream in any
// chunking gives the same samples as feeding it at once.
func (r *Resampler) Process(dst, in []float32) []float32 {
	if r.passthrough {
		return append(dst, in...)
	}
	r.buf = append(r.buf, in...)
	r.n += int64(len(in))
	dst = r.run(dst, r.n)
	r.compact()
	return dst
}

// Flush ends the stream: it pads the input with silence, appends the
// remaining output (so the total is exactly OutputLen of the input) and
// resets the resampler for a new stream.
func (r *Resampler) Flush(dst []float32) []float32 {
	if r.passthrough {
		return dst
	}
	r.buf = append(r.buf, make([]float32, r.half)...)
	dst = r.run(dst, r.n)
	r.Reset()
	return dst
}

// run appends every output whose filter window lies inside buf and whose
// time is before input index end. Outputs are computed two at a time where
// possible, which lets the vector inner loop overlap their latencies.
func (r *Resampler) run(dst []float32, end int64) []float32 {
	last := r.base + int64(len(r.buf)) - 1 // highest input index held
	taps, half := r.taps, int64(r.half)
	ready := func(i int64) bool { return i+half <= last && i < end }
	window := func(i int64) []float32 {
		s := int(i - half + 1 - r.base)
		return r.buf[s : s+taps]
	}
	for ready(r.i) {
		x := window(r.i)
		if !r.exact {
			// Blend the two table rows around the phase; the integer product
			// cannot overflow: ph < l ≤ MaxRate and rows ≤ interpPhases.
			pos := r.ph * int64(r.rows)
			k := int(pos/r.l) * taps
			f := float32(pos%r.l) / float32(r.l)
			a, b := dot2(r.coef[k:k+taps], x, r.coef[k+taps:k+2*taps], x)
			dst = append(dst, a+f*(b-a))
			r.advance()
			continue
		}
		k := int(r.ph) * taps
		c := r.coef[k : k+taps]
		i2, ph2 := r.next(r.i, r.ph)
		if !ready(i2) {
			dst = append(dst, dot(c, x))
			r.advance()
			continue
		}
		k2 := int(ph2) * taps
		a, b := dot2(c, x, r.coef[k2:k2+taps], window(i2))
		dst = append(dst, a, b)
		r.i, r.ph = r.next(i2, ph2)
	}
	return dst
}

// next returns the position of the output after the one at (i, ph).
func (r *Resampler) next(i, ph int64) (int64, int64) {
	ph += r.m
	if ph >= r.l {
		i += ph / r.l
		ph %= r.l
	}
	return i, ph
}

func (r *Resampler) advance() { r.i, r.ph = r.next(r.i, r.ph) }

// compact drops input no future output needs, keeping buf small.
func (r *Resampler) compact() {
	keep := r.i - int64(r.half) + 1 // first input index still needed
	drop := int(keep - r.base)
	if drop <= 0 {
		return
	}
	if drop > len(r.buf) {
		// Outputs can skip past the held input when decimating; the skipped
		// samples have not arrived yet, so there is nothing to keep.
		drop = len(r.buf)
	}
	n := copy(r.buf, r.buf[drop:])
	r.buf = r.buf[:n]
	r.base += int64(drop)
}

// band returns the passband and stopband edges in Hz.
func band(inRate, outRate int) (fPass, fStop float64) {
	fStop = float64(min(inRate, outRate)) / 2
	return fStop * passFraction, fStop
}

// kaiserTaps is Kaiser's estimate of the filter length, in input samples,
// for the attenuation and transition band, rounded up to a multiple of 8.
func kaiserTaps(inRate, outRate int) int {
	fPass, fStop := band(inRate, outRate)
	dw := 2 * math.Pi * (fStop - fPass) / float64(inRate)
	n := int(math.Ceil((stopbandDB-7.95)/(2.285*dw))) + 1
	// A multiple of 8 fills the vector lanes of the inner loop exactly.
	return (n + 7) &^ 7
}

// design fills the polyphase table for a filter n input samples long.
func (r *Resampler) design(n int) {
	fPass, fStop := band(r.inRate, r.outRate)
	r.taps, r.half = n, n/2
	beta := 0.1102 * (stopbandDB - 8.7)
	fc := (fPass + fStop) / 2 / float64(r.inRate) // cutoff in cycles per input sample

	if r.l <= maxExactPhases {
		r.rows, r.exact = int(r.l), true
	} else {
		r.rows = interpPhases
	}
	nrows := r.rows
	if !r.exact {
		nrows++ // the row for fraction 1, so row+1 always exists
	}
	r.coef = make([]float32, nrows*n)
	i0b := besselI0(beta)
	halfW := float64(r.half)
	for p := range nrows {
		frac := float64(p) / float64(r.rows)
		row := r.coef[p*n : (p+1)*n]
		var sum float64
		vals := make([]float64, n)
		for k := range n {
			// Distance from the output's time to tap k's input sample.
			d := frac + float64(r.half-1-k)
			v := 0.0
			if t := d / halfW; t > -1 && t < 1 {
				v = 2 * fc * sinc(2*fc*d) * besselI0(beta*math.Sqrt(1-t*t)) / i0b
			}
			vals[k] = v
			sum += v
		}
		// Unity gain at DC for every phase, so a steady level does not
		// ripple as the phase cycles.
		for k, v := range vals {
			row[k] = float32(v / sum)
		}
	}
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0, by
// its power series (converges quickly for the β values used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 200; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

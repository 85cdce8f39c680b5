package capture

import (
	"math/bits"
	"sync/atomic"
)

// Counters is what a stream's audio thread has seen so far.
type Counters struct {
	// Callbacks counts audio callbacks: a device whose count stops
	// growing has gone away.
	Callbacks uint64
	// Overruns counts buffers the full ring turned away and OverrunFrames
	// the frames in them; Overflows counts buffers the device flagged as
	// having lost input before them.
	Overruns, OverrunFrames, Overflows uint64
}

// ringState is the part of a ring shared with the audio thread. For
// PortAudio it lives in C memory and is written by the C callback
// (pa_capture.h declares the same layout), so its fields must stay six
// 64-bit counters in this order.
type ringState struct {
	// head counts samples ever written (producer), tail samples ever read
	// (consumer). Both only grow; head-tail is the fill level.
	head, tail                                atomic.Uint64
	calls, overruns, overrunFrames, overflows atomic.Uint64
}

// ring is a single-producer single-consumer queue of interleaved float32
// samples. The producer is the audio callback, which must never block,
// allocate or take a lock, so the two sides meet only through two atomic
// counters; the storage is allocated before the stream starts.
type ring struct {
	st       *ringState
	buf      []float32
	mask     uint64
	channels int
}

// ringSize is the power of two holding at least n samples, so that positions
// wrap with a mask instead of a division.
func ringSize(n int) int {
	return 1 << bits.Len64(uint64(max(n, 2)-1))
}

// newRing returns a ring in Go memory holding at least n samples of
// channels-channel audio.
func newRing(n, channels int) *ring {
	size := ringSize(n)
	return &ring{st: new(ringState), buf: make([]float32, size), mask: uint64(size - 1), channels: channels}
}

// write is the producer side, called once per device buffer: it appends all
// of p or, when it does not fit, nothing. A partly written buffer would
// splice unrelated audio together, while a dropped one is a clean gap that
// is counted as an overrun. scribe_capture_cb in pa_capture.c is the same
// code in C.
func (r *ring) write(p []float32, overflow bool) {
	r.st.calls.Add(1)
	if overflow {
		r.st.overflows.Add(1)
	}
	head := r.st.head.Load()
	tail := r.st.tail.Load()
	if uint64(len(p)) > uint64(len(r.buf))-(head-tail) {
		r.st.overruns.Add(1)
		r.st.overrunFrames.Add(uint64(len(p) / r.channels))
		return
	}
	start := head & r.mask
	n := copy(r.buf[start:], p)
	copy(r.buf, p[n:])
	r.st.head.Store(head + uint64(len(p)))
}

// read moves up to len(p) samples, whole frames only, into p and returns
// how many.
func (r *ring) read(p []float32) int {
	p = p[:len(p)-len(p)%r.channels]
	tail := r.st.tail.Load()
	avail := r.st.head.Load() - tail
	if avail == 0 {
		return 0
	}
	if uint64(len(p)) < avail {
		avail = uint64(len(p))
	}
	start := tail & r.mask
	end := start + avail
	var n int
	if end <= uint64(len(r.buf)) {
		n = copy(p, r.buf[start:end])
	} else {
		n = copy(p, r.buf[start:])
		n += copy(p[n:], r.buf[:end-uint64(len(r.buf))])
	}
	r.st.tail.Store(tail + uint64(n))
	return n
}

func (r *ring) counters() Counters {
	return Counters{
		Callbacks:     r.st.calls.Load(),
		Overruns:      r.st.overruns.Load(),
		OverrunFrames: r.st.overrunFrames.Load(),
		Overflows:     r.st.overflows.Load(),
	}
}

package capture

import (
	"math/rand/v2"
	"testing"
)

func TestRingWrapsAndRefusesWhatDoesNotFit(t *testing.T) {
	if n := ringSize(5); n != 8 {
		t.Errorf("ringSize(5) = %d, want 8", n)
	}
	r := newRing(5, 1) // rounds up to 8
	if len(r.buf) != 8 {
		t.Fatalf("size %d, want 8", len(r.buf))
	}
	out := make([]float32, 8)
	r.write([]float32{1, 2, 3, 4, 5, 6}, false)
	if c := r.counters(); c.Overruns != 0 {
		t.Fatal("write of 6 into an empty ring of 8 failed")
	}
	if n := r.read(out[:4]); n != 4 || out[0] != 1 || out[3] != 4 {
		t.Fatalf("read %d: %v", n, out[:n])
	}
	// 2 left; 6 more fit exactly, wrapping around the end.
	r.write([]float32{7, 8, 9, 10, 11, 12}, false)
	if c := r.counters(); c.Overruns != 0 {
		t.Fatal("write that fits exactly failed")
	}
	r.write([]float32{13}, true)
	if c := r.counters(); c != (Counters{Callbacks: 3, Overruns: 1, OverrunFrames: 1, Overflows: 1}) {
		t.Fatalf("after a write into a full ring: %+v", c)
	}
	n := r.read(out)
	want := []float32{5, 6, 7, 8, 9, 10, 11, 12}
	if n != 8 {
		t.Fatalf("read %d, want 8", n)
	}
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("read %v, want %v", out[:n], want)
		}
	}
	if n := r.read(out); n != 0 {
		t.Fatalf("read %d from an empty ring", n)
	}
}

// TestRingConcurrent runs a producer and a consumer at once (under -race):
// the consumer sees a subsequence of whole buffers, in order, never a torn one.
func TestRingConcurrent(t *testing.T) {
	r := newRing(1<<10, 1)
	const buffers = 20000
	done := make(chan int)
	go func() {
		seq := 0
		dropped := 0
		rnd := rand.New(rand.NewPCG(1, 2))
		buf := make([]float32, 0, 256)
		for b := range buffers {
			// Each buffer: a header with its number and length, then
			// the samples counting up from the sequence so far.
			n := 2 + rnd.IntN(200)
			buf = buf[:0]
			buf = append(buf, float32(b), float32(n))
			for i := range n - 2 {
				buf = append(buf, float32(seq+i))
			}
			before := r.counters().Overruns
			r.write(buf, false)
			if r.counters().Overruns == before {
				seq += n - 2
			} else {
				dropped++
			}
		}
		done <- dropped
	}()
	var got []float32
	out := make([]float32, 64)
	dropped := -1
	for dropped < 0 || r.st.head.Load() != r.st.tail.Load() {
		select {
		case dropped = <-done:
		default:
		}
		n := r.read(out)
		got = append(got, out[:n]...)
	}
	last, seq, kept := -1, 0, 0
	for i := 0; i < len(got); {
		b, n := int(got[i]), int(got[i+1])
		if b <= last || i+n > len(got) {
			t.Fatalf("buffer %d after %d at %d (len %d): out of order or torn", b, last, i, n)
		}
		for k := range n - 2 {
			if got[i+2+k] != float32(seq+k) {
				t.Fatalf("buffer %d sample %d = %v, want %d", b, k, got[i+2+k], seq+k)
			}
		}
		last, seq, kept = b, seq+n-2, kept+1
		i += n
	}
	if kept+dropped != buffers {
		t.Fatalf("kept %d + dropped %d != %d buffers", kept, dropped, buffers)
	}
	t.Logf("%d buffers kept, %d dropped", kept, dropped)
}

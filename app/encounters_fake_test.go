package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/capture"
)

// fakeMics is a capture.Backend whose audio the test pushes, standing in
// for the audio thread.
type fakeMics struct {
	mu     sync.Mutex
	devs   []capture.Device
	opened chan *fakeMic
}

var _ capture.Backend = (*fakeMics)(nil)

func newFakeMics(devs ...capture.Device) *fakeMics {
	return &fakeMics{devs: devs, opened: make(chan *fakeMic, 16)}
}

func (b *fakeMics) Devices(ctx context.Context) ([]capture.Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.devs), nil
}

func (b *fakeMics) Open(ctx context.Context, name string, f capture.Format) (capture.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.devs, func(d capture.Device) bool { return (name == "" && d.Default) || d.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("%w: %q", capture.ErrDeviceNotFound, name)
	}
	d := b.devs[i]
	if f.SampleRate <= 0 {
		f.SampleRate = d.SampleRate
	}
	if f.Channels <= 0 {
		f.Channels = min(d.Channels, 2)
	}
	m := &fakeMic{dev: d, format: f}
	b.opened <- m
	return m, nil
}

// mic waits for the stream a recording opened.
func (b *fakeMics) mic(t *testing.T) *fakeMic {
	t.Helper()
	select {
	case m := <-b.opened:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no microphone was opened")
		return nil
	}
}

type fakeMic struct {
	dev    capture.Device
	format capture.Format
	mu     sync.Mutex
	// queued is pushed audio not yet Read: unbounded, so a test pushing
	// faster than real time never overruns.
	queued   []float32
	counters capture.Counters
	started  bool
	closed   bool
	dead     bool // unplugged: no more callbacks
	stop     chan struct{}
}

// unplug makes the device go silent, as a pulled USB microphone does: its
// callbacks stop.
func (m *fakeMic) unplug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = true
}

// setDevices changes the devices plugged in.
func (b *fakeMics) setDevices(devs ...capture.Device) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.devs = devs
}

func (m *fakeMic) Device() capture.Device { return m.dev }
func (m *fakeMic) Format() capture.Format { return m.format }

func (m *fakeMic) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("fake microphone closed")
	}
	m.started = true
	m.stop = make(chan struct{})
	// A live device calls back all the time; empty buffers between the
	// test's pushes keep this one from looking unplugged.
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.push(nil)
			}
		}
	}()
	return nil
}

func (m *fakeMic) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started && !m.closed {
		close(m.stop)
	}
	m.closed = true
	return nil
}

// push delivers a buffer as the audio thread would; false when the stream
// is not running.
func (m *fakeMic) push(in []float32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.closed || m.dead {
		return false
	}
	m.counters.Callbacks++
	m.queued = append(m.queued, in...)
	return true
}

func (m *fakeMic) Read(p []float32) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	p = p[:len(p)-len(p)%m.format.Channels]
	n := copy(p, m.queued)
	m.queued = m.queued[n:]
	return n
}

func (m *fakeMic) Counters() capture.Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counters
}

// tone pushes d of a sine at hz and amplitude amp in 20 ms buffers, as a
// device would, every channel alike.
func (m *fakeMic) tone(t *testing.T, hz, amp float64, d time.Duration) {
	t.Helper()
	rate, ch := m.format.SampleRate, m.format.Channels
	n := int(rate * d.Seconds())
	chunk := int(rate / 50)
	buf := make([]float32, 0, chunk*ch)
	for start := 0; start < n; start += chunk {
		buf = buf[:0]
		for i := start; i < min(start+chunk, n); i++ {
			v := float32(amp * math.Sin(2*math.Pi*hz*float64(i)/rate))
			for range ch {
				buf = append(buf, v)
			}
		}
		if !m.push(buf) {
			t.Fatalf("push to %q: the stream is not running", m.dev.Name)
		}
	}
}

package capture

/*
#cgo pkg-config: portaudio-2.0
#include "pa_capture.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/gordonklaus/portaudio"

	"github.com/nextvisit/scribe/audio/internal/pa"
)

// PortAudio is the Backend for real microphones. Devices are listed through
// github.com/gordonklaus/portaudio; streams are opened in C (pa_capture.c)
// so that the audio callback is plain C writing into the ring: the binding's
// callback enters Go through reflection and a lock on every buffer, and it
// passes its stream number as a pointer, which -race (checkptr) rejects for
// every stream after the first.
//
// PortAudio scans devices when it is initialised and never again, so this
// backend initialises it only while it is in use (reference counted across
// Devices calls and open streams): once the last stream closes, the next
// Devices or Open sees the devices plugged in since.
type PortAudio struct {
	log *slog.Logger
}

var _ Backend = (*PortAudio)(nil)

// NewPortAudio returns the PortAudio backend. logger may be nil.
func NewPortAudio(logger *slog.Logger) *PortAudio {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PortAudio{log: logger}
}

// Devices lists PortAudio's input devices.
func (p *PortAudio) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pa.Lock()
	defer pa.Unlock()
	if err := pa.Acquire(); err != nil {
		return nil, err
	}
	devs, _, err := paInputs()
	return devs, errors.Join(err, pa.Release())
}

// paInputs lists input devices with the PortAudio infos behind them. Call
// with PortAudio acquired.
func paInputs() ([]Device, []*portaudio.DeviceInfo, error) {
	all, err := portaudio.Devices()
	if err != nil {
		return nil, nil, fmt.Errorf("list PortAudio devices: %w", err)
	}
	def, err := portaudio.DefaultInputDevice()
	if err != nil && !errors.Is(err, portaudio.NoDefaultInputDevice) {
		return nil, nil, fmt.Errorf("find the default input device: %w", err)
	}
	var devs []Device
	var infos []*portaudio.DeviceInfo
	for _, d := range all {
		if d.MaxInputChannels < 1 {
			continue
		}
		host := ""
		if d.HostApi != nil {
			host = d.HostApi.Name
		}
		devs = append(devs, Device{
			Name:       d.Name,
			Default:    def != nil && d.Index == def.Index,
			Channels:   d.MaxInputChannels,
			SampleRate: d.DefaultSampleRate,
			HostAPI:    host,
		})
		infos = append(infos, d)
	}
	return devs, infos, nil
}

// Open opens an input stream. Names are matched exactly; Choose does the
// forgiving matching before.
func (p *PortAudio) Open(ctx context.Context, name string, f Format) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pa.Lock()
	defer pa.Unlock()
	if err := pa.Acquire(); err != nil {
		return nil, err
	}
	s, err := p.open(name, f)
	if err != nil {
		return nil, errors.Join(err, pa.Release())
	}
	return s, nil
}

func (p *PortAudio) open(name string, f Format) (*paStream, error) {
	devs, infos, err := paInputs()
	if err != nil {
		return nil, err
	}
	if len(devs) == 0 {
		return nil, ErrNoDevice
	}
	// The default device, or the one of that name (the default one among
	// several, as Choose picks).
	i := -1
	for j, d := range devs {
		if (name == "" || d.Name == name) && (d.Default || (i < 0 && name != "")) {
			i = j
			if d.Default {
				break
			}
		}
	}
	if i < 0 {
		if name == "" {
			return nil, fmt.Errorf("%w: there is no default input device; pick one of %s", ErrDeviceNotFound, names(devs))
		}
		return nil, fmt.Errorf("%w: %q; available: %s", ErrDeviceNotFound, name, names(devs))
	}
	dev, info := devs[i], infos[i]
	if f.SampleRate <= 0 {
		f.SampleRate = info.DefaultSampleRate
	}
	if f.Channels <= 0 {
		f.Channels = min(info.MaxInputChannels, 2)
	}
	size := ringSize(int(f.SampleRate) * f.Channels * ringSeconds)
	c := C.scribe_capture_new(C.int(f.Channels), C.uint64_t(size))
	if c == nil {
		return nil, fmt.Errorf("open microphone %q: out of memory for a %d-sample buffer", dev.Name, size)
	}
	// High latency, at least 100 ms: recording is not interactive (the
	// meter can lag a tenth of a second), and larger device buffers mean
	// fewer wake-ups and survive a busy machine.
	latency := max(info.DefaultHighInputLatency, 100*time.Millisecond)
	if code := C.scribe_capture_open(c, C.int(info.Index), C.double(f.SampleRate), C.double(latency.Seconds())); code != C.paNoError {
		C.scribe_capture_free(c)
		return nil, fmt.Errorf("open microphone %q at %g Hz, %d ch: %w", dev.Name, f.SampleRate, f.Channels, paErr(code))
	}
	r := &ring{
		// The first six fields of scribe_capture are ringState's.
		st:       (*ringState)(unsafe.Pointer(c)),
		buf:      unsafe.Slice((*float32)(unsafe.Pointer(c.buf)), size),
		mask:     uint64(size - 1),
		channels: f.Channels,
	}
	return &paStream{c: c, ring: r, dev: dev, format: f, log: p.log}, nil
}

// scribe_capture must begin with ringState's six counters, in its order:
// these fail to compile if the two layouts drift apart.
var (
	_ [unsafe.Offsetof(ringState{}.tail)]struct{}          = [unsafe.Offsetof(C.scribe_capture{}.tail)]struct{}{}
	_ [unsafe.Offsetof(ringState{}.calls)]struct{}         = [unsafe.Offsetof(C.scribe_capture{}.calls)]struct{}{}
	_ [unsafe.Offsetof(ringState{}.overruns)]struct{}      = [unsafe.Offsetof(C.scribe_capture{}.overruns)]struct{}{}
	_ [unsafe.Offsetof(ringState{}.overrunFrames)]struct{} = [unsafe.Offsetof(C.scribe_capture{}.overrun_frames)]struct{}{}
	_ [unsafe.Offsetof(ringState{}.overflows)]struct{}     = [unsafe.Offsetof(C.scribe_capture{}.overflows)]struct{}{}
)

// paErr turns a PortAudio error code into an error.
func paErr(code C.PaError) error {
	if code == C.paUnanticipatedHostError {
		if info := C.Pa_GetLastHostErrorInfo(); info != nil && info.errorText != nil {
			return errors.New(C.GoString(info.errorText))
		}
	}
	return portaudio.Error(code)
}

// paStream is an open PortAudio input stream. It holds a PortAudio
// reference until Close.
type paStream struct {
	c      *C.scribe_capture
	ring   *ring
	dev    Device
	format Format
	log    *slog.Logger

	// mu orders Read and Counters against Close, which frees the ring.
	mu     sync.Mutex
	closed bool
	last   Counters // the counters at Close
}

var _ Stream = (*paStream)(nil)

func (s *paStream) Device() Device { return s.dev }
func (s *paStream) Format() Format { return s.format }

func (s *paStream) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("start microphone %q: stream is closed", s.dev.Name)
	}
	if code := C.Pa_StartStream(s.c.stream); code != C.paNoError {
		return fmt.Errorf("start microphone %q: %w", s.dev.Name, paErr(code))
	}
	return nil
}

func (s *paStream) Read(p []float32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0
	}
	return s.ring.read(p)
}

func (s *paStream) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.last
	}
	return s.ring.counters()
}

// Close aborts the stream (input needs no draining), frees the ring and
// releases PortAudio. the PortAudio lock is not held while the stream closes, so a dead
// device slow to close does not block opening another; the stream's
// PortAudio reference keeps PortAudio up meanwhile.
func (s *paStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	// Abort fails on a stream that never started; Close works regardless.
	if code := C.Pa_AbortStream(s.c.stream); code != C.paNoError && code != C.paStreamIsStopped {
		s.log.Debug("abort PortAudio stream", "device", s.dev.Name, "err", paErr(code))
	}
	if code := C.Pa_CloseStream(s.c.stream); code != C.paNoError {
		errs = append(errs, fmt.Errorf("close microphone %q: %w", s.dev.Name, paErr(code)))
	}
	// The callback cannot run any more: the ring can go.
	s.last = s.ring.counters()
	s.ring = nil
	C.scribe_capture_free(s.c)
	s.c = nil
	pa.Lock()
	if err := pa.Release(); err != nil {
		errs = append(errs, err)
	}
	pa.Unlock()
	return errors.Join(errs...)
}

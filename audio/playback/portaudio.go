package playback

/*
#cgo pkg-config: portaudio-2.0
#include <portaudio.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"unsafe"

	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/internal/pa"
)

// chunkDiv sets the write size: 1/chunkDiv of a second (20 ms). Writes
// block until the device has room, so this bounds how long a cancelled
// Play takes to notice.
const chunkDiv = 50

// PortAudio plays on the system's default output device through
// PortAudio's blocking API (Pa_WriteStream), called from Go directly: there
// is no audio callback to keep out of Go, as capture has.
//
// PortAudio is held for each Play through audio/internal/pa, the lock and
// count capture shares, so a recording and a playback nest instead of
// ending each other's streams, and never race on PortAudio's global state.
type PortAudio struct {
	log *slog.Logger
}

var _ Player = (*PortAudio)(nil)

// NewPortAudio returns the PortAudio player. logger may be nil.
func NewPortAudio(logger *slog.Logger) *PortAudio {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PortAudio{log: logger}
}

// output is the stream format a Play uses.
type output struct {
	device   C.PaDeviceIndex
	name     string
	rate     int
	channels int
	latency  float64 // seconds
}

// Play plays src on the default output device; see Player.
func (p *PortAudio) Play(ctx context.Context, src Source, sampleRate int) error {
	return p.playOn(ctx, src, sampleRate, defaultOutput)
}

// playOn is Play with the output format chosen by pick, which is called
// with PortAudio initialised and the PortAudio lock (audio/internal/pa) held.
func (p *PortAudio) playOn(ctx context.Context, src Source, sampleRate int, pick func(rate int) (output, error)) error {
	if src == nil {
		return errors.New("play: no audio given")
	}
	if sampleRate < dsp.MinRate || sampleRate > dsp.MaxRate {
		return fmt.Errorf("play: sample rate %d Hz is outside %d–%d Hz", sampleRate, dsp.MinRate, dsp.MaxRate)
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	pa.Lock()
	if err := pa.Acquire(); err != nil {
		pa.Unlock()
		return err
	}
	out, err := pick(sampleRate)
	if err != nil {
		err = errors.Join(err, pa.Release())
		pa.Unlock()
		return err
	}
	pa.Unlock()
	return errors.Join(p.play(ctx, src, sampleRate, out), lockedRelease())
}

func lockedRelease() error {
	pa.Lock()
	defer pa.Unlock()
	return pa.Release()
}

// defaultOutput picks the default output device and the format to play
// rate Hz mono on it: that format itself where the device takes it (no
// conversion here), else stereo, else the device's own rate (resampled
// here). Call with PortAudio initialised and the PortAudio lock (audio/internal/pa) held.
func defaultOutput(rate int) (output, error) {
	dev := C.Pa_GetDefaultOutputDevice()
	if dev == C.paNoDevice {
		return output{}, ErrNoOutput
	}
	info := C.Pa_GetDeviceInfo(dev)
	if info == nil || info.maxOutputChannels < 1 {
		return output{}, ErrNoOutput
	}
	o := output{device: dev, name: C.GoString(info.name), latency: float64(info.defaultHighOutputLatency)}
	native := int(info.defaultSampleRate)
	for _, f := range [][2]int{{rate, 1}, {rate, 2}, {native, 1}, {native, 2}} {
		o.rate, o.channels = f[0], f[1]
		if o.channels > int(info.maxOutputChannels) || o.rate < dsp.MinRate || o.rate > dsp.MaxRate {
			continue
		}
		par := o.params()
		if C.Pa_IsFormatSupported(nil, &par, C.double(o.rate)) == C.paFormatIsSupported {
			return o, nil
		}
	}
	return output{}, fmt.Errorf("the speaker %q plays neither %d Hz nor its own %d Hz, in mono or stereo — choose another output device in the system sound settings", o.name, rate, native)
}

func (o output) params() C.PaStreamParameters {
	var par C.PaStreamParameters
	par.device = o.device
	par.channelCount = C.int(o.channels)
	par.sampleFormat = C.paInt16
	par.suggestedLatency = C.PaTime(o.latency)
	return par
}

// play opens the stream in format out, writes src to it 20 ms at a time
// (converting rate and channels where out differs) and drains it.
func (p *PortAudio) play(ctx context.Context, src Source, rate int, out output) (err error) {
	var s unsafe.Pointer // a PaStream (void) *
	par := out.params()
	pa.Lock()
	code := C.Pa_OpenStream(&s, nil, &par, C.double(out.rate), C.paFramesPerBufferUnspecified, C.paNoFlag, nil, nil)
	pa.Unlock()
	if code != C.paNoError {
		return fmt.Errorf("open speaker %q at %d Hz, %d ch: %w", out.name, out.rate, out.channels, paErr(code))
	}
	drain := false
	defer func() {
		// Stop plays what is buffered (up to the stream's latency);
		// Abort drops it, at once.
		if drain {
			if code := C.Pa_StopStream(s); code != C.paNoError {
				err = errors.Join(err, fmt.Errorf("finish playing on %q: %w", out.name, paErr(code)))
			}
		} else if code := C.Pa_AbortStream(s); code != C.paNoError && code != C.paStreamIsStopped {
			p.log.Debug("abort PortAudio stream", "device", out.name, "err", paErr(code))
		}
		pa.Lock()
		defer pa.Unlock()
		if code := C.Pa_CloseStream(s); code != C.paNoError {
			err = errors.Join(err, fmt.Errorf("close speaker %q: %w", out.name, paErr(code)))
		}
	}()
	if code := C.Pa_StartStream(s); code != C.paNoError {
		return fmt.Errorf("start speaker %q: %w", out.name, paErr(code))
	}
	p.log.Debug("playing", "device", out.name, "rate", out.rate, "channels", out.channels, "source_rate", rate)

	var rs *dsp.Resampler
	if out.rate != rate {
		if rs, err = dsp.NewResampler(rate, out.rate); err != nil {
			return fmt.Errorf("play at %d Hz: %w", out.rate, err)
		}
	}
	in := make([]int16, rate/chunkDiv)
	var f32, res []float32
	var mono, frames []int16
	underflows := 0
	write := func(pcm []int16) error {
		if out.channels == 2 {
			frames = frames[:0]
			for _, v := range pcm {
				frames = append(frames, v, v)
			}
			pcm = frames
		}
		for len(pcm) > 0 {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			n := min(len(pcm)/out.channels, out.rate/chunkDiv)
			code := C.Pa_WriteStream(s, unsafe.Pointer(&pcm[0]), C.ulong(n))
			switch code {
			case C.paNoError:
			case C.paOutputUnderflowed:
				underflows++ // a gap heard, not an error
			default:
				return fmt.Errorf("play on %q: %w", out.name, paErr(code))
			}
			pcm = pcm[n*out.channels:]
		}
		return nil
	}
	for {
		n, rerr := src.Read(in)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return fmt.Errorf("play: %w", rerr)
		}
		pcm := in[:n]
		if rs != nil {
			f32 = f32[:0]
			for _, v := range pcm {
				f32 = append(f32, float32(v)/32768)
			}
			res = rs.Process(res[:0], f32)
			if rerr != nil {
				res = rs.Flush(res)
			}
			mono, _ = dsp.ToInt16(mono[:0], res)
			pcm = mono
		}
		if err := write(pcm); err != nil {
			return err
		}
		if rerr != nil {
			break
		}
	}
	if underflows > 0 {
		p.log.Debug("playback underflowed", "device", out.name, "times", underflows)
	}
	drain = true
	return nil
}

// paErr turns a PortAudio error code into an error.
func paErr(code C.PaError) error {
	if code == C.paUnanticipatedHostError {
		if info := C.Pa_GetLastHostErrorInfo(); info != nil && info.errorText != nil {
			return errors.New(C.GoString(info.errorText))
		}
	}
	return errors.New(C.GoString(C.Pa_GetErrorText(code)))
}

package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Device is an input device a Backend can open.
type Device struct {
	Name       string
	Default    bool    // the system's default input
	Channels   int     // most input channels the device offers
	SampleRate float64 // the device's native (default) rate
	HostAPI    string  // e.g. "ALSA", "Core Audio", "Windows WASAPI"
}

// Format is what an open stream delivers: interleaved float32 frames.
type Format struct {
	SampleRate float64
	Channels   int
}

// Backend is a source of input devices. The PortAudio backend is the real
// one; tests add others. Every implementation passes the same conformance
// suite (backend_test.go).
type Backend interface {
	// Devices lists the input devices, the system default marked.
	Devices(ctx context.Context) ([]Device, error)
	// Open opens the input device with exactly this name ("" = the system
	// default) in format f; a zero field means the device's native value
	// (channels capped at 2). A name that is not there is ErrDeviceNotFound.
	Open(ctx context.Context, name string, f Format) (Stream, error)
}

// Stream is an open input stream. From Start until Close, the device's
// audio thread copies every buffer into a preallocated lock-free ring (or
// counts it as an overrun when the ring is full) and does nothing else; Read
// takes the audio out.
type Stream interface {
	Device() Device // the device that was opened
	Format() Format // what Read returns
	Start() error
	// Read moves captured interleaved samples, whole frames only, into p
	// and returns how many; it never blocks. One goroutine reads.
	Read(p []float32) int
	// Counters reports what the audio thread has seen so far.
	Counters() Counters
	// Close stops the stream and releases the device; after it returns the
	// audio thread no longer touches the ring, Read returns 0 and Counters
	// the final counts. Closing again does nothing.
	Close() error
}

// ErrNoDevice means the machine has no input device at all.
//
//lint:ignore ST1005 the message is shown to the clinician as written.
var ErrNoDevice = errors.New("No microphone found — connect one or check the system sound settings.")

// ErrDeviceNotFound means no input device has the requested name; the
// wrapping error lists the ones there are.
var ErrDeviceNotFound = errors.New("microphone not found")

// ErrDeviceAmbiguous means a partial name matched several devices.
var ErrDeviceAmbiguous = errors.New("microphone name matches several devices")

// Choose picks a device by name: "" is the default (or the first device when
// none is marked default), then an exact name, then the one device whose name
// contains name, ignoring case.
func Choose(devs []Device, name string) (Device, error) {
	if len(devs) == 0 {
		return Device{}, ErrNoDevice
	}
	if name == "" {
		for _, d := range devs {
			if d.Default {
				return d, nil
			}
		}
		return devs[0], nil
	}
	if d, ok := byName(devs, name); ok {
		return d, nil
	}
	// A partial name must single out one name; one device can be listed
	// under several host APIs (Windows lists a microphone under MME,
	// DirectSound and WASAPI), so matches are counted by name.
	var found []string
	low := strings.ToLower(name)
	for _, d := range devs {
		if strings.Contains(strings.ToLower(d.Name), low) && !slices.Contains(found, d.Name) {
			found = append(found, d.Name)
		}
	}
	switch len(found) {
	case 1:
		d, _ := byName(devs, found[0])
		return d, nil
	case 0:
		return Device{}, fmt.Errorf("%w: %q; available: %s (run `scribe devices` and pass one of these names)", ErrDeviceNotFound, name, names(devs))
	default:
		return Device{}, fmt.Errorf("%w: %q matches %s; give more of the name", ErrDeviceAmbiguous, name, quoted(found))
	}
}

// byName finds the device called exactly name, the default one among
// several of that name.
func byName(devs []Device, name string) (Device, bool) {
	var first Device
	ok := false
	for _, d := range devs {
		if d.Name != name {
			continue
		}
		if d.Default {
			return d, true
		}
		if !ok {
			first, ok = d, true
		}
	}
	return first, ok
}

// names lists the devices' names, each once.
func names(devs []Device) string {
	var n []string
	for _, d := range devs {
		if !slices.Contains(n, d.Name) {
			n = append(n, d.Name)
		}
	}
	return quoted(n)
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

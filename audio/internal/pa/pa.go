// Package pa is the one lock and reference count on PortAudio's global
// state that capture and playback share: PortAudio counts its own
// initialisations but not safely across threads, and the Go binding's
// device cache is not safe for concurrent use.
package pa

import (
	"fmt"
	"sync"

	"github.com/gordonklaus/portaudio"
)

var (
	mu    sync.Mutex
	refs  int
	quiet sync.Once
)

// Lock serialises a call on PortAudio's global state (initialise,
// terminate, device queries, opening and closing streams).
func Lock() { mu.Lock() }

// Unlock ends what Lock began.
func Unlock() { mu.Unlock() }

// Acquire initialises PortAudio if nobody holds it. Call with Lock held.
func Acquire() error {
	quiet.Do(quietAudioLibs)
	if refs == 0 {
		if err := portaudio.Initialize(); err != nil {
			return fmt.Errorf("start PortAudio: %w", err)
		}
	}
	refs++
	return nil
}

// Release undoes Acquire; the last one terminates PortAudio. Call with
// Lock held.
func Release() error {
	refs--
	if refs > 0 {
		return nil
	}
	refs = 0
	if err := portaudio.Terminate(); err != nil {
		return fmt.Errorf("stop PortAudio: %w", err)
	}
	return nil
}

// Package journal keeps one encounter's audio on disk as it is recorded, so a
// visit survives a crash or power loss with at most about a second lost.
//
// A journal is a folder (0700) holding 16 kHz mono s16le WAV segments
// (seg-000001.wav, …, 0600) rotated every SegmentDuration, and manifest.json
// giving segment order, sample offsets and events (pauses, device changes,
// gaps, recovery). Audio is written straight to the open segment; at least
// every SyncInterval the segment's header sizes are rewritten and the file is
// fsynced, so after a crash it is a valid WAV short of at most the last
// interval. The manifest is replaced atomically (temp file, fsync, rename,
// folder fsync) at each new segment, event and close, and only after the audio
// it describes is durable, so it never claims audio the disk may not hold;
// between rewrites it may lag the segments, and Recover rebuilds it from them.
//
// All file I/O goes through Storage, the seam where encryption at rest will
// go. A journal has one Writer at a time; Readers may read it meanwhile.
package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SampleRate is the rate of all journal PCM: 16 kHz mono s16le.
const SampleRate = 16000

// Defaults for Options.
const (
	DefaultSegmentDuration = 30 * time.Second
	DefaultSyncInterval    = time.Second
)

// EventKind names what happened at an offset.
type EventKind string

// Event kinds. Start, End and Recovered are written by the journal itself
// (Create/Open, Close, Recover); the others by callers through Mark.
const (
	EventStart      EventKind = "start"
	EventPause      EventKind = "pause"
	EventResume     EventKind = "resume"
	EventDevice     EventKind = "device"
	EventGap        EventKind = "gap"
	EventOverrun    EventKind = "overrun"
	EventWriteError EventKind = "write-error"
	EventRecovered  EventKind = "recovered"
	EventEnd        EventKind = "end"
)

// Event is something that happened at a sample offset of the journal.
type Event struct {
	Kind EventKind `json:"kind"`
	// At is the sample offset (samples written before the event).
	At     int64     `json:"at"`
	Time   time.Time `json:"time"`
	Detail string    `json:"detail,omitempty"`
}

// Segment is one WAV file of the journal, holding samples
// [Start, Start+Samples) of the encounter.
type Segment struct {
	Name    string `json:"name"`
	Start   int64  `json:"start"`
	Samples int64  `json:"samples"`
}

// Manifest describes a journal.
type Manifest struct {
	// Version is the manifest format, currently 1.
	Version  int       `json:"version"`
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Segments []Segment `json:"segments"`
	Events   []Event   `json:"events"`
	// Samples is the journal's length; in a journal still being written the
	// stored manifest may lag the segments (Writer.Manifest does not).
	Samples int64 `json:"samples"`
	// Closed reports that every segment is final: set by Writer.Close and by
	// Recover. A journal found with Closed false was not shut down cleanly
	// (or is being written right now).
	Closed bool `json:"closed"`
	// Recovered reports that the journal was repaired after a crash at least
	// once; each repair also adds an EventRecovered.
	Recovered bool `json:"recovered"`
}

// Duration is the audio time the manifest covers.
func (m Manifest) Duration() time.Duration {
	return time.Duration(m.Samples) * time.Second / SampleRate
}

func (m Manifest) clone() Manifest {
	m.Segments = append([]Segment(nil), m.Segments...)
	m.Events = append([]Event(nil), m.Events...)
	return m
}

// Options configure a journal. The zero value is usable; Readers, Recover and
// Export only use Storage and Logger (and Now for the recovery event).
type Options struct {
	// SegmentDuration is how much audio each segment holds before the next
	// one starts (default 30 s).
	SegmentDuration time.Duration
	// SyncInterval is the longest audio stays written but not fsynced
	// (default 1 s).
	SyncInterval time.Duration
	// Storage performs all file I/O (default FileStorage).
	Storage Storage
	// Logger receives operational messages, never audio or patient data
	// (default: discard).
	Logger *slog.Logger
	// Now stamps events and the manifest (default time.Now).
	Now func() time.Time
}

// Sentinel errors, wrapped with the journal folder and what failed.
var (
	// ErrClosed: the Writer or Reader was closed.
	ErrClosed = errors.New("journal is closed")
	// ErrNeedsRecovery: the journal was not closed cleanly; call Recover.
	ErrNeedsRecovery = errors.New("journal was not closed cleanly; run Recover first")
	// ErrCorrupt: the journal is damaged beyond crash repair (or is not a
	// journal); the message names the file and the problem.
	ErrCorrupt = errors.New("journal is damaged")
)

type config struct {
	segSamples int64
	syncEvery  time.Duration
	st         Storage
	log        *slog.Logger
	now        func() time.Time
}

func (o Options) resolve() (config, error) {
	c := config{
		segSamples: int64(DefaultSegmentDuration / time.Second * SampleRate),
		syncEvery:  DefaultSyncInterval,
		st:         o.Storage,
		log:        o.Logger,
		now:        o.Now,
	}
	switch {
	case o.SegmentDuration < 0:
		return c, fmt.Errorf("segment duration %v is negative; use a positive duration or 0 for %v", o.SegmentDuration, DefaultSegmentDuration)
	case o.SegmentDuration > 0:
		c.segSamples = int64(o.SegmentDuration) * SampleRate / int64(time.Second)
		if c.segSamples < 1 {
			return c, fmt.Errorf("segment duration %v is shorter than one sample at %d Hz", o.SegmentDuration, SampleRate)
		}
		if c.segSamples > maxDataBytes/bytesPerSample {
			return c, fmt.Errorf("segment duration %v is too long for a WAV file; use at most %v", o.SegmentDuration,
				time.Duration(maxDataBytes/bytesPerSample)*time.Second/SampleRate)
		}
	}
	switch {
	case o.SyncInterval < 0:
		return c, fmt.Errorf("sync interval %v is negative; use a positive duration or 0 for %v", o.SyncInterval, DefaultSyncInterval)
	case o.SyncInterval > 0:
		c.syncEvery = o.SyncInterval
	}
	if c.st == nil {
		c.st = FileStorage{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

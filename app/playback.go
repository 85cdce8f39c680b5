package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/audio/playback"
)

// ErrPlaybackStopped ends a PlayRange that a newer PlayRange or
// StopPlayback stopped. It is not a failure: there is nothing to show.
var ErrPlaybackStopped = errors.New("playback stopped")

// playing is each Core's playback under way: one at a time per Core. It
// is kept here rather than in Core so that playback stays in this file;
// an entry lives only while its playback does.
var playing = struct {
	mu sync.Mutex
	m  map[*Core]*play
}{m: map[*Core]*play{}}

// play is one PlayRange under way.
type play struct {
	stop context.CancelCauseFunc
	done chan struct{} // closed once its audio has stopped
}

// PlayRange plays the audio of encounter id from from to to (offsets into
// the recording, pauses excluded, as transcript turns have them) on the
// default speaker, and returns when it has been played. A range running
// past the end of the recording is cut there. Any playback this Core has
// going is stopped first and returns ErrPlaybackStopped. The audio comes
// from the journal on this computer, read as it plays; a recording still
// under way plays up to what was recorded when PlayRange was called.
func (c *Core) PlayRange(ctx context.Context, id string, from, to time.Duration) error {
	if from < 0 || to <= from {
		return &inputError{msg: fmt.Sprintf("Cannot play from %s to %s — the start must be 0 or later and before the end.", offsetText(from), offsetText(to))}
	}
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return err
	}
	if err := c.audioGone(ctx, row); err != nil {
		return err
	}
	r, err := journal.OpenReader(c.journalDir(row), c.journalOptions())
	if err != nil {
		return explained("Cannot read this visit's recording on this computer: "+err.Error()+" — export it (scribe export) to check it.", err)
	}
	defer r.Close()
	start, end := durationSamples(from), min(durationSamples(to), r.Samples())
	if start >= end {
		return &inputError{msg: fmt.Sprintf("Cannot play from %s: the recording is only %s long.", offsetText(from), offsetText(samplesDuration(r.Samples())))}
	}

	ctx, finish := c.beginPlay(ctx)
	defer finish()
	err = playback.NewPortAudio(c.log.With("component", "playback")).
		Play(ctx, playback.NewSection(r, start, end-start), journal.SampleRate)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrPlaybackStopped), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, playback.ErrNoOutput):
		return explained(playback.ErrNoOutput.Error(), err)
	}
	return explained("Could not play the recording: "+err.Error()+" — check the speaker or headphones and the system sound settings, then try again.", err)
}

// StopPlayback stops the playback this Core has going, if any, and returns
// once its audio has stopped; its PlayRange returns ErrPlaybackStopped.
func (c *Core) StopPlayback() {
	playing.mu.Lock()
	p := playing.m[c]
	playing.mu.Unlock()
	if p != nil {
		p.stop(ErrPlaybackStopped)
		<-p.done
	}
}

// beginPlay makes this call the Core's playback: the previous one is
// stopped and has finished when it returns. finish ends this one.
func (c *Core) beginPlay(ctx context.Context) (context.Context, func()) {
	ctx, stop := context.WithCancelCause(ctx)
	p := &play{stop: stop, done: make(chan struct{})}
	playing.mu.Lock()
	prev := playing.m[c]
	playing.m[c] = p
	playing.mu.Unlock()
	if prev != nil {
		prev.stop(ErrPlaybackStopped)
		// Unconditionally: each playback waits for the one before, so
		// two never sound at once however many clicks come in; a stopped
		// Play ends within a write (20 ms).
		<-prev.done
	}
	return ctx, func() {
		stop(nil)
		playing.mu.Lock()
		if playing.m[c] == p {
			delete(playing.m, c)
		}
		playing.mu.Unlock()
		close(p.done)
	}
}

// durationSamples converts an offset to journal samples, rounding down.
func durationSamples(d time.Duration) int64 {
	return int64(d / (time.Second / journal.SampleRate))
}

// offsetText writes an offset as m:ss.s (tenths: turns can be that short).
func offsetText(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Round(100 * time.Millisecond)
	return fmt.Sprintf("%s%d:%04.1f", sign, int(d/time.Minute), (d % time.Minute).Seconds())
}

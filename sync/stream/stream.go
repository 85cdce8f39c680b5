// Package stream sends an encounter's audio to the live transcription service and hands back the
// turns it recognizes. It reads the audio from the encounter's journal, never from the microphone,
// so streaming while the visit is recorded and catching up after an outage are the same code: a
// session re-sends from the end of the last final turn, wherever that is.
//
// The protocol is DESIGN.md's "Live transcription protocol": a single-use token per connection,
// a WebSocket carrying PCM frames, KeepAlive while paused and Terminate at the end; Begin, Turn,
// Error and Termination from the server.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/api"
)

// SampleRate is the rate of the audio the stream sends: 16 kHz mono s16le, the journal's.
const SampleRate = 16000

// Word is one recognized word, at absolute sample offsets of the journal.
type Word struct {
	Text       string
	Start, End int64
	Confidence float64
}

// Turn is one turn of speech. Start and End are absolute sample offsets in the journal: those of its
// first and last word.
type Turn struct {
	Start, End int64
	Text       string
	Words      []Word
	Final      bool
}

// State is the connection's state, for the screen.
type State string

// States, in the order a stream usually goes through them.
const (
	StateConnecting State = "connecting"  // minting a token, dialing
	StateLive       State = "live"        // connected and sending audio as it is recorded
	StateCatchingUp State = "catching-up" // connected and behind the recording (after an outage, or an import)
	StateOffline    State = "offline"     // the service cannot be reached; the recording goes on
	StateEnded      State = "ended"       // everything recorded has been transcribed
)

// Sink receives what the stream learns. Its methods are called one at a time.
type Sink interface {
	// Partial is the turn in progress; the next Partial or a Final replaces it.
	Partial(t Turn)
	// Final is called once per final turn, in audio order, and must store it durably before
	// returning: the resume point advances only after it returns nil. On error the session ends
	// and the audio of the turn is sent again.
	Final(ctx context.Context, t Turn) error
	// State reports a change of connection state; err says why the stream is offline.
	State(s State, err error)
}

// Tokens mints one single-use streaming token per connection (api.Client.StreamingToken).
type Tokens func(ctx context.Context) (api.StreamingToken, error)

// Options configure Run. The zero value is usable.
type Options struct {
	// Logger receives connection events (offsets, session ids, errors), never transcripts.
	Logger *slog.Logger
	// Frame is the length of one audio frame, 50–250 ms (default 100 ms).
	Frame time.Duration
	// KeepAliveEvery is how often KeepAlive goes out while no audio does (paused), and the socket is
	// pinged (default 5 s; the server gives up after 30 s of silence).
	KeepAliveEvery time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, with full jitter (defaults 250 ms, 10 s).
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient dials the WebSocket (http.DefaultClient when nil).
	HTTPClient *http.Client
	// OfflineAfter is how many connection attempts in a row must fail before the state is
	// StateOffline (default 1).
	OfflineAfter int
}

// Defaults for Options left zero.
const (
	DefaultFrame          = 100 * time.Millisecond
	DefaultKeepAliveEvery = 5 * time.Second
	DefaultMinBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
)

const (
	minFrame = 50 * time.Millisecond
	maxFrame = 250 * time.Millisecond
	// catchUpLag is how far behind the recording a connected stream reports StateCatchingUp.
	catchUpLag = SampleRate // 1 s
	// partialLead is how much audio before an unfinished turn is sent again after a drop: the
	// recognizer has already placed the silence before the turn, but a turn resent from its very
	// first sample could lose its onset.
	partialLead = 300 * SampleRate / 1000
)

// Result says how far the stream got.
type Result struct {
	// Covered: every sample in [from, Covered) has final text, or was heard by the recognizer as
	// no speech (before a turn it placed, or before a Termination).
	Covered int64
	// Sent is the PCM bytes sent in all sessions (re-sent audio included).
	Sent int64
	// Sessions is the number of sessions opened (a Begin received).
	Sessions int
}

// Errors that end a session; the stream reconnects after each.
var (
	// ErrTokenRefused: the server refused the streaming token before the upgrade (HTTP 401: used
	// or expired). A new one is minted for the next attempt.
	ErrTokenRefused = errors.New("streaming token refused")
	// ErrProtocol: the server sent something the protocol does not allow.
	ErrProtocol = errors.New("live transcription protocol violation")
)

// ServerError is an Error message from the transcription server.
type ServerError struct {
	Code    int
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("transcription server error %d: %s", e.Code, e.Message)
}

// Run streams src from sample from (the end of the last stored final turn) until the recording has
// ended and the server has finalized everything (Terminate → Termination), or ctx ends (then it
// returns ctx's error with the coverage reached so far).
//
// Any drop, Error message, ended session or failure to connect leads to a new token and a new
// connection, after a backoff that grows while attempts make no progress; the new session re-sends
// from the end of the last final turn (or shortly before an unfinished turn the recognizer had
// placed), and its times are shifted by that offset. A final turn is delivered once even when its
// audio is sent again. While the recording grows, frames go out as audio arrives; when behind, as
// fast as the socket takes them. Only a failing Source, or bad arguments, end Run with an error
// before that.
func Run(ctx context.Context, src Source, tokens Tokens, sink Sink, from int64, opt Options) (Result, error) {
	switch {
	case src == nil:
		return Result{}, errors.New("stream: Source is nil; pass the encounter's JournalSource")
	case tokens == nil:
		return Result{}, errors.New("stream: Tokens is nil; pass a function minting streaming tokens, such as api.Client.StreamingToken")
	case sink == nil:
		return Result{}, errors.New("stream: Sink is nil; pass where the turns go")
	case from < 0:
		return Result{}, fmt.Errorf("stream: start offset %d is negative; pass the end of the last stored final turn, or 0", from)
	}
	opt, err := opt.withDefaults()
	if err != nil {
		return Result{}, err
	}
	r := &runner{src: src, tokens: tokens, sink: sink, opt: opt, log: opt.Logger,
		frame: int64(opt.Frame * SampleRate / time.Second), resume: from}
	return r.run(ctx)
}

func (o Options) withDefaults() (Options, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Frame == 0 {
		o.Frame = DefaultFrame
	}
	if o.Frame < minFrame || o.Frame > maxFrame || o.Frame%time.Millisecond != 0 {
		return o, fmt.Errorf("stream: Options.Frame is %v; use whole milliseconds from %v to %v", o.Frame, minFrame, maxFrame)
	}
	if o.KeepAliveEvery == 0 {
		o.KeepAliveEvery = DefaultKeepAliveEvery
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.OfflineAfter == 0 {
		o.OfflineAfter = 1
	}
	switch {
	case o.KeepAliveEvery < 0:
		return o, fmt.Errorf("stream: Options.KeepAliveEvery is %v; use a positive duration (or 0 for %v)", o.KeepAliveEvery, DefaultKeepAliveEvery)
	case o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff:
		return o, fmt.Errorf("stream: Options.MinBackoff %v and MaxBackoff %v: use 0 ≤ MinBackoff ≤ MaxBackoff", o.MinBackoff, o.MaxBackoff)
	case o.OfflineAfter < 0:
		return o, fmt.Errorf("stream: Options.OfflineAfter is %d; use a positive count (or 0 for 1)", o.OfflineAfter)
	}
	return o, nil
}

// runner is one Run.
type runner struct {
	src    Source
	tokens Tokens
	sink   Sink
	opt    Options
	log    *slog.Logger
	frame  int64 // samples per frame

	// resume is where the next session starts: the end of the last final turn delivered (or the
	// silence confirmed before an unfinished one). Written by a session's reader goroutine, read by
	// run between sessions.
	resume int64
	res    Result

	sinkMu sync.Mutex // Sink methods are called one at a time
	state  State
}

func (r *runner) run(ctx context.Context) (Result, error) {
	failures := 0     // attempts in a row that made no progress: the backoff exponent
	connectFails := 0 // attempts in a row that did not connect: toward StateOffline
	for {
		// Done when the recording has ended and everything in it is covered. Waiting for more
		// than resume-1 samples does not block once resume samples exist.
		avail, ended, err := r.src.Wait(ctx, r.resume-1)
		if err != nil {
			return r.result(), r.stopped(ctx, fmt.Errorf("stream: wait for audio: %w", err))
		}
		if ended && r.resume >= avail {
			r.setState(StateEnded, nil)
			return r.result(), nil
		}
		if r.state != StateOffline {
			r.setState(StateConnecting, nil)
		}
		out := r.session(ctx)
		if out.fatal != nil {
			return r.result(), r.stopped(ctx, out.fatal)
		}
		if err := ctx.Err(); err != nil {
			return r.result(), err
		}
		if out.done {
			r.setState(StateEnded, nil)
			return r.result(), nil
		}
		switch {
		case out.begun:
			connectFails = 0
		case errors.Is(out.err, ErrTokenRefused):
			// The server answered: not offline, just a token that expired on the way.
		default:
			connectFails++
			if connectFails >= r.opt.OfflineAfter {
				r.setState(StateOffline, out.err)
			}
		}
		if out.progress || out.lasted >= r.opt.MaxBackoff {
			failures = 0
		} else {
			failures++
		}
		if out.err != nil {
			r.log.InfoContext(ctx, "live transcription session ended", "err", out.err, "resume_at", r.resume, "failures", failures)
		}
		if failures == 0 {
			continue // a session that worked and ended (dropped, or rotated): reconnect at once
		}
		t := time.NewTimer(r.backoff(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return r.result(), ctx.Err()
		case <-t.C:
		}
	}
}

// stopped prefers ctx's error when ctx ended, so callers can tell cancellation from failure.
func (r *runner) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (r *runner) result() Result {
	res := r.res
	res.Covered = r.resume
	return res
}

// backoff is the delay before attempt n (n ≥ 1 failures in a row): full jitter over an exponential
// capped at MaxBackoff.
func (r *runner) backoff(n int) time.Duration {
	d := r.opt.MaxBackoff
	if n <= 30 {
		d = min(r.opt.MinBackoff<<(n-1), r.opt.MaxBackoff)
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

func (r *runner) setState(s State, err error) {
	r.sinkMu.Lock()
	defer r.sinkMu.Unlock()
	if s == r.state {
		return
	}
	r.state = s
	r.sink.State(s, err)
}

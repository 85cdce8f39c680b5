package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/store"
	"github.com/nextvisit/scribe/sync/stream"
)

// Link is the live transcript's connection, for the Record screen.
type Link string

// The states of the live transcript's connection.
const (
	LinkConnecting Link = Link(stream.StateConnecting)
	LinkLive       Link = Link(stream.StateLive)
	LinkCatchingUp Link = Link(stream.StateCatchingUp)
	LinkOffline    Link = Link(stream.StateOffline)
	LinkEnded      Link = Link(stream.StateEnded)
	// LinkNone: nobody is signed in, so nothing streams; the visit is
	// transcribed after End, once someone is.
	LinkNone Link = "none"
)

// OfflineNotice is what the Record screen says while the live transcript
// cannot reach the server.
const OfflineNotice = "Offline — recording safely; the transcript will catch up"

// LiveUpdate is news from the live transcript: a partial turn (replacing
// the last one), a final turn (stored by then), or the connection's state.
type LiveUpdate struct {
	Partial *Turn // the turn in progress
	Final   *Turn // a finished turn, in audio order
	Link    Link  // set when the connection's state changed
	Err     error // why it is offline
}

// liveBuffer holds updates a slow screen has not read yet. Finals are
// never lost to a full buffer: they are in the store, where the screen can
// read them back; partials are.
const liveBuffer = 256

// finishStream bounds how long End waits for the live transcript to
// finish the audio already recorded; what it has not finished by then is
// sent as a gap upload instead.
const finishStream = 15 * time.Second

// live is one recording's transcript stream.
type live struct {
	c       *Core
	id      string
	growth  *stream.Growth
	updates chan LiveUpdate
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	covered int64 // the ledger's end: coverage is recorded from here
	link    Link
	closed  bool
}

// startLive starts streaming the journal at dir to the live transcript,
// if someone is signed in.
func (c *Core) startLive(ctx context.Context, id, dir string) *live {
	l := &live{c: c, id: id, growth: stream.NewGrowth(0), updates: make(chan LiveUpdate, liveBuffer),
		done: make(chan struct{}), link: LinkNone}
	s, err := c.current()
	if err != nil {
		close(l.done)
		l.send(LiveUpdate{Link: LinkNone})
		return l
	}
	src, err := stream.OpenJournalSource(dir, c.journalOptions(), l.growth)
	if err != nil {
		c.log.Warn("cannot stream the recording; it will be transcribed after End", "encounter", id, "error", err)
		close(l.done)
		return l
	}
	client, err := c.jobClient(s)
	if err != nil {
		close(l.done)
		return l
	}
	tokens := func(ctx context.Context) (api.StreamingToken, error) { return client.StreamingToken(ctx, 60) }
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go func() {
		defer close(l.done)
		defer src.Close()
		res, err := stream.Run(sctx, src, tokens, l, 0, stream.Options{Logger: c.log.With("component", "stream"), HTTPClient: c.http})
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Warn("live transcript stopped", "encounter", id, "error", err)
		}
		l.mu.Lock()
		from := l.covered
		l.mu.Unlock()
		if res.Covered > from {
			// Audio the server finished without speech in it (a quiet end).
			if err := c.db.AddCoverage(context.WithoutCancel(ctx), id, store.Range{Start: from, End: res.Covered}); err != nil {
				c.log.Warn("cannot record the transcript's coverage; that audio will be sent again", "encounter", id, "error", err)
			}
		}
		c.log.Info("live transcript finished", "encounter", id, "sessions", res.Sessions, "sent_bytes", res.Sent)
	}()
	return l
}

var _ stream.Sink = (*live)(nil)

// Partial implements stream.Sink.
func (l *live) Partial(t stream.Turn) {
	tt := liveTurn(t)
	l.send(LiveUpdate{Partial: &tt})
}

// Final implements stream.Sink: the turn and the audio up to its end are
// stored in one transaction before the stream moves its resume point.
func (l *live) Final(ctx context.Context, t stream.Turn) error {
	l.mu.Lock()
	from := l.covered
	l.mu.Unlock()
	words := make([]store.Word, len(t.Words))
	for i, w := range t.Words {
		words[i] = store.Word{Text: w.Text, Start: w.Start, End: w.End, Confidence: w.Confidence}
	}
	cov := store.Range{Start: from, End: max(t.End, from)}
	if cov.End == cov.Start {
		cov = store.Range{}
	}
	added, err := l.c.db.AddTurn(ctx, l.id, store.Turn{Start: t.Start, End: t.End, Text: t.Text, Words: words, Source: store.TurnLive}, cov)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.covered = max(l.covered, t.End)
	l.mu.Unlock()
	if added {
		tt := liveTurn(t)
		l.send(LiveUpdate{Final: &tt})
		l.c.notifyEncounter()
	}
	return nil
}

// State implements stream.Sink.
func (l *live) State(s stream.State, err error) {
	l.mu.Lock()
	l.link = Link(s)
	l.mu.Unlock()
	l.send(LiveUpdate{Link: Link(s), Err: err})
}

// Link is the connection's state now.
func (l *live) Link() Link {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.link
}

func (l *live) send(u LiveUpdate) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	select {
	case l.updates <- u:
	default: // a stalled screen: it reads finals back from the store
	}
}

// finish tells the stream the recording is over and waits, at most
// finishStream and not at all while offline, for it to send what is left
// and the server to finalize it; then the updates channel closes.
func (l *live) finish(ctx context.Context) {
	l.growth.End()
	if l.cancel != nil {
		if l.Link() == LinkOffline {
			l.cancel()
		}
		t := time.NewTimer(finishStream)
		select {
		case <-l.done:
		case <-t.C:
			l.c.log.Info("the live transcript did not finish in time; the rest goes as a gap upload", "encounter", l.id)
		case <-ctx.Done():
		}
		t.Stop()
		l.cancel()
		<-l.done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.updates)
	}
}

func liveTurn(t stream.Turn) Turn {
	return Turn{Start: samplesDuration(t.Start), End: samplesDuration(t.End), Text: t.Text, Live: true}
}

// grew tells the stream how much audio the journal holds now.
func (l *live) grew(w *journal.Writer) { l.growth.Grew(w.Samples()) }

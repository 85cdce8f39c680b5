package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/importer"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox/live"
	"github.com/nextvisit/scribe/sync/sandbox/recognize"
)

// fast keeps reconnects quick in tests.
var fast = Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}

// An imported recording is a finished journal: it streams at socket speed to full coverage.
func TestImportedRecordingStreamsToTheEnd(t *testing.T) {
	t.Parallel()
	sp := buildSpeech(t, 1)
	wav := filepath.Join(t.TempDir(), "visit.wav")
	writeWAV(t, wav, sp.pcm)
	dir := journalDir(t)
	if _, _, err := importer.Import(t.Context(), wav, dir, "enc", journal.Options{}); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, dir, nil)
	env := startSandbox(t, t.TempDir(), "127.0.0.1:0", nil)
	rec := newRecorder()

	res, err := Run(t.Context(), src, env.tokens, rec, 0, fast)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	finals, states := rec.snapshot()
	checkTurns(t, finals, sp)
	total := int64(len(sp.pcm))
	if res.Covered != total || res.Sessions != 1 {
		t.Errorf("result %+v, want %d samples covered in one session", res, total)
	}
	if res.Sent < 2*total || res.Sent > 2*total+2*800 {
		t.Errorf("sent %d bytes for %d bytes of PCM", res.Sent, 2*total)
	}
	if got := env.srv.AudioBytesReceived(); got != res.Sent {
		t.Errorf("sandbox received %d bytes, the stream sent %d", got, res.Sent)
	}
	if !slices.Equal(states, []State{StateConnecting, StateCatchingUp, StateLive, StateEnded}) {
		t.Errorf("states %v", states)
	}
}

// Resuming from the end of the last stored turn sends only the rest, and delivers only the rest.
func TestResumeFromStoredTurn(t *testing.T) {
	t.Parallel()
	sp := buildSpeech(t, 1)
	dir := journalDir(t)
	writeJournal(t, dir, sp.pcm)
	src := openSource(t, dir, nil)
	env := startSandbox(t, t.TempDir(), "127.0.0.1:0", nil)
	rec := newRecorder()
	from := sp.spans[2][1] + 320 // just after the third phrase, as a stored turn would end

	res, err := Run(t.Context(), src, env.tokens, rec, from, fast)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	finals, _ := rec.snapshot()
	checkTurns(t, finals, speech{pcm: sp.pcm, spans: sp.spans[3:]})
	total := int64(len(sp.pcm))
	if res.Covered != total || res.Sent > 2*(total-from)+2*800 {
		t.Errorf("result %+v: want %d covered and about %d bytes sent", res, total, 2*(total-from))
	}

	// Nothing left: done at once, without connecting.
	rec2 := newRecorder()
	res, err = Run(t.Context(), src, func(context.Context) (api.StreamingToken, error) {
		t.Error("minted a token with nothing to send")
		return api.StreamingToken{}, errors.New("no")
	}, rec2, total, fast)
	if err != nil || res.Covered != total || res.Sessions != 0 {
		t.Errorf("from the end: %+v, %v", res, err)
	}
}

// While the journal grows, turns arrive before the recording ends, in one session.
func TestGrowingJournalStreamsLive(t *testing.T) {
	t.Parallel()
	sp := buildSpeech(t, 1)
	dir := journalDir(t)
	g := produce(t, dir, sp.pcm, 4, 0, 0)
	src := openSource(t, dir, g)
	env := startSandbox(t, t.TempDir(), "127.0.0.1:0", nil)
	rec := newRecorder()
	var duringRecording atomic.Int32
	rec.atFinal = func(Turn) {
		if _, ended, _ := g.snapshot(); !ended {
			duringRecording.Add(1)
		}
	}

	res, err := Run(t.Context(), src, env.tokens, rec, 0, fast)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	finals, states := rec.snapshot()
	checkTurns(t, finals, sp)
	if n := duringRecording.Load(); n < int32(len(sp.spans))-1 {
		t.Errorf("only %d of %d final turns arrived while recording", n, len(sp.spans))
	}
	if rec.partials == 0 {
		t.Error("no partial turns")
	}
	if res.Covered != int64(len(sp.pcm)) || res.Sessions != 1 {
		t.Errorf("result %+v", res)
	}
	// The journal grows from the moment it is made, so a slow first
	// connection (a loaded machine) may start behind; once live, it keeps up.
	live := slices.Index(states, StateLive)
	if live < 0 || slices.Contains(states[live:], StateCatchingUp) {
		t.Errorf("states %v: want live, and never catching up once live", states)
	}
}

// KeepAlive holds a paused session open past the server's idle timeout; without it the server
// ends the session, and the stream reconnects.
func TestKeepAliveHoldsPausedSession(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		keepAlive    time.Duration
		wantSessions func(int) bool
	}{
		{"keepalive", 100 * time.Millisecond, func(n int) bool { return n == 1 }},
		{"too rare", 10 * time.Second, func(n int) bool { return n >= 2 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pcm := speechPCM(t)
			tokens := startLive(t, live.Config{NewStream: recognize.VAD{}.NewStream, IdleTimeout: 400 * time.Millisecond})
			dir := journalDir(t)
			g := produce(t, dir, pcm, 4, int64(len(pcm)/2), 1500*time.Millisecond)
			src := openSource(t, dir, g)
			rec := newRecorder()
			opt := fast
			opt.KeepAliveEvery = c.keepAlive
			res, err := Run(t.Context(), src, tokens, rec, 0, opt)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !c.wantSessions(res.Sessions) || res.Covered != int64(len(pcm)) {
				t.Errorf("result %+v", res)
			}
			finals, _ := rec.snapshot()
			if len(finals) != 2 {
				t.Errorf("%d final turns, want 2", len(finals))
			}
		})
	}
}

// speechPCM is two short phrases ("No fever or nausea.", "Follow up in two weeks.") with half a
// second of silence around each.
func speechPCM(t *testing.T) []int16 {
	sp := buildSpeech(t, 1)
	a := sp.pcm[sp.spans[1][0]-8000 : sp.spans[1][1]+8000]
	b := sp.pcm[sp.spans[4][0]-8000 : sp.spans[4][1]+8000]
	return append(append([]int16(nil), a...), b...)
}

// Socket drops every few seconds: full coverage, no doubled turn, audio order, and the audio
// crosses the network about once.
func TestSocketDrops(t *testing.T) {
	t.Parallel()
	sp := buildPhrases(t, shortPhrases, 9) // about two minutes of short turns
	dir := journalDir(t)
	g := produce(t, dir, sp.pcm, 10, 0, 0)
	src := openSource(t, dir, g)
	env := startSandbox(t, t.TempDir(), "127.0.0.1:0", nil)
	env.srv.Faults().SetDropSocketAfter(3500 * time.Millisecond) // ≈ 35 s of audio at 10×
	rec := newRecorder()

	res, err := Run(t.Context(), src, env.tokens, rec, 0, fast)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	finals, _ := rec.snapshot()
	checkTurns(t, finals, sp)
	pcmBytes := 2 * int64(len(sp.pcm))
	ratio := float64(env.srv.AudioBytesReceived()) / float64(pcmBytes)
	t.Logf("%d sessions, %s of audio: sandbox received %.4f× the PCM (client sent %d bytes)", res.Sessions, secs(int64(len(sp.pcm))), ratio, res.Sent)
	if res.Covered != int64(len(sp.pcm)) || res.Sessions < 3 {
		t.Errorf("result %+v: want full coverage over several sessions", res)
	}
	if ratio > 1.05 {
		t.Errorf("sandbox received %.3f× the PCM, want ≤ 1.05", ratio)
	}
}

// The server goes away and comes back on the same address and state: the stream goes offline,
// the recording goes on, and the stream catches up when the server is back.
func TestServerDownThenUp(t *testing.T) {
	t.Parallel()
	sp := buildSpeech(t, 2)
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	state := t.TempDir()
	env := startSandbox(t, state, addr, nil)
	// The client keeps its URL and user token across the restart.
	tokens := env.tokens

	dir := journalDir(t)
	g := produce(t, dir, sp.pcm, 4, 0, 0)
	src := openSource(t, dir, g)
	rec := newRecorder()
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Run(t.Context(), src, tokens, rec, 0, fast)
		done <- result{res, err}
	}()

	rec.waitFor(t, "two final turns", func() bool { return len(rec.finals) >= 2 })
	if err := env.srv.Close(); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "offline", func() bool { return len(rec.offline) > 0 })
	have, _, _ := g.snapshot()
	waitGrowth(t, g, have+5*SampleRate) // 5 s more audio recorded while offline

	// Same port, same folder: the user's token is still good.
	startSandbox(t, state, addr, nil)

	var r result
	select {
	case r = <-done:
	case <-time.After(waitLimit):
		t.Fatal("Run did not finish after the server came back")
	}
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	finals, states := rec.snapshot()
	checkTurns(t, finals, sp)
	if r.res.Covered != int64(len(sp.pcm)) {
		t.Errorf("result %+v", r.res)
	}
	off := slices.Index(states, StateOffline)
	if off < 0 || !slices.Contains(states[off:], StateCatchingUp) || states[len(states)-1] != StateEnded {
		t.Errorf("states %v: want offline, then catching-up, then ended", states)
	}
	if err := rec.offline[0]; err == nil {
		t.Error("offline without a reason")
	}
	t.Logf("states %v; offline because: %v", states, rec.offline[0])
}

// A streaming token that expires before it is used is refused with 401; the stream mints another
// and goes on, without going offline.
func TestExpiredStreamingTokens(t *testing.T) {
	t.Parallel()
	sp := buildSpeech(t, 1)
	var skew atomic.Int64 // the sandbox's clock runs ahead by this much
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	env := startSandbox(t, t.TempDir(), "127.0.0.1:0", now)
	env.srv.Faults().SetStreamingTokenTTL(time.Second)
	env.srv.Faults().SetDropSocketAfter(1500 * time.Millisecond)

	var minted atomic.Int32
	tokens := func(ctx context.Context) (api.StreamingToken, error) {
		tok, err := env.client.StreamingToken(ctx, 60)
		// The second and third tokens (the reconnect after the drop) expire on the way.
		if n := minted.Add(1); n == 2 || n == 3 {
			skew.Add(int64(2 * time.Second))
		}
		return tok, err
	}
	dir := journalDir(t)
	g := produce(t, dir, sp.pcm, 4, 0, 0)
	src := openSource(t, dir, g)
	rec := newRecorder()
	res, err := Run(t.Context(), src, tokens, rec, 0, fast)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	finals, states := rec.snapshot()
	checkTurns(t, finals, sp)
	if res.Covered != int64(len(sp.pcm)) || res.Sessions < 2 || int(minted.Load()) < res.Sessions+2 {
		t.Errorf("result %+v after %d tokens: want two refused", res, minted.Load())
	}
	if slices.Contains(states, StateOffline) {
		t.Errorf("states %v: a refused token is not offline", states)
	}
}

// failingRecognizer fails the first session's stream after some audio.
type failingRecognizer struct {
	sessions atomic.Int32
}

func (f *failingRecognizer) NewStream() recognize.Stream {
	s := &failOnce{Stream: recognize.VAD{}.NewStream()}
	if f.sessions.Add(1) == 1 {
		s.failAfter = 30 // frames
	}
	return s
}

type failOnce struct {
	recognize.Stream
	failAfter, frames int
}

func (s *failOnce) Write(ctx context.Context, pcm []int16) ([]recognize.Turn, error) {
	s.frames++
	if s.failAfter > 0 && s.frames > s.failAfter {
		return nil, errors.New("recognizer crashed")
	}
	return s.Stream.Write(ctx, pcm)
}

// An Error message from the server ends the session; the stream reconnects and finishes.
func TestServerErrorReconnects(t *testing.T) {
	t.Parallel()
	sp := buildSpeech(t, 1)
	f := &failingRecognizer{}
	tokens := startLive(t, live.Config{NewStream: f.NewStream})
	dir := journalDir(t)
	writeJournal(t, dir, sp.pcm)
	src := openSource(t, dir, nil)
	rec := newRecorder()
	res, err := Run(t.Context(), src, tokens, rec, 0, fast)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	finals, _ := rec.snapshot()
	checkTurns(t, finals, sp)
	if res.Sessions != 2 || res.Covered != int64(len(sp.pcm)) {
		t.Errorf("result %+v: want two sessions and full coverage", res)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := journalDir(t)
	writeJournal(t, dir, make([]int16, 16000))
	src := openSource(t, dir, nil)
	tokens := func(context.Context) (api.StreamingToken, error) { return api.StreamingToken{}, errors.New("unused") }
	rec := newRecorder()
	for _, c := range []struct {
		name   string
		src    Source
		tokens Tokens
		sink   Sink
		from   int64
		opt    Options
	}{
		{"no source", nil, tokens, rec, 0, Options{}},
		{"no tokens", src, nil, rec, 0, Options{}},
		{"no sink", src, tokens, nil, 0, Options{}},
		{"negative start", src, tokens, rec, -1, Options{}},
		{"short frame", src, tokens, rec, 0, Options{Frame: 20 * time.Millisecond}},
		{"long frame", src, tokens, rec, 0, Options{Frame: time.Second}},
		{"backoff upside down", src, tokens, rec, 0, Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond}},
		{"negative keepalive", src, tokens, rec, 0, Options{KeepAliveEvery: -time.Second}},
	} {
		if _, err := Run(t.Context(), c.src, c.tokens, c.sink, c.from, c.opt); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}

	// A journal still being written needs its Growth.
	open := journalDir(t)
	w, err := journal.Create(open, "enc", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := OpenJournalSource(open, journal.Options{}, nil); err == nil {
		t.Error("opened a journal being written as a finished one")
	}
}

// A server that cannot be reached: offline with the reason, retrying until ctx ends.
func TestUnreachableGoesOffline(t *testing.T) {
	t.Parallel()
	dir := journalDir(t)
	writeJournal(t, dir, make([]int16, 16000))
	src := openSource(t, dir, nil)
	var attempts atomic.Int32
	tokens := func(context.Context) (api.StreamingToken, error) {
		attempts.Add(1)
		return api.StreamingToken{}, fmt.Errorf("mint: %w", api.ErrUnauthorized)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, src, tokens, rec, 0, Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, OfflineAfter: 3})
		done <- err
	}()
	rec.waitFor(t, "offline", func() bool { return len(rec.offline) > 0 })
	if n := attempts.Load(); n < 3 {
		t.Errorf("offline after %d attempts, want 3", n)
	}
	if !errors.Is(rec.offline[0], api.ErrUnauthorized) {
		t.Errorf("offline because %v, want the token error", rec.offline[0])
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v", err)
	}
}

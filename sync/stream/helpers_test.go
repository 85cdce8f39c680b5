package stream

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
	"github.com/nextvisit/scribe/sync/sandbox/live"
	"github.com/nextvisit/scribe/sync/sandbox/recognize/speechtest"
)

// waitLimit bounds every wait on a condition; the race detector on two cores is slow.
const waitLimit = 90 * time.Second

// speech is a recording of real speech and where each phrase is audible, in samples.
type speech struct {
	pcm   []int16
	spans [][2]int64
}

// Six phrases of a visit, 1.2 to 2.8 s each once spoken.
var phrases = []string{
	"The patient reports a mild headache since Monday.",
	"No fever or nausea.",
	"Blood pressure is one twenty over eighty.",
	"We will review the medication list today.",
	"Follow up in two weeks.",
	"Sleep has improved with the new routine.",
}

// Six short turns, about a second each: a conversation's back and forth.
var shortPhrases = []string{
	"No fever or nausea.",
	"Follow up in two weeks.",
	"Take it twice a day.",
	"Any allergies?",
	"The pain is better.",
	"Sleep is good.",
}

// buildSpeech speaks the phrases (espeak-ng) with known pauses and repeats the whole reps times.
func buildSpeech(t *testing.T, reps int) speech { return buildPhrases(t, phrases, reps) }

func buildPhrases(t *testing.T, phrases []string, reps int) speech {
	t.Helper()
	gaps := []time.Duration{time.Second, 1400 * time.Millisecond, 900 * time.Millisecond, 1200 * time.Millisecond, 1100 * time.Millisecond}
	pcm, spans := speechtest.Build(t, 500*time.Millisecond, phrases, gaps, time.Second)
	var s speech
	for k := range reps {
		off := int64(k * len(pcm))
		s.pcm = append(s.pcm, pcm...)
		for _, sp := range spans {
			s.spans = append(s.spans, [2]int64{off + samples(sp.Start), off + samples(sp.End)})
		}
	}
	return s
}

func samples(d time.Duration) int64 { return int64(d * SampleRate / time.Second) }

func secs(n int64) string { return fmt.Sprintf("%.2fs", float64(n)/SampleRate) }

var journalOpts = journal.Options{}

// writeJournal records pcm into a new, closed journal.
func writeJournal(t *testing.T, dir string, pcm []int16) { writeJournalB(t, dir, pcm) }

func writeJournalB(t testing.TB, dir string, pcm []int16) {
	t.Helper()
	w, err := journal.Create(dir, "enc", journalOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(pcm); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// produce records pcm into a new journal in 100 ms chunks, speed times faster than real time,
// holding still for pause after the sample pauseAt (when pause > 0), as a recorder would. The
// journal's Growth follows the writes.
func produce(t *testing.T, dir string, pcm []int16, speed float64, pauseAt int64, pause time.Duration) *Growth {
	t.Helper()
	w, err := journal.Create(dir, "enc", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGrowth(0)
	done := make(chan error, 1)
	ctx := t.Context()
	go func() {
		defer g.End()
		tick := time.NewTicker(time.Duration(float64(100*time.Millisecond) / speed))
		defer tick.Stop()
		paused := false
		for off := 0; off < len(pcm); off += 1600 {
			select {
			case <-ctx.Done():
				done <- w.Close()
				return
			case <-tick.C:
			}
			if pause > 0 && !paused && int64(off) >= pauseAt {
				paused = true
				select { // the clinician pressed Pause: nothing is recorded meanwhile
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
			if err := w.Write(pcm[off:min(off+1600, len(pcm))]); err != nil {
				done <- errors.Join(err, w.Close())
				return
			}
			g.Grew(w.Samples())
		}
		done <- w.Close()
	}()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("recording: %v", err)
		}
	})
	return g
}

// waitGrowth waits until the journal holds at least n samples or has ended.
func waitGrowth(t *testing.T, g *Growth, n int64) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		have, ended, changed := g.snapshot()
		if have >= n || ended {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the recording did not reach %s (at %s)", secs(n), secs(have))
		}
	}
}

func openSource(t *testing.T, dir string, g *Growth) *JournalSource {
	t.Helper()
	src, err := OpenJournalSource(dir, journal.Options{}, g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Error(err)
		}
	})
	return src
}

// recorder is a Sink that keeps everything and lets a test wait for conditions.
type recorder struct {
	mu       sync.Mutex
	finals   []Turn
	partials int
	states   []State
	offline  []error
	changed  chan struct{}
	// atFinal, when set, is called inside Final (to note what else was true then).
	atFinal func(Turn)
}

var _ Sink = (*recorder)(nil)

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) wakeLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) Partial(Turn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.partials++
	r.wakeLocked()
}

func (r *recorder) Final(_ context.Context, t Turn) error {
	if r.atFinal != nil {
		r.atFinal(t)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finals = append(r.finals, t)
	r.wakeLocked()
	return nil
}

func (r *recorder) State(s State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
	if s == StateOffline {
		r.offline = append(r.offline, err)
	}
	r.wakeLocked()
}

// waitFor waits until cond (called under the lock) holds.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func (r *recorder) snapshot() ([]Turn, []State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Turn(nil), r.finals...), append([]State(nil), r.states...)
}

// checkTurns holds the final turns to the truth: one per phrase, each within tol of where the
// phrase is audible, in audio order, none overlapping another.
func checkTurns(t *testing.T, finals []Turn, sp speech) {
	t.Helper()
	const tol = 300 * SampleRate / 1000
	for i := 1; i < len(finals); i++ {
		if finals[i].Start < finals[i-1].End {
			t.Errorf("final turns %d (%s–%s) and %d (%s–%s) overlap or are out of order", i-1, secs(finals[i-1].Start), secs(finals[i-1].End), i, secs(finals[i].Start), secs(finals[i].End))
		}
	}
	if len(finals) != len(sp.spans) {
		for _, f := range finals {
			t.Logf("turn %s–%s %q", secs(f.Start), secs(f.End), f.Text)
		}
		t.Fatalf("%d final turns for %d phrases", len(finals), len(sp.spans))
	}
	for i, f := range finals {
		s := sp.spans[i]
		if abs(f.Start-s[0]) > tol || abs(f.End-s[1]) > tol {
			t.Errorf("turn %d at %s–%s, phrase at %s–%s", i, secs(f.Start), secs(f.End), secs(s[0]), secs(s[1]))
		}
		if !strings.HasPrefix(f.Text, "[sandbox] speech") || len(f.Words) == 0 || !f.Final {
			t.Errorf("turn %d: %+v", i, f)
		}
		for _, w := range f.Words {
			if w.Start < f.Start || w.End > f.End || w.Start >= w.End {
				t.Errorf("turn %d: word %s–%s outside the turn %s–%s", i, secs(w.Start), secs(w.End), secs(f.Start), secs(f.End))
			}
		}
	}
}

func abs(n int64) int64 { return max(n, -n) }

// sandboxEnv is a running sandbox and a signed-in client minting streaming tokens.
type sandboxEnv struct {
	srv    *sandbox.Server
	base   string
	client *api.Client
	minted int
	mu     sync.Mutex
}

func startSandbox(t *testing.T, dir, addr string, now func() time.Time) *sandboxEnv {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: dir, ProcessingDelay: 20 * time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	base, err := srv.Start(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.New(base, api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(t.Context(), sandbox.SampleEmail, sandbox.SamplePassword, "stream test")
	if err != nil {
		t.Fatal(err)
	}
	return &sandboxEnv{srv: srv, base: base, client: c.WithToken(tok.Token)}
}

func (e *sandboxEnv) tokens(ctx context.Context) (api.StreamingToken, error) {
	e.mu.Lock()
	e.minted++
	e.mu.Unlock()
	return e.client.StreamingToken(ctx, 0)
}

// memTokens are single-use tokens for a bare live handler.
type memTokens struct {
	mu     sync.Mutex
	issued map[string]bool // token → used
}

var _ live.Tokens = (*memTokens)(nil)

func (m *memTokens) Redeem(_ context.Context, token string) (live.Grant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	used, ok := m.issued[token]
	switch {
	case !ok:
		return live.Grant{}, live.ErrTokenUnknown
	case used:
		return live.Grant{}, live.ErrTokenUsed
	}
	m.issued[token] = true
	return live.Grant{Owner: "test"}, nil
}

// startLive serves a bare live handler (sandbox/live) configured by cfg, for what the sandbox
// does not let a test set: a short idle timeout, a failing recognizer.
func startLive(t *testing.T, cfg live.Config) Tokens {
	t.Helper()
	toks := &memTokens{issued: map[string]bool{}}
	cfg.Tokens = toks
	h, err := live.NewHandler(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.Close() })
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/stream"
	return func(context.Context) (api.StreamingToken, error) {
		tok := rand.Text()
		toks.mu.Lock()
		toks.issued[tok] = false
		toks.mu.Unlock()
		return api.StreamingToken{Token: tok, Url: url, ExpiresInSeconds: 60, MaxSessionDurationSeconds: 3600}, nil
	}
}

// writeWAV writes pcm as a 16 kHz mono WAV file, for importing.
func writeWAV(t *testing.T, path string, pcm []int16) {
	t.Helper()
	b := make([]byte, 44, 44+2*len(pcm))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(pcm)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], SampleRate)
	binary.LittleEndian.PutUint32(b[28:], 2*SampleRate)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(pcm)))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func journalDir(t *testing.T) string { return filepath.Join(t.TempDir(), "journal") }

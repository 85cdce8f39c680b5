package app

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
	"github.com/nextvisit/scribe/sync/sandbox/recognize/speechtest"
	"github.com/nextvisit/scribe/sync/store"
)

// A spoken visit over a bad network: the socket drops every 20–60 s of
// audio and the server is gone for two minutes in the middle (a third of
// a visit shorter than six minutes). The visit
// still ends with every second of audio transcribed, no turn twice, turns
// in audio order, and the audio crossing the network about once.
//
// The audio is fed faster than real time (SCRIBE_FLAKY_SPEED, default 10;
// 1 for a real-time run), every duration of the schedule scaled alike.
// SCRIBE_FLAKY_MINUTES sets the length (default 10; 3 with -short).
func TestFlakyNetworkVisit(t *testing.T) {
	speechtest.Require(t)
	speed := envInt(t, "SCRIBE_FLAKY_SPEED", 10)
	minutes := envInt(t, "SCRIBE_FLAKY_MINUTES", 10)
	if testing.Short() && os.Getenv("SCRIBE_FLAKY_MINUTES") == "" {
		minutes = 3
	}
	scale := func(d time.Duration) time.Duration { return d / time.Duration(speed) }
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("%d-minute visit at %d× real time, seed %d", minutes, speed, seed)

	// Real speech (espeak-ng): a six-phrase exchange repeated to length.
	phrases := []string{
		"The patient reports a mild headache since Monday.",
		"No fever or nausea.",
		"Blood pressure is one twenty over eighty.",
		"We will review the medication list today.",
		"Follow up in two weeks.",
		"Sleep has improved with the new routine.",
	}
	gaps := []time.Duration{time.Second, 1400 * time.Millisecond, 900 * time.Millisecond, 1200 * time.Millisecond, 1100 * time.Millisecond}
	block, spans := speechtest.Build(t, 500*time.Millisecond, phrases, gaps, time.Second)
	var pcm []int16
	var speech []store.Range
	for len(pcm) < minutes*60*journal.SampleRate {
		off := int64(len(pcm))
		pcm = append(pcm, block...)
		for _, s := range spans {
			speech = append(speech, store.Range{Start: off + durSamples(s.Start), End: off + durSamples(s.End)})
		}
	}

	ctx := t.Context()
	addr := closedPortInternal(t)
	state := t.TempDir()
	srv := startFlakySandbox(t, state, addr)
	url := "http://" + addr + "/api"
	dev := capture.Device{Name: "Clinic Microphone", Default: true, Channels: 1, SampleRate: journal.SampleRate, HostAPI: "Fake"}
	p := newRecProfile(t, dev)
	c := p.open(t)
	if _, err := c.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c.Serve(sctx) }()
	defer func() { stop(); <-served }()

	nextDrop := func() time.Duration { return scale(time.Duration(20+rng.IntN(41)) * time.Second) }
	srv.Faults().SetDropSocketAfter(nextDrop())
	rec, err := c.StartRecording(ctx, RecordOptions{Consent: true})
	if err != nil {
		t.Fatal(err)
	}
	mic := p.mics.mic(t)

	// Each new session gets its own random lifetime; the live updates say
	// when one starts.
	sessions, offlineSeen := 0, false
	liveDone := make(chan struct{})
	faults := make(chan *sandbox.Faults, 1)
	faults <- srv.Faults()
	go func() {
		defer close(liveDone)
		for u := range rec.Live() {
			if u.Link != "" {
				t.Logf("link %s at %s of audio (%v)", u.Link, rec.Elapsed().Round(100*time.Millisecond), u.Err)
			}
			switch u.Link {
			case LinkConnecting:
				f := <-faults
				f.SetDropSocketAfter(nextDrop())
				faults <- f
			case LinkLive, LinkCatchingUp:
				sessions++
			case LinkOffline:
				offlineSeen = true
			}
		}
	}()

	// Feed the microphone 100 ms at a time on the scaled clock, taking the
	// server away at 40 % of the visit for 2 minutes (a third of a shorter
	// visit).
	const chunk = journal.SampleRate / 10
	downAt := int64(len(pcm)) * 2 / 5
	upAt := downAt + min(120*journal.SampleRate, int64(len(pcm))/3)
	var srv2 *sandbox.Server
	var received1 int64
	tick := time.NewTicker(scale(100 * time.Millisecond))
	defer tick.Stop()
	buf := make([]float32, chunk)
	for off := 0; off < len(pcm); off += chunk {
		switch int64(off) {
		case downAt - downAt%chunk:
			received1 = srv.AudioBytesReceived()
			srv.Close()
			t.Logf("server down at %s of audio", samplesDuration(int64(off)))
		case upAt - upAt%chunk:
			srv2 = startFlakySandbox(t, state, addr)
			f := <-faults
			f.Reset()
			srv2.Faults().SetDropSocketAfter(nextDrop())
			faults <- srv2.Faults()
			t.Logf("server back at %s of audio", samplesDuration(int64(off)))
		}
		n := copy(buf, toFloat(pcm[off:min(off+chunk, len(pcm))]))
		if !mic.push(buf[:n]) {
			t.Fatal("the microphone stopped")
		}
		<-tick.C
	}
	// A second of silence after the visit, as a room has: level readings
	// (one per 50 ms of audio) go on arriving after the speech is written,
	// so the wait below has readings to wait on.
	for range 10 { // a second of it, at the same pace
		if !mic.push(make([]float32, chunk)) {
			t.Fatal("the microphone stopped")
		}
		<-tick.C
	}
	// The journal must hold the whole visit before End cuts it.
	full := time.NewTimer(30 * time.Second)
	for rec.Elapsed() < samplesDuration(int64(len(pcm))) {
		select {
		case <-rec.Levels():
		case <-full.C:
			t.Fatalf("the journal holds %v of %v", rec.Elapsed(), samplesDuration(int64(len(pcm))))
		}
	}
	full.Stop()
	ended := time.Now()
	e, err := rec.End(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-liveDone
	t.Logf("End took %v (finishing the live transcript)", time.Since(ended).Round(time.Millisecond))
	if d := os.Getenv("SCRIBE_FLAKY_LOG"); d != "" {
		os.WriteFile(d, []byte(p.log.String()), 0o600)
	}

	// Whatever the live transcript did not cover goes up as gaps; then the
	// note is drafted.
	waitFor(t, c, 60*time.Second, "the visit's jobs", func() bool {
		jobs, err := c.Jobs(ctx, JobFilter{Group: encounterGroup(e.ID)})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.State != outbox.Done {
				if j.State == outbox.NeedsAttention {
					t.Fatalf("job %s needs attention: %s", j.Kind, j.LastError)
				}
				return false
			}
		}
		return len(jobs) > 0
	})

	row, err := c.db.Encounter(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := journal.ReadManifest(c.journalDir(row), c.journalOptions())
	if err != nil {
		t.Fatal(err)
	}
	covered, err := c.db.Coverage(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gaps := store.Gaps(covered, m.Samples); len(gaps) > 0 {
		t.Errorf("coverage has holes: %v", gaps)
	}
	turns, err := c.db.Turns(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	var live, gap int
	var gapAudio int64
	for i, tr := range turns {
		if tr.Source == store.TurnLive {
			live++
		} else {
			gap++
			gapAudio += tr.End - tr.Start
			t.Logf("gap turn %s–%s", samplesDuration(tr.Start), samplesDuration(tr.End))
		}
		if i > 0 && tr.Start < turns[i-1].End {
			t.Errorf("turn %d (%s–%s) overlaps the one before (%s–%s): text twice", i,
				samplesDuration(tr.Start), samplesDuration(tr.End), samplesDuration(turns[i-1].Start), samplesDuration(turns[i-1].End))
		}
	}
	// Every phrase spoken is in exactly one turn.
	for _, sp := range speech {
		n := 0
		for _, tr := range turns {
			if tr.Start < sp.End && tr.End > sp.Start {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the phrase at %s–%s is in %d turns, want 1", samplesDuration(sp.Start), samplesDuration(sp.End), n)
		}
	}
	pcmBytes := 2 * m.Samples
	received := received1 + srv2.AudioBytesReceived()
	ratio := float64(received) / float64(pcmBytes)
	t.Logf("%d live turns, %d gap turns (%s of audio), %d sessions, offline seen %v; audio received %d bytes = %.3f × the PCM (%d bytes)",
		live, gap, samplesDuration(gapAudio), sessions, offlineSeen, received, ratio, pcmBytes)
	if ratio > 1.05 {
		t.Errorf("the server received %.3f × the visit's PCM; the budget is 1.05", ratio)
	}
	if !offlineSeen {
		t.Error("the live transcript never reported the server gone")
	}
	if sessions < minutes {
		t.Errorf("only %d sessions in %d minutes with drops every 20–60 s", sessions, minutes)
	}
}

func startFlakySandbox(t *testing.T, dir, addr string) *sandbox.Server {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: dir, ProcessingDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if _, err := srv.Start(t.Context(), addr); err != nil {
		t.Fatalf("start the sandbox on %s: %v", addr, err)
	}
	return srv
}

func closedPortInternal(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

func durSamples(d time.Duration) int64 { return int64(d) * journal.SampleRate / int64(time.Second) }

func toFloat(p []int16) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(v) / 32768
	}
	return out
}

// waitFor waits until cond holds, looking again at each change of the
// outbox or an encounter, for at most d.
func waitFor(t *testing.T, c *Core, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		jobs, encs := c.JobsChanged(), c.EncountersChanged()
		if cond() {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("gave up after %v waiting for %s", d, what)
		case <-jobs:
		case <-encs:
		}
	}
}

package app

import (
	"context"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// A visit recorded from the microphone while the server is down: the
// recording goes on (the live transcript says it is offline), End, an edit
// and Sign all wait here, and when the server comes back they arrive in
// that order: the draft, then the edit, then the signature.
func TestRecordOfflineThenSync(t *testing.T) {
	ctx := t.Context()
	addr := closedPortInternal(t)
	state := t.TempDir()
	srv := startFlakySandbox(t, state, addr)
	dev := capture.Device{Name: "Clinic Microphone", Default: true, Channels: 1, SampleRate: journal.SampleRate, HostAPI: "Fake"}
	p := newRecProfile(t, dev)
	c := p.open(t)
	if _, err := c.SignIn(ctx, "http://"+addr+"/api", sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c.Serve(sctx) }()
	defer func() { stop(); <-served }()
	srv.Close()

	rec, err := c.StartRecording(ctx, RecordOptions{Consent: true, TemplateID: 1})
	if err != nil {
		t.Fatal(err)
	}
	mic := p.mics.mic(t)
	mic.tone(t, 440, 0.5, 2*time.Second)
	offline := false
	for u := range rec.Live() {
		if u.Link == LinkOffline {
			offline = true
			break
		}
	}
	if !offline {
		t.Fatal("the live transcript never said it was offline")
	}
	// Then silence, 50 ms at a time as a device delivers it, until the
	// tone is in the journal: level readings keep coming while it is fed.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for fed := 0; rec.Elapsed() < 2*time.Second; fed++ {
		if fed == 200 {
			t.Fatalf("after 10 s of silence the journal holds %v of the 2 s tone", rec.Elapsed())
		}
		mic.tone(t, 0, 0, 50*time.Millisecond)
		<-tick.C
	}
	e, err := rec.End(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const mine = "Recorded offline: patient well; continue current plan."
	if err := c.SaveDraft(ctx, e.ID, mine); err != nil {
		t.Fatal(err)
	}
	if err := c.SignNote(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.VisitJobs(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, j := range jobs {
		kinds = append(kinds, j.Kind)
		if j.State == outbox.Done {
			t.Errorf("%s done with the server down", j.Kind)
		}
	}
	if len(kinds) != 4 || kinds[0] != kindTranscribeGap || kinds[1] != kindCreateNote || kinds[2] != kindUpdateNote || kinds[3] != kindSignNote {
		t.Fatalf("queued %v; want transcribe-gap, create-note, update-note, sign-note", kinds)
	}

	srv2 := startFlakySandbox(t, state, addr)
	back := time.Now()
	waitFor(t, c, 30*time.Second, "the visit's jobs", func() bool {
		jobs, err := c.VisitJobs(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.State != outbox.Done {
				return false
			}
		}
		return true
	})
	t.Logf("the visit reached the server %v after it came back", time.Since(back).Round(time.Millisecond))
	jobs, _ = c.VisitJobs(ctx, e.ID)
	for i := 1; i < len(jobs); i++ {
		if jobs[i].UpdatedAt.Before(jobs[i-1].UpdatedAt) {
			t.Errorf("%s finished before %s", jobs[i].Kind, jobs[i-1].Kind)
		}
	}
	v, err := c.Visit(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.current()
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.client.Note(ctx, v.NoteID)
	if err != nil {
		t.Fatal(err)
	}
	if n.Analysis == nil || *n.Analysis != mine || !isSigned(n) {
		t.Errorf("server note: analysis %v, signed %v; want the offline edit, signed", n.Analysis, isSigned(n))
	}
	if srv2.AudioBytesReceived() == 0 {
		t.Error("the recording never reached the server")
	}
}

package app_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/internal/wavtest"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// waitVisit waits until cond holds for the visit, looking again at every
// change of an encounter or a job, for at most d.
func waitVisit(t *testing.T, c *app.Core, id string, d time.Duration, what string, cond func(app.Visit) bool) app.Visit {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for {
		enc, jobs := c.EncountersChanged(), c.JobsChanged()
		v, err := c.Visit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(v) {
			return v
		}
		select {
		case <-enc:
		case <-jobs:
		case <-ctx.Done():
			t.Fatalf("gave up after %v waiting for %s; the visit is %s (%s: %s)", d, what, v.State, v.Status.Label, v.Status.Reason)
		}
	}
}

// serverNote reads a note at the server with a client of its own.
func serverNote(t *testing.T, p *profile, url string, id int64) api.ProgressNote {
	t.Helper()
	tok, err := p.vault.Get(t.Context(), tokenPrefix+url)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := api.New(url, api.Options{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	n, err := cl.Note(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func signedAt(n api.ProgressNote) bool { return n.Has != nil && n.Has.Signed != nil && *n.Has.Signed }

// An imported recording has no live transcript: its whole length goes up
// as a gap, then the note is drafted, edited and signed, each reaching the
// server.
func TestImportedVisitToSignedNote(t *testing.T) {
	ctx := t.Context()
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	me := signIn(t, c, url)
	serve(t, c)
	roster, err := c.Patients(ctx, "", 1, 1)
	if err != nil || len(roster.Items) != 1 {
		t.Fatalf("roster: %v %v", roster.Items, err)
	}
	patient := roster.Items[0]
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 3*time.Second)
	e, err := c.ImportRecording(ctx, wav, app.ImportOptions{PatientID: patient.Id, TemplateID: 2, Context: "follow-up", Consent: true})
	if err != nil {
		t.Fatalf("import: %v (%s)", err, app.Explain(err))
	}
	if e.State != app.StateTranscribing || e.ConsentAt.IsZero() {
		t.Errorf("imported %+v; want transcribing, with consent", e)
	}
	v := waitVisit(t, c, e.ID, 30*time.Second, "the draft", func(v app.Visit) bool { return v.State == app.StateReady })
	if v.Draft == "" || v.Note == nil || v.NoteID == 0 || v.Unsent || v.Status.Label != "Ready" {
		t.Fatalf("ready visit %+v", v)
	}
	if v.PatientName != app.PatientName(patient) || v.ConsentBy != me.Name {
		t.Errorf("visit patient %q, consent by %q; want %q and %q", v.PatientName, v.ConsentBy, app.PatientName(patient), me.Name)
	}
	if want := "Visit — " + app.PatientName(patient) + " — "; !strings.HasPrefix(v.Note.Name, want) {
		t.Errorf("note name %q; want it to start %q", v.Note.Name, want)
	}
	turns, err := c.Transcript(ctx, e.ID)
	if err != nil || len(turns) != 1 || turns[0].Live || turns[0].Start != 0 || turns[0].End != 3*time.Second || turns[0].Text == "" {
		t.Fatalf("transcript %+v, %v; want one gap turn over the whole recording", turns, err)
	}
	if got := serverNote(t, p, url, v.NoteID); got.Patient == nil || got.Patient.Id != patient.Id || got.Template == nil || got.Template.Id != 2 {
		t.Errorf("server note %+v; want the patient and template given", got)
	}

	// Edits as typed: kept here at once, the last one reaches the server.
	for _, text := range []string{"S: better.", "S: better. O: calm.", "S: better. O: calm. P: review in 4 weeks."} {
		if err := c.SaveDraft(ctx, e.ID, text); err != nil {
			t.Fatal(err)
		}
	}
	v = waitVisit(t, c, e.ID, 15*time.Second, "the edit to reach the server", func(v app.Visit) bool { return !v.Unsent })
	if got := serverNote(t, p, url, v.NoteID); got.Analysis == nil || *got.Analysis != "S: better. O: calm. P: review in 4 weeks." {
		t.Errorf("server analysis %v; want the last edit", got.Analysis)
	}
	updates, err := c.Jobs(ctx, app.JobFilter{Group: "encounter:" + e.ID})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKind(updates, "update-note"); n < 1 || n > 3 {
		t.Errorf("%d update-note jobs for 3 edits; want 1–3 (edits made while one waits share it)", n)
	}

	if err := c.SignNote(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveDraft(ctx, e.ID, "late change"); err == nil || !strings.Contains(app.Explain(err), "Unsign it first") {
		t.Errorf("editing a signed note: %v", err)
	}
	if err := c.SignNote(ctx, e.ID); err == nil {
		t.Error("signing twice accepted")
	}
	waitJobs(t, c, 15*time.Second, "the signature to reach the server", func() bool { return signedAt(serverNote(t, p, url, v.NoteID)) })
	if err := c.UnsignNote(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Visit(ctx, e.ID); v.State != app.StateReady {
		t.Errorf("after unsign: %s", v.State)
	}
	waitJobs(t, c, 15*time.Second, "the unsign to reach the server", func() bool { return !signedAt(serverNote(t, p, url, v.NoteID)) })
}

func countKind(jobs []app.Job, kind string) int {
	n := 0
	for _, j := range jobs {
		if j.Kind == kind {
			n++
		}
	}
	return n
}

// With the server down, a visit is recorded, edited and signed; all of it
// waits here and, when the server returns, arrives in order: the draft,
// then the edit, then the signature.
func TestOfflineVisitArrivesInOrder(t *testing.T) {
	ctx := t.Context()
	addr := closedPort(t)
	state := t.TempDir()
	srv, url := startSandboxAt(t, state, addr)
	p := newProfile(t)
	c := p.open(t, "")
	signIn(t, c, url)
	serve(t, c)
	srv.Close()

	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 2*time.Second)
	e, err := c.ImportRecording(ctx, wav, app.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const mine = "Written while offline: patient well, no changes."
	if err := c.SaveDraft(ctx, e.ID, mine); err != nil {
		t.Fatal(err)
	}
	if err := c.SignNote(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	v, err := c.Visit(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != app.StateSigned || v.Draft != mine || !v.Unsent {
		t.Errorf("offline visit %+v; want signed here, with the unsent edit", v)
	}
	jobs, err := c.Jobs(ctx, app.JobFilter{Group: "encounter:" + e.ID})
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, len(jobs))
	for i, j := range jobs {
		kinds[i] = j.Kind
		if j.State == outbox.Done {
			t.Errorf("job %s done with the server down", j.Kind)
		}
	}
	if want := []string{"transcribe-gap", "create-note", "update-note", "sign-note"}; !slices.Equal(kinds, want) {
		t.Errorf("queued %v; want %v", kinds, want)
	}

	startSandboxAt(t, state, addr)
	back := time.Now()
	waitJobs(t, c, 30*time.Second, "every job of the visit", func() bool {
		js, err := c.Jobs(ctx, app.JobFilter{Group: "encounter:" + e.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range js {
			if j.State != outbox.Done {
				return false
			}
		}
		return true
	})
	t.Logf("the visit reached the server %v after it came back", time.Since(back).Round(time.Millisecond))
	jobs, _ = c.Jobs(ctx, app.JobFilter{Group: "encounter:" + e.ID})
	for i := 1; i < len(jobs); i++ {
		if jobs[i].UpdatedAt.Before(jobs[i-1].UpdatedAt) {
			t.Errorf("%s finished before %s", jobs[i].Kind, jobs[i-1].Kind)
		}
	}
	v, _ = c.Visit(ctx, e.ID)
	n := serverNote(t, p, url, v.NoteID)
	if n.Analysis == nil || *n.Analysis != mine || !signedAt(n) {
		t.Errorf("server note: analysis %v, signed %v; want the offline edit, signed", n.Analysis, signedAt(n))
	}
	if v.State != app.StateSigned || v.Unsent {
		t.Errorf("visit after sync: %s, unsent %v", v.State, v.Unsent)
	}
}

// A server that refuses FLAC uploads gets the gap as WAV instead, and the
// visit still reaches its note.
func TestGapFallsBackToWAV(t *testing.T) {
	ctx := t.Context()
	srv, err := sandbox.New(ctx, sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var flacRefused, wavTaken atomic.Int32
	refuseFLAC := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/v1/transcriptions") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if bytes.Contains(body, []byte(`filename="gap.flac"`)) {
				flacRefused.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnsupportedMediaType)
				io.WriteString(w, `{"message":"Only WAV and MP3 audio are accepted."}`)
				return
			}
			if bytes.Contains(body, []byte(`filename="gap.wav"`)) {
				wavTaken.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		srv.Handler().ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: refuseFLAC, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	url := "http://" + ln.Addr().String() + "/api"

	c := newProfile(t).open(t, "")
	signIn(t, c, url)
	serve(t, c)
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 2*time.Second)
	e, err := c.ImportRecording(ctx, wav, app.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := waitVisit(t, c, e.ID, 30*time.Second, "the draft", func(v app.Visit) bool { return v.State == app.StateReady })
	if flacRefused.Load() != 1 || wavTaken.Load() != 1 {
		t.Errorf("FLAC refused %d times, WAV taken %d times; want 1 and 1", flacRefused.Load(), wavTaken.Load())
	}
	if turns, _ := c.Transcript(ctx, e.ID); len(turns) != 1 || turns[0].Text == "" || v.Draft == "" {
		t.Errorf("transcript %+v, draft %q", turns, v.Draft)
	}
}

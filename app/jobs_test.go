package app_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/internal/wavtest"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// startSandboxAt runs a sandbox keeping its state in dir, listening on
// addr: stopping one and starting another over the same dir and addr is
// the server going away and coming back with its accounts and tokens.
func startSandboxAt(t *testing.T, dir, addr string) (*sandbox.Server, string) {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: dir, ProcessingDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err := srv.Start(t.Context(), addr)
	if err != nil {
		t.Fatalf("start the sandbox on %s: %v", addr, err)
	}
	return srv, url
}

// waitJobs waits until cond holds, looking again at every change of c's
// outbox, for at most d.
func waitJobs(t *testing.T, c *app.Core, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for {
		changed := c.JobsChanged()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
	}
}

// jobState reads one job's state for a wait condition.
func jobState(t *testing.T, c *app.Core, id app.JobID) app.JobState {
	t.Helper()
	j, err := c.Job(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j.State
}

// serverPatients lists the patients the server holds matching search,
// with the profile's stored token and no help from the Core.
func serverPatients(t *testing.T, p *profile, url, search string) []api.Patient {
	t.Helper()
	token, err := p.vault.Get(t.Context(), tokenPrefix+url)
	if err != nil {
		t.Fatal(err)
	}
	client, err := api.New(url, api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := client.PatientsPage(t.Context(), api.PatientQuery{Search: search, PerPage: 100}, 1)
	if err != nil {
		t.Fatalf("list the server's patients: %v", err)
	}
	if pg.HasNext() {
		t.Fatalf("more than 100 patients match %q at the server", search)
	}
	return pg.Items
}

func hasPatient(ps []api.Patient, id int64) bool {
	return slices.ContainsFunc(ps, func(p api.Patient) bool { return p.Id == id })
}

// A patient added with the server down is kept here with a local id, can
// be found and given a visit, and lands at the server exactly once within
// seconds of it coming back; the visit then points at the server's id.
func TestOfflinePatientLandsWhenServerReturns(t *testing.T) {
	ctx := t.Context()
	addr := closedPort(t)
	state := t.TempDir()
	srv, url := startSandboxAt(t, state, addr)
	p := newProfile(t)
	p.attempts = 1
	c := p.open(t, "")
	signIn(t, c, url)
	serve(t, c)
	if _, err := c.Patients(ctx, "", 1, 0); err != nil {
		t.Fatal(err)
	}

	srv.Close() // the address now refuses connections

	added, err := c.CreatePatient(ctx, app.NewPatient{FirstName: "Olwen", LastName: "Offlinetest", DateOfBirth: "1979-06-30"})
	if err != nil {
		t.Fatalf("create offline: %v (%s)", err, app.Explain(err))
	}
	if !added.Pending || added.Reason == "" {
		t.Fatalf("created offline: pending %v, reason %q; want pending with a reason", added.Pending, added.Reason)
	}
	local := added.Patient
	if !app.IsLocal(local) || app.PatientName(local) != "Olwen Offlinetest" {
		t.Fatalf("the patient kept here: %+v; want a local (negative) id and the name given", local)
	}
	if c.Online() {
		t.Error("Online() is true with the server refusing connections")
	}
	j, err := c.Job(ctx, added.Job)
	if err != nil {
		t.Fatal(err)
	}
	key := j.IdempotencyKey
	if j.Kind != "create-patient" || j.State != outbox.Queued || j.Attempts < 1 || !strings.HasPrefix(key, "create-patient:") {
		t.Errorf("job %+v; want a queued create-patient job tried at least once", j)
	}
	if got := app.DescribeJob(j); got != "Add patient Olwen Offlinetest" {
		t.Errorf("DescribeJob = %q", got)
	}

	pg, err := c.Patients(ctx, "offlinetest", 1, 0)
	if !errors.Is(err, app.ErrOffline) {
		t.Errorf("offline search: %v, want ErrOffline", err)
	}
	if len(pg.Items) != 1 || pg.Items[0].Id != local.Id {
		t.Errorf("offline search for the new patient: %+v; want only local id %d", pg.Items, local.Id)
	}

	// A visit for the new patient can start before the server knows them.
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 500*time.Millisecond)
	enc, encErr := c.ImportRecording(ctx, wav, app.ImportOptions{PatientID: local.Id})
	if encErr != nil {
		t.Errorf("an encounter for the patient added offline (id %d): %v (%s)", local.Id, encErr, app.Explain(encErr))
	}

	srv2, _ := startSandboxAt(t, state, addr)
	back := time.Now()
	waitJobs(t, c, 15*time.Second, "the patient to land", func() bool { return jobState(t, c, added.Job) == outbox.Done })
	t.Logf("the patient landed %v after the server came back", time.Since(back).Round(time.Millisecond))

	if !c.Online() {
		t.Error("Online() is false after a job went through")
	}
	if n := srv2.EffectCount(key); n != 1 {
		t.Errorf("EffectCount(%s) = %d, want 1", key, n)
	}
	at := serverPatients(t, p, url, "Offlinetest")
	if len(at) != 1 || at[0].Id <= 0 || app.PatientName(at[0]) != "Olwen Offlinetest" {
		t.Fatalf("the server holds %+v; want exactly one Olwen Offlinetest", at)
	}
	sid := at[0].Id
	pg, err = c.Patients(ctx, "offlinetest", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Items) != 1 || pg.Items[0].Id != sid {
		t.Errorf("search after landing: %+v; want only server id %d", pg.Items, sid)
	}
	// Offline, the kept roster has the server's id instead of the local one.
	srv2.Close()
	pg, err = c.Patients(ctx, "offlinetest", 1, 0)
	if !errors.Is(err, app.ErrOffline) || len(pg.Items) != 1 || pg.Items[0].Id != sid {
		t.Errorf("kept roster after landing: %v, %+v; want only server id %d", err, pg.Items, sid)
	}
	if encErr == nil {
		e, err := c.Encounter(ctx, enc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.PatientID != sid {
			t.Errorf("the encounter points at patient %d, want the server's id %d", e.PatientID, sid)
		}
	}
	p.log.noneIn(t, "Olwen", "Offlinetest")
}

// Patients added here and not yet sent lead the first page of an online
// roster, and leave it (for the server's copy) once sent.
func TestLocalPatientLeadsPageOne(t *testing.T) {
	ctx := t.Context()
	srv, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	signIn(t, c, url)

	// Without Serve nothing sends it; a caller that stops waiting gets it
	// pending, not yet tried.
	short, cancel := context.WithTimeout(ctx, time.Second)
	added, err := c.CreatePatient(short, app.NewPatient{FirstName: "Lena", LastName: "Leadtest"})
	cancel()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !added.Pending || added.Reason != "" || !app.IsLocal(added.Patient) {
		t.Fatalf("added %+v; want pending, untried, local", added)
	}
	first, err := c.Patients(ctx, "", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) == 0 || first.Items[0].Id != added.Patient.Id {
		t.Fatalf("page 1 starts with %+v; want the local patient %d", first.Items[:min(1, len(first.Items))], added.Patient.Id)
	}
	second, err := c.Patients(ctx, "", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if hasPatient(second.Items, added.Patient.Id) {
		t.Error("the local patient is on page 2 as well")
	}
	if other, err := c.Patients(ctx, "nobody-has-this-name", 1, 0); err != nil || hasPatient(other.Items, added.Patient.Id) {
		t.Errorf("a search that does not match still lists the local patient: %v", err)
	}

	serve(t, c)
	j, err := c.WaitJob(ctx, added.Job)
	if err != nil || j.State != outbox.Done {
		t.Fatalf("job %+v, %v; want done", j, err)
	}
	if n := srv.EffectCount(j.IdempotencyKey); n != 1 {
		t.Errorf("EffectCount = %d, want 1", n)
	}
	first, err = c.Patients(ctx, "leadtest", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 1 || app.IsLocal(first.Items[0]) {
		t.Errorf("after sending: %+v; want the server's copy only", first.Items)
	}
}

// Cancelling a pending patient removes it from the roster kept here;
// retrying the cancelled job sends it after all, once.
func TestCancelAndRetryPendingPatient(t *testing.T) {
	ctx := t.Context()
	addr := closedPort(t)
	state := t.TempDir()
	srv, url := startSandboxAt(t, state, addr)
	p := newProfile(t)
	p.attempts = 1
	c := p.open(t, "")
	signIn(t, c, url)
	serve(t, c)
	srv.Close()

	added, err := c.CreatePatient(ctx, app.NewPatient{FirstName: "Cato", LastName: "Canceltest"})
	if err != nil || !added.Pending {
		t.Fatalf("create offline: %+v, %v", added, err)
	}
	pg, _ := c.Patients(ctx, "canceltest", 1, 0)
	if !hasPatient(pg.Items, added.Patient.Id) {
		t.Fatalf("the pending patient is not in the roster kept here: %+v", pg.Items)
	}

	if err := c.CancelJob(ctx, added.Job); err != nil {
		// While offline the job must stay queued: a second attempt here
		// means a worker claimed it although the queue had gone offline.
		t.Fatalf("cancel: %v (%s)\n%s", err, app.Explain(err), p.log)
	}
	if s := jobState(t, c, added.Job); s != outbox.Cancelled {
		t.Errorf("after CancelJob the job is %s", s)
	}
	pg, _ = c.Patients(ctx, "canceltest", 1, 0)
	if len(pg.Items) != 0 {
		t.Errorf("the cancelled patient is still in the roster kept here: %+v", pg.Items)
	}
	err = c.CancelJob(ctx, added.Job)
	if err == nil || !strings.Contains(app.Explain(err), "cannot do that now") {
		t.Errorf("cancelling twice: %v; want a refusal", err)
	}
	if err := c.CancelJob(ctx, 987654); err == nil || !strings.Contains(app.Explain(err), "no such job") {
		t.Errorf("cancelling an unknown job: %v (%s)", err, app.Explain(err))
	}

	if err := c.RetryJob(ctx, added.Job); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if s := jobState(t, c, added.Job); s != outbox.Queued && s != outbox.Running {
		t.Errorf("after RetryJob the job is %s, want queued", s)
	}
	pg, _ = c.Patients(ctx, "canceltest", 1, 0)
	if !hasPatient(pg.Items, added.Patient.Id) {
		t.Error("after RetryJob the patient is not back on the roster kept here, so no visit can be started for it")
	}

	srv2, _ := startSandboxAt(t, state, addr)
	waitJobs(t, c, 15*time.Second, "the retried patient to land", func() bool { return jobState(t, c, added.Job) == outbox.Done })
	j, err := c.Job(ctx, added.Job)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv2.EffectCount(j.IdempotencyKey); n != 1 {
		t.Errorf("EffectCount = %d, want 1", n)
	}
	if at := serverPatients(t, p, url, "Canceltest"); len(at) != 1 {
		t.Errorf("the server holds %d Cato Canceltest, want 1", len(at))
	}
	pg, err = c.Patients(ctx, "canceltest", 1, 0)
	if err != nil || len(pg.Items) != 1 || app.IsLocal(pg.Items[0]) {
		t.Errorf("roster after the retried job: %v, %+v; want the server's copy only", err, pg.Items)
	}
	if err := c.RetryJob(ctx, added.Job); err == nil || !strings.Contains(app.Explain(err), "it is done") {
		t.Errorf("retrying a done job: %v; want a refusal saying it is done", err)
	}
	if err := c.CancelJob(ctx, added.Job); err == nil || !strings.Contains(app.Explain(err), "it is done") {
		t.Errorf("cancelling a done job: %v; want a refusal saying it is done", err)
	}
}

// The last successful read and write of the current server are shown
// during a run and survive a restart, at most remoteSaveEvery (2 s) older.
func TestRemotesKeepLastReadAndWrite(t *testing.T) {
	const saveEvery = 2 * time.Second // remotes.go remoteSaveEvery
	ctx := t.Context()
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	if rs := c.Remotes(ctx); len(rs) != 0 {
		t.Errorf("a fresh profile lists remotes %+v", rs)
	}
	signIn(t, c, url)
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c.Serve(serveCtx) }()

	listed := time.Now()
	if _, err := c.Patients(ctx, "", 1, 0); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	added, err := c.CreatePatient(ctx, app.NewPatient{FirstName: "Remy", LastName: "Remotetest"})
	if err != nil || added.Pending {
		t.Fatalf("create: %+v, %v", added, err)
	}
	stop()
	<-served
	// A read after the write: the next run may see it up to saveEvery
	// older, never not at all.
	if _, err := c.Patients(ctx, "", 1, 0); err != nil {
		t.Fatal(err)
	}

	host := strings.TrimPrefix(strings.TrimSuffix(url, "/api"), "http://")
	rs := c.Remotes(ctx)
	if len(rs) == 0 || rs[0].Host != host {
		t.Fatalf("Remotes = %+v; want %s first", rs, host)
	}
	run := rs[0]
	if run.LastRead.Before(listed) || run.LastWrite.Before(created) || run.LastRead.After(time.Now()) || run.LastWrite.After(time.Now()) {
		t.Errorf("during the run: %+v; want a read after %v and a write after %v", run, listed, created)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	rs = p.open(t, "").Remotes(ctx)
	if len(rs) == 0 || rs[0].Host != host {
		t.Fatalf("after a restart, Remotes = %+v; want %s first", rs, host)
	}
	for _, f := range []struct {
		name      string
		run, kept time.Time
	}{{"read", run.LastRead, rs[0].LastRead}, {"write", run.LastWrite, rs[0].LastWrite}} {
		if f.kept.IsZero() || f.kept.After(f.run) || f.run.Sub(f.kept) > saveEvery {
			t.Errorf("after a restart the last %s is %v; during the run it was %v (want at most %v older, not zero)", f.name, f.kept, f.run, saveEvery)
		}
	}
}

// A job whose token the server rejects waits for a sign-in (queued, not
// needing attention), and goes as soon as the clinician signs in again.
func TestJobWaitsForSignIn(t *testing.T) {
	ctx := t.Context()
	srv, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	signIn(t, c, url)
	serve(t, c)
	token, err := p.vault.Get(ctx, tokenPrefix+url)
	if err != nil {
		t.Fatal(err)
	}
	// Revoked behind the Core's back, as signing out elsewhere would.
	other, err := api.New(url, api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Logout(ctx); err != nil {
		t.Fatal(err)
	}

	added, err := c.CreatePatient(ctx, app.NewPatient{FirstName: "Tobin", LastName: "Tokentest"})
	if err != nil {
		t.Fatalf("create with a revoked token: %v (%s)", err, app.Explain(err))
	}
	if !added.Pending || !strings.Contains(added.Reason, "sign") {
		t.Errorf("added: pending %v, reason %q; want pending with a reason about signing in", added.Pending, added.Reason)
	}
	j, err := c.Job(ctx, added.Job)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != outbox.Queued || j.Attempts != 1 || time.Until(j.NextAttemptAt) < 30*time.Second {
		t.Errorf("job %s, %d attempts, next in %v; want queued, waiting long for a sign-in", j.State, j.Attempts, time.Until(j.NextAttemptAt).Round(time.Second))
	}
	if _, ok := c.User(); ok {
		t.Error("the session survived a rejected token")
	}
	if n := srv.EffectCount(j.IdempotencyKey); n != 0 {
		t.Errorf("EffectCount = %d before sign-in, want 0", n)
	}

	signedIn := time.Now()
	signIn(t, c, url)
	// WaitJob would return at once (the job was tried already): wait for
	// it to settle, well within the minute it would wait unprompted.
	waitJobs(t, c, 10*time.Second, "the job to be sent after signing in", func() bool {
		s := jobState(t, c, added.Job)
		return s == outbox.Done || s == outbox.NeedsAttention
	})
	if j, err = c.Job(ctx, added.Job); err != nil || j.State != outbox.Done {
		t.Fatalf("after signing in again: job %s (%s), %v; want done", j.State, j.LastError, err)
	}
	t.Logf("sent %v after signing in again", time.Since(signedIn).Round(time.Millisecond))
	if n := srv.EffectCount(j.IdempotencyKey); n != 1 {
		t.Errorf("EffectCount = %d, want 1", n)
	}
}

// Scribe started with the server down (an offline Resume) still takes new
// patients, and sends them once the server is back.
func TestOfflineStartPatientLands(t *testing.T) {
	ctx := t.Context()
	addr := closedPort(t)
	state := t.TempDir()
	srv, url := startSandboxAt(t, state, addr)
	p := newProfile(t)
	p.attempts = 1
	first := p.open(t, "")
	signIn(t, first, url)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	c := p.open(t, "")
	if _, err := c.Resume(ctx); !errors.Is(err, app.ErrOffline) {
		t.Fatalf("Resume with the server down: %v, want ErrOffline", err)
	}
	serve(t, c)
	added, err := c.CreatePatient(ctx, app.NewPatient{FirstName: "Sten", LastName: "Starttest"})
	if err != nil || !added.Pending || !app.IsLocal(added.Patient) {
		t.Fatalf("create after an offline start: %+v, %v; want a pending local patient", added, err)
	}
	if c.Online() {
		t.Error("Online() is true with the server down")
	}

	srv2, _ := startSandboxAt(t, state, addr)
	back := time.Now()
	waitJobs(t, c, 15*time.Second, "the patient to land", func() bool { return jobState(t, c, added.Job) == outbox.Done })
	t.Logf("the patient landed %v after the server came back", time.Since(back).Round(time.Millisecond))
	j, err := c.Job(ctx, added.Job)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv2.EffectCount(j.IdempotencyKey); n != 1 {
		t.Errorf("EffectCount = %d, want 1", n)
	}
	if at := serverPatients(t, p, url, "Starttest"); len(at) != 1 {
		t.Errorf("the server holds %d Sten Starttest, want 1", len(at))
	}
}

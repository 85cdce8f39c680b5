package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/internal/wavtest"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/nexhealth"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/oauthehr"
	sandboxsp "github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

// ehrEnv is a signed-in profile against a sandbox with its EHR models.
type ehrEnv struct {
	srv *sandbox.Server
	url string
	// rosterEvery is Config.RosterEvery (0: the default).
	rosterEvery time.Duration
	p           *profile
	c           *app.Core
	me          api.User
	stop        func() // stops Serve and closes c
}

func newEHREnv(t *testing.T) *ehrEnv {
	t.Helper()
	srv, url := startSandbox(t)
	e := &ehrEnv{srv: srv, url: url, p: newProfile(t)}
	e.open(t, nil)
	e.me = signIn(t, e.c, url)
	return e
}

// open opens the profile (as a fresh start of Scribe) and serves it until
// stop or the end of the test.
func (e *ehrEnv) open(t *testing.T, browser func(context.Context, string) error) {
	t.Helper()
	c, err := app.Open(t.Context(), app.Config{
		ProfileDir: e.p.dir, Secrets: e.p.vault, EHRBrowser: browser, RosterEvery: e.rosterEvery,
		Logger: slog.New(slog.NewTextHandler(e.p.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	stopped := false
	e.c = c
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		c.Close()
	}
	t.Cleanup(e.stop)
}

func admin(t *testing.T, name string) func(context.Context, string) error {
	b := &ehrtest.Browser{Email: oauthehr.AdminEmail(name), Password: oauthehr.AdminPassword}
	return b.Open(t)
}

func (e *ehrEnv) connect(t *testing.T, req app.ConnectRequest) app.Connection {
	t.Helper()
	cn, err := e.c.ConnectEHR(t.Context(), req)
	if err != nil {
		t.Fatalf("connect %s: %v (%s)", req.Kind, err, app.Explain(err))
	}
	return cn
}

// patient finds a sample patient by last name in the Nextvisit roster.
func (e *ehrEnv) patient(t *testing.T, last string) api.Patient {
	t.Helper()
	pg, err := e.c.Patients(t.Context(), last, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pg.Items {
		if p.LastName == last {
			return p
		}
	}
	t.Fatalf("no patient %s in the sandbox roster", last)
	return api.Patient{}
}

// signedVisit imports a short recording for patient, waits for its draft,
// sets the note's text and signs it.
func (e *ehrEnv) signedVisit(t *testing.T, patient api.Patient, text string) string {
	t.Helper()
	ctx := t.Context()
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, time.Second)
	enc, err := e.c.ImportRecording(ctx, wav, app.ImportOptions{PatientID: patient.Id, Consent: true})
	if err != nil {
		t.Fatal(err)
	}
	waitVisit(t, e.c, enc.ID, 30*time.Second, "the draft", func(v app.Visit) bool { return v.State == app.StateReady })
	if err := e.c.SaveDraft(ctx, enc.ID, text); err != nil {
		t.Fatal(err)
	}
	if err := e.c.SignNote(ctx, enc.ID); err != nil {
		t.Fatal(err)
	}
	return enc.ID
}

// pushJob is the ehr-push job of an encounter to kind (the latest).
func pushJob(t *testing.T, c *app.Core, kind ehr.Kind, enc string) app.Job {
	t.Helper()
	jobs, err := c.Jobs(t.Context(), app.JobFilter{Group: "ehr:" + string(kind) + ":" + enc})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(jobs) - 1; i >= 0; i-- {
		if jobs[i].Kind == "ehr-push" {
			return jobs[i]
		}
	}
	t.Fatalf("no ehr-push job for %s to %s", enc, kind)
	return app.Job{}
}

// waitFor waits until cond holds, looking again at every change of a job,
// an encounter or a connection.
func waitFor(t *testing.T, c *app.Core, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for {
		jobs, encs, conns := c.JobsChanged(), c.EncountersChanged(), c.ConnectionsChanged()
		if cond() {
			return
		}
		select {
		case <-jobs:
		case <-encs:
		case <-conns:
		case <-ctx.Done():
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
	}
}

// held reports whether a job waits for its connection after a try.
func held(j app.Job) bool {
	return j.State == outbox.Queued && j.Attempts > 0
}

func jobNow(t *testing.T, c *app.Core, id app.JobID) app.Job {
	t.Helper()
	j, err := c.Job(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func connNow(t *testing.T, c *app.Core, kind ehr.Kind) app.Connection {
	t.Helper()
	cn, err := c.Connection(t.Context(), kind)
	if err != nil {
		t.Fatal(err)
	}
	return cn
}

// Osmind by OAuth (the browser stand-in as Config.EHRBrowser): a new
// connection is in test mode and holds automatic pushes; an unmapped
// clinician stops the test push with "map provider"; mapping wakes it; the
// admin confirms and the held push lands, each exactly once, and the
// visits become delivered.
func TestEHROAuthTestModeMappingDelivery(t *testing.T) {
	ctx := t.Context()
	srv, url := startSandbox(t)
	e := &ehrEnv{srv: srv, url: url, p: newProfile(t)}
	e.open(t, admin(t, "Osmind"))
	e.me = signIn(t, e.c, url)
	c := e.c

	cn := e.connect(t, app.ConnectRequest{Kind: ehr.Osmind})
	if cn.State != app.ConnTest || cn.Auth != "oauth" || !cn.TwoWay || !cn.CanReplace || cn.Settings != app.DefaultPushSettings() {
		t.Fatalf("new connection %+v; want test mode, oauth, two-way, default settings", cn)
	}
	if cn.Account.Name != "Osmind" || cn.RosterAt.IsZero() || cn.LastRead.IsZero() || len(cn.Log) == 0 {
		t.Errorf("connection %+v; want the account, a roster read and a log entry", cn)
	}
	pm, err := c.ProviderMap(ctx, ehr.Osmind)
	if err != nil {
		t.Fatal(err)
	}
	var mine *app.ProviderRow
	for i, r := range pm.Rows {
		if r.Clinician.ID == e.me.Id {
			mine = &pm.Rows[i]
		}
	}
	if len(pm.Providers) != 3 || mine == nil || mine.Confirmed || mine.Suggestion == nil || mine.Suggestion.By != "email" {
		t.Fatalf("provider map %+v; want 3 providers and an email suggestion for %s", pm, e.me.Name)
	}

	jane, grace := e.patient(t, "Doe"), e.patient(t, "Kim")
	a := e.signedVisit(t, jane, "S: sleeping better.\nP: continue.")
	b := e.signedVisit(t, grace, "S: anxious.\nP: review in two weeks.")
	ja, jb := pushJob(t, c, ehr.Osmind, a), pushJob(t, c, ehr.Osmind, b)
	waitFor(t, c, 15*time.Second, "both pushes held by test mode", func() bool {
		return held(jobNow(t, c, ja.ID)) && held(jobNow(t, c, jb.ID))
	})
	if j := jobNow(t, c, jb.ID); !strings.Contains(j.LastError, "test mode") {
		t.Errorf("held push says %q; want it to name test mode", j.LastError)
	}
	if docs, _ := srv.Osmind().Documents(ctx); len(docs) != 0 {
		t.Fatalf("%d documents at Osmind while in test mode", len(docs))
	}
	if err := c.ConfirmTestPush(ctx, ehr.Osmind); err == nil {
		t.Error("confirmed a test push that was never made")
	}

	id, err := c.TestPush(ctx, ehr.Osmind, a)
	if err != nil {
		t.Fatal(err)
	}
	if id != ja.ID {
		t.Errorf("test push made job %d; want the held one, %d", id, ja.ID)
	}
	waitFor(t, c, 15*time.Second, "the test push to stop for the mapping", func() bool { return jobNow(t, c, id).State == outbox.NeedsAttention })
	if j := jobNow(t, c, id); !strings.Contains(j.LastError, "map provider "+e.me.Name) || !strings.Contains(j.WhatToDo, "Providers") {
		t.Errorf("unmapped push: %q / %q; want \"map provider %s\"", j.LastError, j.WhatToDo, e.me.Name)
	}
	// The visit itself says so too, where the clinician looks.
	if v, err := c.Visit(ctx, a); err != nil || v.Status.Label != "Needs attention" || v.Status.Job != id || !strings.Contains(v.Status.Reason, "map provider") {
		t.Errorf("visit status %+v, %v; want Needs attention for job %d, map provider", v.Status, err, id)
	}
	if js, err := c.VisitJobs(ctx, a); err != nil || !slices.ContainsFunc(js, func(j app.Job) bool { return j.ID == id }) {
		t.Errorf("VisitJobs has no job %d: %v", id, err)
	}
	if cn := connNow(t, c, ehr.Osmind); cn.Attention != 1 || cn.Pending != 1 || cn.Test == nil || cn.Test.Reason == "" {
		t.Errorf("connection %+v; want one push needing attention, one pending, the test push's reason", cn)
	}
	if err := c.MapProvider(ctx, ehr.Osmind, e.me.Id, "no-such-provider"); err == nil {
		t.Error("mapped to a provider Osmind does not have")
	}
	if err := c.MapProvider(ctx, ehr.Osmind, e.me.Id, mine.Suggestion.ProviderID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, 15*time.Second, "the test push to land", func() bool {
		cn := connNow(t, c, ehr.Osmind)
		return cn.Test != nil && cn.Test.Sent != nil
	})
	sent := connNow(t, c, ehr.Osmind).Test.Sent
	if sent.PatientName == "" || !strings.Contains(app.PatientName(jane), "Jane") || sent.Clinician != e.me.Name ||
		sent.ProviderName == "" || sent.Status != ehr.Confirmed || !strings.Contains(sent.Content, "S: sleeping better.") {
		t.Errorf("test push as sent: %+v", sent)
	}
	docs, err := srv.Osmind().Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].PatientID != sent.EHRPatientID || docs[0].ProviderID != mine.Suggestion.ProviderID ||
		docs[0].VisitDate != sent.VisitDate || docs[0].Content != sent.Content {
		t.Fatalf("Osmind chart %+v; want the test note as sent %+v", docs, sent)
	}
	va, err := c.Visit(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if sent.VisitDate != va.Created.Local().Format(time.DateOnly) {
		t.Errorf("visit date %s; the visit was on %s", sent.VisitDate, va.Created.Local())
	}
	if held(jobNow(t, c, jb.ID)) == false || len(docs) != 1 {
		t.Errorf("the other visit's push did not wait for the confirmation: %+v", jobNow(t, c, jb.ID))
	}

	if err := c.ConfirmTestPush(ctx, ehr.Osmind); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, 20*time.Second, "the held push to land", func() bool { return jobNow(t, c, jb.ID).State == outbox.Done })
	waitVisit(t, c, b, 10*time.Second, "visit b delivered", func(v app.Visit) bool { return v.State == app.StateDelivered })
	waitVisit(t, c, a, 10*time.Second, "visit a delivered", func(v app.Visit) bool { return v.State == app.StateDelivered })
	docs, _ = srv.Osmind().Documents(ctx)
	if len(docs) != 2 {
		t.Fatalf("%d documents at Osmind; want 2 (one per visit)", len(docs))
	}
	for _, j := range []app.Job{ja, jb} {
		if n := srv.Osmind().EffectCount(j.IdempotencyKey); n != 1 {
			t.Errorf("push %s had %d effects; want 1", j.IdempotencyKey, n)
		}
	}
	if cn := connNow(t, c, ehr.Osmind); cn.State != app.ConnActive || cn.Pending != 0 || cn.LastWrite.IsZero() || cn.Test != nil {
		t.Errorf("after confirmation %+v; want Active, nothing pending, a last write", cn)
	}
	if got := app.DescribeJob(jobNow(t, c, jb.ID)); got != "Send note to Osmind" {
		t.Errorf("DescribeJob = %q", got)
	}
	notes, err := c.SentNotes(ctx, b)
	if err != nil || len(notes) != 1 || notes[0].Kind != ehr.Osmind || notes[0].Event != "sign" {
		t.Errorf("sent notes of b: %+v, %v", notes, err)
	}
	e.p.log.noneIn(t, app.PatientName(jane), app.PatientName(grace), "sleeping better")
}

// Wrong credentials are refused with a message naming them, and nothing
// is kept; so are a denied consent and a missing scope.
func TestEHRConnectRefusals(t *testing.T) {
	ctx := t.Context()
	e := newEHREnv(t)
	c := e.c
	check := func(name string, req app.ConnectRequest, want string) {
		t.Helper()
		_, err := c.ConnectEHR(ctx, req)
		if err == nil || !strings.Contains(app.Explain(err), want) {
			t.Errorf("%s: %v (%s); want it to say %q", name, err, app.Explain(err), want)
		}
		if cn := connNow(t, c, req.Kind); cn.State != app.ConnNotConnected || len(cn.Log) == 0 {
			t.Errorf("%s: connection %+v; want not connected, with a log entry", name, cn)
		}
		if _, err := e.p.vault.Get(ctx, "ehr:"+string(req.Kind)); !errors.Is(err, platform.ErrSecretNotFound) {
			t.Errorf("%s: credentials kept (%v)", name, err)
		}
	}
	check("wrong token", app.ConnectRequest{Kind: ehr.SimplePractice, Token: "sp_wrong"}, "did not accept the API token")
	check("empty token", app.ConnectRequest{Kind: ehr.SimplePractice}, "empty")
	check("wrong key", app.ConnectRequest{Kind: ehr.NexHealth, APIKey: "nex_wrong", Subdomain: nexhealth.SampleSubdomain, LocationID: "2101"}, "did not accept the API key")
	check("no subdomain", app.ConnectRequest{Kind: ehr.NexHealth, APIKey: nexhealth.SampleAPIKey, LocationID: "2101"}, "needs the subdomain")
	check("foreign location", app.ConnectRequest{Kind: ehr.NexHealth, APIKey: nexhealth.SampleAPIKey, Subdomain: nexhealth.SampleSubdomain, LocationID: "999999"}, "no such location")
	deny := &ehrtest.Browser{Email: oauthehr.AdminEmail("Kalix"), Password: oauthehr.AdminPassword, Decision: "deny"}
	check("denied", app.ConnectRequest{Kind: ehr.Kalix, OpenBrowser: deny.Open(t)}, "Access was denied")
	noWrite := &ehrtest.Browser{Email: oauthehr.AdminEmail("Kalix"), Password: oauthehr.AdminPassword, Scopes: []string{"patients.read"}}
	check("missing scope", app.ConnectRequest{Kind: ehr.Kalix, OpenBrowser: noWrite.Open(t)}, "notes.write")
	if _, err := c.ConnectEHR(ctx, app.ConnectRequest{Kind: "epic"}); err == nil || !strings.Contains(app.Explain(err), "osmind") {
		t.Errorf("unknown kind: %v", err)
	}
	if cn := connNow(t, c, ehr.Kalix); len(cn.Log) < 2 || !cn.Log[0].Error {
		t.Errorf("Kalix log %+v; want an error entry per failed connect, newest first", cn.Log)
	}
	e.p.log.noneIn(t, "sp_wrong", "nex_wrong", nexhealth.SampleAPIKey)
}

// SimplePractice by token with Replace: a later version of the same note
// replaces the first in the chart; then Disconnect forgets the token and
// cancels the waiting pushes, and a reconnect finds the mapping.
func TestEHRTokenReplaceAndDisconnect(t *testing.T) {
	ctx := t.Context()
	e := newEHREnv(t)
	c := e.c
	e.connect(t, app.ConnectRequest{Kind: ehr.SimplePractice, Token: sandboxsp.SampleToken})
	if _, err := e.p.vault.Get(ctx, "ehr:simplepractice"); err != nil {
		t.Fatalf("token not kept: %v", err)
	}
	if n, err := c.ConfirmSuggestions(ctx, ehr.SimplePractice); err != nil || n < 1 {
		t.Fatalf("confirm suggestions: %d, %v", n, err)
	}
	if err := c.SetPushSettings(ctx, ehr.SimplePractice, app.PushSettings{When: app.PushOnSign, What: ehr.NoteOnly, Update: ehr.Replace}); err != nil {
		t.Fatal(err)
	}
	jane := e.patient(t, "Doe")
	a := e.signedVisit(t, jane, "first text")
	if _, err := c.TestPush(ctx, ehr.SimplePractice, a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, 15*time.Second, "the test push", func() bool {
		return pushJob(t, c, ehr.SimplePractice, a).State == outbox.Done
	})
	if err := c.ConfirmTestPush(ctx, ehr.SimplePractice); err != nil {
		t.Fatal(err)
	}
	if err := c.UnsignNote(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveDraft(ctx, a, "second text"); err != nil {
		t.Fatal(err)
	}
	if err := c.SignNote(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitVisit(t, c, a, 20*time.Second, "the replacement delivered", func(v app.Visit) bool { return v.State == app.StateDelivered })
	docs, err := e.srv.SimplePractice().Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Version != 2 || docs[0].Content != "second text" {
		t.Fatalf("SimplePractice chart %+v; want one note, replaced once, note only", docs)
	}
	notes, err := c.SentNotes(ctx, a)
	if err != nil || len(notes) != 2 || notes[1].Version <= notes[0].Version || notes[1].Content != "second text" {
		t.Errorf("sent notes %+v, %v", notes, err)
	}

	// A push waiting in test mode is cancelled by Disconnect.
	if err := c.SetPushSettings(ctx, ehr.SimplePractice, app.PushSettings{When: app.PushOnUnsign, What: ehr.NoteOnly, Update: ehr.Append}); err != nil {
		t.Fatal(err)
	}
	e.srv.SimplePractice().Faults().SetErrorRate(1)
	if err := c.UnsignNote(ctx, a); err != nil {
		t.Fatal(err)
	}
	j := pushJob(t, c, ehr.SimplePractice, a)
	waitFor(t, c, 15*time.Second, "the unsign push to fail for now", func() bool { return held(jobNow(t, c, j.ID)) })
	if err := c.DisconnectEHR(ctx, ehr.SimplePractice); err != nil {
		t.Fatal(err)
	}
	e.srv.SimplePractice().Faults().Reset()
	waitFor(t, c, 15*time.Second, "the waiting push cancelled", func() bool { return jobNow(t, c, j.ID).State == outbox.Cancelled })
	if _, err := e.p.vault.Get(ctx, "ehr:simplepractice"); !errors.Is(err, platform.ErrSecretNotFound) {
		t.Errorf("token still kept after Disconnect: %v", err)
	}
	if cn := connNow(t, c, ehr.SimplePractice); cn.State != app.ConnNotConnected {
		t.Errorf("after Disconnect: %+v", cn)
	}
	if v, err := c.Visit(ctx, a); err != nil || v.Draft != "second text" {
		t.Errorf("the visit lost its note: %+v %v", v.Draft, err)
	}
	e.connect(t, app.ConnectRequest{Kind: ehr.SimplePractice, Token: sandboxsp.SampleToken})
	pm, err := c.ProviderMap(ctx, ehr.SimplePractice)
	if err != nil {
		t.Fatal(err)
	}
	mapped := 0
	for _, r := range pm.Rows {
		if r.Confirmed {
			mapped++
		}
	}
	if mapped == 0 {
		t.Errorf("the mapping did not outlive the disconnect: %+v", pm.Rows)
	}
	e.p.log.noneIn(t, sandboxsp.SampleToken)
}

// NexHealth by API key: Replace is refused; the roster fills the patient
// list's sources, on a profile that has not listed its patients yet; a push whose reply is lost (and one refused with 503) is
// sent again with its key and lands once, confirmed through ehr-confirm.
func TestEHRNexHealthConfirmAndRetry(t *testing.T) {
	ctx := t.Context()
	e := newEHREnv(t)
	c := e.c
	jane := e.patient(t, "Doe")
	// Nobody has listed the patients here: the roster sync reads them itself to link the EHR's to.
	cn := e.connect(t, app.ConnectRequest{Kind: ehr.NexHealth, APIKey: nexhealth.SampleAPIKey, Subdomain: nexhealth.SampleSubdomain, LocationID: "2101"})
	if cn.CanReplace || cn.Auth != "api-key" || cn.Account.Location == "" {
		t.Errorf("NexHealth connection %+v", cn)
	}
	if err := c.SetPushSettings(ctx, ehr.NexHealth, app.PushSettings{When: app.PushOnSign, What: ehr.NoteWithCodes, Update: ehr.Replace}); err == nil {
		t.Error("Replace accepted for NexHealth")
	}
	n, err := c.SyncRoster(ctx, ehr.NexHealth)
	if err != nil || n < 20 {
		t.Fatalf("roster sync: %d, %v", n, err)
	}
	src, err := c.PatientSources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(src[jane.Id]) != 1 || src[jane.Id][0] != ehr.NexHealth || len(src) < 20 {
		t.Errorf("patient sources %v; want Jane Doe (%d) and most others in NexHealth", src, jane.Id)
	}
	_, err = c.ConnectEHR(ctx, app.ConnectRequest{Kind: ehr.NexHealth, APIKey: nexhealth.SampleAPIKey, Subdomain: nexhealth.SampleSubdomain, LocationID: "2102"})
	if err == nil || !strings.Contains(app.Explain(err), "one location") {
		t.Errorf("second location: %v", err)
	}
	if _, err := c.ConfirmSuggestions(ctx, ehr.NexHealth); err != nil {
		t.Fatal(err)
	}

	a := e.signedVisit(t, jane, "S: calmer.\nP: continue.")
	nex := e.srv.NexHealth()
	nex.Faults().SetLostReplyRate(1)
	id, err := c.TestPush(ctx, ehr.NexHealth, a)
	if err != nil {
		t.Fatal(err)
	}
	key := jobNow(t, c, id).IdempotencyKey
	waitFor(t, c, 15*time.Second, "the push whose reply was lost", func() bool {
		return nex.EffectCount(key) == 1 && held(jobNow(t, c, id))
	})
	nex.Faults().SetLostReplyRate(0)
	nex.Faults().SetErrorRate(1)
	if _, err := c.SendNow(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, 15*time.Second, "a 503", func() bool { return jobNow(t, c, id).Attempts >= 2 })
	nex.Faults().SetErrorRate(0)
	waitFor(t, c, 30*time.Second, "the push and its confirmation", func() bool {
		if j := jobNow(t, c, id); held(j) {
			c.SendNow(ctx) // cut the backoff short
		}
		cn := connNow(t, c, ehr.NexHealth)
		return cn.Test != nil && cn.Test.Sent != nil && cn.Test.Sent.Status == ehr.Confirmed
	})
	if got := nex.EffectCount(key); got != 1 {
		t.Errorf("the push had %d effects; want 1", got)
	}
	docs, err := nex.Documents(ctx)
	if err != nil || len(docs) != 1 || docs[0].Status != "completed" {
		t.Fatalf("NexHealth documents %+v, %v; want one, completed", docs, err)
	}
	confirms, err := c.Jobs(ctx, app.JobFilter{Group: "ehr:nexhealth:" + a})
	if err != nil || countKind(confirms, "ehr-confirm") != 1 || app.DescribeJob(confirms[len(confirms)-1]) != "Confirm note in NexHealth" {
		t.Errorf("jobs %+v, %v; want one ehr-confirm", confirms, err)
	}
	if err := c.ConfirmTestPush(ctx, ehr.NexHealth); err != nil {
		t.Fatal(err)
	}
	waitVisit(t, c, a, 10*time.Second, "delivered", func(v app.Visit) bool { return v.State == app.StateDelivered })
}

// A revoked OAuth grant (the stored refresh token refused at the next
// start) expires the connection and holds its pushes, not failed; a
// reconnect keeps the settings and releases them, once.
func TestEHRExpiredGrantHoldsPushes(t *testing.T) {
	ctx := t.Context()
	srv, url := startSandbox(t)
	e := &ehrEnv{srv: srv, url: url, p: newProfile(t)}
	e.open(t, nil)
	e.me = signIn(t, e.c, url)
	e.connect(t, app.ConnectRequest{Kind: ehr.Kalix, OpenBrowser: admin(t, "Kalix")})
	if _, err := e.c.ConfirmSuggestions(ctx, ehr.Kalix); err != nil {
		t.Fatal(err)
	}
	pm, err := e.c.ProviderMap(ctx, ehr.Kalix)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pm.Rows {
		if r.Clinician.ID == e.me.Id && !r.Confirmed {
			// Kalix spells the name "Rivera, Samuel" with another email:
			// map by hand when the suggestion did not reach.
			for _, p := range pm.Providers {
				if strings.Contains(p.Name, "Rivera") {
					if err := e.c.MapProvider(ctx, ehr.Kalix, e.me.Id, p.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if err := e.c.SetPushSettings(ctx, ehr.Kalix, app.PushSettings{When: app.PushOnSign, What: ehr.NoteOnly, Update: ehr.Append}); err != nil {
		t.Fatal(err)
	}
	jane := e.patient(t, "Doe")
	a := e.signedVisit(t, jane, "first visit")
	if _, err := e.c.TestPush(ctx, ehr.Kalix, a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.c, 15*time.Second, "the test push", func() bool { return pushJob(t, e.c, ehr.Kalix, a).State == outbox.Done })
	if err := e.c.ConfirmTestPush(ctx, ehr.Kalix); err != nil {
		t.Fatal(err)
	}

	// The admin removes Scribe in Kalix: the kept grant no longer works.
	e.stop()
	revoked := `{"oauth2":{"access_token":"revoked","token_type":"Bearer","refresh_token":"revoked","expiry":"2000-01-01T00:00:00Z"}}`
	if err := e.p.vault.Set(ctx, "ehr:kalix", revoked); err != nil {
		t.Fatal(err)
	}
	e.open(t, nil)
	c := e.c
	if _, err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	b := e.signedVisit(t, e.patient(t, "Kim"), "second visit")
	j := pushJob(t, c, ehr.Kalix, b)
	waitFor(t, c, 15*time.Second, "the connection to expire", func() bool { return connNow(t, c, ehr.Kalix).State == app.ConnExpired })
	waitFor(t, c, 15*time.Second, "the push to be held", func() bool { return held(jobNow(t, c, j.ID)) })
	cn := connNow(t, c, ehr.Kalix)
	if cn.Reason == "" || !strings.Contains(cn.WhatToDo, "Connect Kalix again") || cn.Attention != 0 || cn.Pending != 1 {
		t.Errorf("expired connection %+v", cn)
	}
	e.connect(t, app.ConnectRequest{Kind: ehr.Kalix, OpenBrowser: admin(t, "Kalix")})
	waitVisit(t, c, b, 20*time.Second, "the held push delivered", func(v app.Visit) bool { return v.State == app.StateDelivered })
	cn = connNow(t, c, ehr.Kalix)
	if cn.State != app.ConnActive || cn.Settings.What != ehr.NoteOnly {
		t.Errorf("after reconnect %+v; want Active with the settings kept", cn)
	}
	if n := srv.Kalix().EffectCount(j.IdempotencyKey); n != 1 {
		t.Errorf("held push had %d effects; want 1", n)
	}
	docs, _ := srv.Kalix().Documents(ctx)
	if len(docs) != 2 {
		t.Errorf("%d Kalix documents; want 2", len(docs))
	}
	e.p.log.noneIn(t, "revoked\"")
}

// A provider CSV with bad rows applies the good ones and reports each bad
// one by line; a file that is not a mapping applies nothing.
func TestEHRImportProviders(t *testing.T) {
	ctx := t.Context()
	e := newEHREnv(t)
	c := e.c
	e.connect(t, app.ConnectRequest{Kind: ehr.Osmind, OpenBrowser: admin(t, "Osmind")})
	var out bytes.Buffer
	if err := c.ExportProviders(ctx, ehr.Osmind, &out); err != nil {
		t.Fatal(err)
	}
	pm, err := c.ProviderMap(ctx, ehr.Osmind)
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Clinicians) != 3 {
		t.Fatalf("%d clinicians; want the sandbox team's 3", len(pm.Clinicians))
	}
	if _, _, err := c.ImportProviders(ctx, ehr.Osmind, strings.NewReader("hello,world\n1,2\n")); err == nil || !strings.Contains(app.Explain(err), "not a provider mapping") {
		t.Errorf("not a mapping: %v", err)
	}
	good := pm.Clinicians[0]
	csv := "clinician_id,provider_id\n" +
		itoa(good.ID) + "," + pm.Providers[0].ID + "\n" +
		"999,whatever\n" +
		itoa(pm.Clinicians[1].ID) + ",no-such-provider\n"
	n, rowErrs, err := c.ImportProviders(ctx, ehr.Osmind, strings.NewReader(csv))
	if err != nil || n != 1 || len(rowErrs) != 2 || rowErrs[0].Line != 3 || rowErrs[1].Line != 4 {
		t.Fatalf("import: %d applied, %+v, %v; want 1 applied and lines 3 and 4 refused", n, rowErrs, err)
	}
	pm, err = c.ProviderMap(ctx, ehr.Osmind)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pm.Rows {
		if want := r.Clinician.ID == good.ID; r.Confirmed != want {
			t.Errorf("row %+v confirmed=%v; want %v", r.Clinician, r.Confirmed, want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Serve reads the roster of a two-way connection again every RosterEvery,
// and the connection's last read advances with it.
func TestEHRRosterLoop(t *testing.T) {
	srv, url := startSandbox(t)
	e := &ehrEnv{srv: srv, url: url, p: newProfile(t), rosterEvery: 100 * time.Millisecond}
	e.open(t, nil)
	e.me = signIn(t, e.c, url)
	c := e.c
	first := e.connect(t, app.ConnectRequest{Kind: ehr.NexHealth, APIKey: nexhealth.SampleAPIKey, Subdomain: nexhealth.SampleSubdomain, LocationID: "2101"})
	if first.RosterAt.IsZero() {
		t.Fatal("no roster read at connect")
	}
	waitFor(t, c, 10*time.Second, "two more roster reads", func() bool {
		cn := connNow(t, c, ehr.NexHealth)
		return cn.RosterAt.After(first.RosterAt.Add(150*time.Millisecond)) && !cn.LastRead.Before(cn.RosterAt)
	})
}

// NexHealth refuses a note after accepting it: the confirmation needs
// attention and so does the connection; Retry sends it again as a new
// document and all is well. Then, pushing on sign and unsign with Append,
// the unsign adds a second document to the same chart.
func TestEHRFailedConfirmAndAppendOnBoth(t *testing.T) {
	ctx := t.Context()
	e := newEHREnv(t)
	c := e.c
	jane := e.patient(t, "Doe")
	e.connect(t, app.ConnectRequest{Kind: ehr.NexHealth, APIKey: nexhealth.SampleAPIKey, Subdomain: nexhealth.SampleSubdomain, LocationID: "2101"})
	if _, err := c.ConfirmSuggestions(ctx, ehr.NexHealth); err != nil {
		t.Fatal(err)
	}
	a := e.signedVisit(t, jane, "S: steady.")
	nex := e.srv.NexHealth()
	nex.FailNextDocuments(1)
	if _, err := c.TestPush(ctx, ehr.NexHealth, a); err != nil {
		t.Fatal(err)
	}
	var confirm app.Job
	waitFor(t, c, 20*time.Second, "the refused note to need attention", func() bool {
		jobs, err := c.Jobs(ctx, app.JobFilter{Group: "ehr:nexhealth:" + a})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Kind == "ehr-confirm" && j.State == outbox.NeedsAttention {
				confirm = j
				return true
			}
		}
		return false
	})
	if cn := connNow(t, c, ehr.NexHealth); cn.State != app.ConnNeedsAttention || cn.Reason == "" || cn.Attention != 1 {
		t.Errorf("connection after a refused note: %+v", cn)
	}
	if err := c.ConfirmTestPush(ctx, ehr.NexHealth); err == nil {
		t.Error("confirmed a test push whose note was refused")
	}
	if err := c.RetryJob(ctx, confirm.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, 20*time.Second, "the note sent again and confirmed", func() bool { return jobNow(t, c, confirm.ID).State == outbox.Done })
	if cn := connNow(t, c, ehr.NexHealth); cn.State != app.ConnTest || cn.Test == nil || cn.Test.Sent == nil || cn.Test.Sent.Status != ehr.Confirmed {
		t.Fatalf("after the retry %+v; want test mode again with the test note confirmed", cn)
	}
	if err := c.ConfirmTestPush(ctx, ehr.NexHealth); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPushSettings(ctx, ehr.NexHealth, app.PushSettings{When: app.PushOnBoth, What: ehr.NoteOnly, Update: ehr.Append}); err != nil {
		t.Fatal(err)
	}
	if err := c.UnsignNote(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, 20*time.Second, "the unsign push confirmed", func() bool {
		notes, err := c.SentNotes(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return len(notes) == 2 && notes[1].Event == "unsign" && notes[1].Status == ehr.Confirmed
	})
	docs, err := nex.Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var done []nexhealth.Document
	for _, d := range docs {
		if d.Status == "completed" {
			done = append(done, d)
		}
	}
	if len(docs) != 3 || len(done) != 2 || done[0].PatientID != done[1].PatientID {
		t.Errorf("NexHealth documents %d (completed %d); want the refused one, its resend and the unsign push, on one chart", len(docs), len(done))
	}
	if v, err := c.Visit(ctx, a); err != nil || v.State != app.StateReady {
		t.Errorf("unsigned visit: %v %v; want ready (an unsign push does not deliver)", v.State, err)
	}
}

// SimplePractice looks clients up by exact last name; a patient whose name
// the EHR writes without accents or transliterated is still found.
func TestEHRFindsPatientSpelledOtherwise(t *testing.T) {
	ctx := t.Context()
	e := newEHREnv(t)
	c := e.c
	e.connect(t, app.ConnectRequest{Kind: ehr.SimplePractice, Token: sandboxsp.SampleToken})
	if _, err := c.ConfirmSuggestions(ctx, ehr.SimplePractice); err != nil {
		t.Fatal(err)
	}
	for _, last := range []string{"García", "Müller"} {
		a := e.signedVisit(t, e.patient(t, last), "note for "+last)
		id, err := c.TestPush(ctx, ehr.SimplePractice, a)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, c, 15*time.Second, "the push for "+last, func() bool {
			s := jobNow(t, c, id).State
			return s == outbox.Done || s == outbox.NeedsAttention
		})
		if j := jobNow(t, c, id); j.State != outbox.Done {
			t.Errorf("push for %s: %s: %s", last, j.State, j.LastError)
		}
	}
}

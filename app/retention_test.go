package app

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/internal/wavtest"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
	"github.com/nextvisit/scribe/sync/store"
)

// retentionEnv is a profile whose secrets live outside its folder (as the
// OS keyring's do), on a clock the test moves forward.
type retentionEnv struct {
	dir   string
	vault *platform.FileVault
	mics  *fakeMics
	skew  atomic.Int64 // added to the real time, in nanoseconds
	c     *Core
}

func newRetentionEnv(t *testing.T) *retentionEnv {
	t.Helper()
	root := t.TempDir()
	vault, err := platform.NewFileVault(filepath.Join(root, "keyring"))
	if err != nil {
		t.Fatal(err)
	}
	e := &retentionEnv{dir: filepath.Join(root, "profile"), vault: vault, mics: newFakeMics(testMic)}
	c, err := Open(t.Context(), Config{ProfileDir: e.dir, Secrets: vault, AudioBackend: e.mics})
	if err != nil {
		t.Fatal(err)
	}
	c.sys = newRecProfile(t).sys
	c.ret.now = func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }
	t.Cleanup(func() { c.Close() })
	e.c = c
	return e
}

func retentionSandbox(t *testing.T) string {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err := srv.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// serveUntil runs Serve until the returned stop is called; stop waits for
// it to return.
func serveUntil(t *testing.T, c *Core) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// waitUntil waits for cond, looking again at each change of an encounter
// or a job, for at most d.
func waitUntil(t *testing.T, c *Core, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for {
		enc, jobs := c.EncountersChanged(), c.JobsChanged()
		if cond() {
			return
		}
		select {
		case <-enc:
		case <-jobs:
		case <-ctx.Done():
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
	}
}

// addRow makes a visit directly in the store, with audio in its folder.
func (e *retentionEnv) addRow(t *testing.T, state EncounterState, signed time.Time) store.Encounter {
	t.Helper()
	ctx := t.Context()
	id := newEncounterID(time.Now())
	row := store.Encounter{ID: id, State: string(state), CreatedAt: time.Now(), Source: SourceImport, Dir: "encounters/" + id}
	if err := e.c.db.CreateEncounter(ctx, row); err != nil {
		t.Fatal(err)
	}
	draft := "S: well."
	if err := e.c.db.PatchEncounter(ctx, id, store.EncounterPatch{SignedAt: &signed, Draft: &draft}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.db.AddTurn(ctx, id, store.Turn{Start: 0, End: 16000, Text: "hello there", Source: store.TurnLive}, store.Range{Start: 0, End: 16000}); err != nil {
		t.Fatal(err)
	}
	dir := e.c.journalDir(row)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seg-000001.wav"), []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	return row
}

func audioHere(t *testing.T, c *Core, id string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(c.encountersDir(), id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// The sweep deletes the audio of visits signed at least RetentionDays ago
// whose jobs are all finished — and nothing else; the visit, its note and
// transcript stay, marked, and playback says the audio is gone.
func TestRetentionSweepsOnlyOldSignedDone(t *testing.T) {
	ctx := t.Context()
	url := retentionSandbox(t)
	e := newRetentionEnv(t)
	c := e.c
	if c.RetentionDays() != DefaultRetentionDays {
		t.Fatalf("retention %d days; want the default %d", c.RetentionDays(), DefaultRetentionDays)
	}
	if _, err := c.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	stop := serveUntil(t, c)

	// A visit all the way to a signed note at the server.
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 2*time.Second)
	a, err := c.ImportRecording(ctx, wav, ImportOptions{Consent: true})
	if err != nil {
		t.Fatal(Explain(err))
	}
	state := func() EncounterState {
		en, err := c.Encounter(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return en.State
	}
	waitUntil(t, c, 30*time.Second, "the draft", func() bool { return state() == StateReady })
	if err := c.SignNote(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, c, 30*time.Second, "the visit's jobs to finish", func() bool {
		j, err := c.busyJob(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return j == nil
	})
	// Signed just now: kept, however often the sweep runs.
	if n, err := c.sweepRetention(ctx); err != nil || n != 0 || !audioHere(t, c, a.ID) {
		t.Fatalf("sweep of a note signed now: %d deleted, %v; audio here %v", n, err, audioHere(t, c, a.ID))
	}

	// 31 days on, the loop in Serve deletes it when woken.
	e.skew.Store(int64(31 * 24 * time.Hour))
	kick(c.ret.kick)
	waitUntil(t, c, 10*time.Second, "the retention sweep", func() bool {
		_, ok, err := c.LocalDeletion(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	stop()
	if audioHere(t, c, a.ID) {
		t.Error("the audio is still here after the sweep marked it deleted")
	}
	d, _, err := c.LocalDeletion(ctx, a.ID)
	if err != nil || d.Reason != DeletedByRetention || d.Text || !strings.HasPrefix(d.String(), "Audio deleted on ") || !strings.HasSuffix(d.String(), "(retention)") {
		t.Errorf("deletion %+v (%q), %v; want audio only, by retention", d, d, err)
	}
	v, err := c.Visit(ctx, a.ID)
	if err != nil || v.Note == nil || v.Draft == "" || v.State != StateSigned {
		t.Fatalf("visit after retention %+v, %v; want it signed with its note and draft", v, err)
	}
	if turns, err := c.Transcript(ctx, a.ID); err != nil || len(turns) == 0 {
		t.Errorf("transcript after retention %v, %v; want it kept", turns, err)
	}
	if err := c.PlayRange(ctx, a.ID, 0, time.Second); !errors.Is(err, ErrAudioDeleted) || !strings.Contains(Explain(err), "(retention)") {
		t.Errorf("play after retention: %v (%s); want ErrAudioDeleted saying why", err, Explain(err))
	}
	if err := c.ExportEncounter(ctx, a.ID, filepath.Join(t.TempDir(), "x.wav")); !errors.Is(err, ErrAudioDeleted) {
		t.Errorf("export after retention: %v; want ErrAudioDeleted", err)
	}

	// Without Serve, each case by itself.
	now := c.ret.now()
	old := now.Add(-40 * 24 * time.Hour)
	pushed := e.addRow(t, StateSigned, old) // a push of its note still queued
	recent := e.addRow(t, StateSigned, now.Add(-29*24*time.Hour))
	unsigned := e.addRow(t, StateReady, time.Time{}) // never signed
	stale := e.addRow(t, StateDelivered, old)        // old, signed, nothing pending
	edge := e.addRow(t, StateSigned, now.Add(-30*24*time.Hour))
	push, err := c.queue.Enqueue(ctx, outbox.NewJob{Kind: kindEHRPush, Group: ehrGroup(ehr.SimplePractice, pushed.ID),
		IdempotencyKey: "test-push:" + pushed.ID, Payload: []byte(`{"v":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.sweepRetention(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sweep deleted %d, %v; want 2 (the stale visit, and the one signed exactly 30 days ago)", n, err)
	}
	for _, w := range []struct {
		name string
		id   string
		kept bool
	}{{"queued push", pushed.ID, true}, {"recent", recent.ID, true}, {"unsigned", unsigned.ID, true}, {"stale", stale.ID, false}, {"30 days", edge.ID, false}} {
		if got := audioHere(t, c, w.id); got != w.kept {
			t.Errorf("%s visit: audio here %v, want %v", w.name, got, w.kept)
		}
		if _, marked, err := c.LocalDeletion(ctx, w.id); err != nil || marked == w.kept {
			t.Errorf("%s visit: marked %v (%v), want %v", w.name, marked, err, !w.kept)
		}
	}
	// Its push given up, the visit's audio goes at the next sweep.
	if err := c.CancelJob(ctx, push); err != nil {
		t.Fatal(err)
	}
	if n, err := c.sweepRetention(ctx); err != nil || n != 1 || audioHere(t, c, pushed.ID) {
		t.Errorf("sweep after the push was cancelled: %d deleted, %v; want the pushed visit's audio gone", n, err)
	}
}

func TestRetentionDaysConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profile")
	vault, err := platform.NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), Config{ProfileDir: dir, Secrets: vault, RetentionDays: -1}); err == nil || !strings.Contains(err.Error(), "RetentionDays is -1") {
		t.Fatalf("open with RetentionDays -1: %v; want it refused", err)
	}
	c, err := Open(t.Context(), Config{ProfileDir: dir, Secrets: vault, RetentionDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RetentionDays() != 7 {
		t.Errorf("RetentionDays %d, want 7", c.RetentionDays())
	}
}

// DeleteLocalData is refused while the visit records or its jobs still
// need its data, saying which; otherwise the audio, transcript and draft go.
func TestDeleteLocalData(t *testing.T) {
	ctx := t.Context()
	e := newRetentionEnv(t)
	c := e.c

	if err := c.DeleteLocalData(ctx, "nonsense"); err == nil || !strings.Contains(Explain(err), "is not an encounter id") {
		t.Errorf("bad id: %v", err)
	}

	rec, err := c.StartRecording(ctx, RecordOptions{Consent: true})
	if err != nil {
		t.Fatal(Explain(err))
	}
	err = c.DeleteLocalData(ctx, rec.ID())
	if !errors.Is(err, ErrInUse) || !strings.Contains(Explain(err), "still being recorded") {
		t.Errorf("delete while recording: %v (%s); want ErrInUse, saying to End it", err, Explain(err))
	}
	if !audioHere(t, c, rec.ID()) {
		t.Error("the recording's audio went while it was recording")
	}
	if _, err := rec.End(ctx); err != nil {
		t.Fatal(err)
	}

	row := e.addRow(t, StateSigned, c.ret.now())
	job, err := c.queue.Enqueue(ctx, outbox.NewJob{Kind: kindSignNote, Group: encounterGroup(row.ID),
		IdempotencyKey: "test-sign:" + row.ID, Payload: []byte(`{"v":1,"encounter":"` + row.ID + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	err = c.DeleteLocalData(ctx, row.ID)
	if !errors.Is(err, ErrInUse) || !strings.Contains(Explain(err), "Sign the note of visit "+row.ID) || !strings.Contains(Explain(err), "is queued") {
		t.Errorf("delete with a queued job: %v (%s); want ErrInUse naming the job", err, Explain(err))
	}
	if !audioHere(t, c, row.ID) {
		t.Fatal("the audio went although a job was queued")
	}
	if err := c.CancelJob(ctx, job); err != nil {
		t.Fatal(err)
	}

	// Held by another process (an export, an import): refused, kept.
	lock, err := lockEncounter(c.encountersDir(), row.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteLocalData(ctx, row.ID); !errors.Is(err, ErrInUse) || !strings.Contains(Explain(err), "in use by another Scribe") {
		t.Errorf("delete while locked: %v", err)
	}
	lock.unlock()

	changed := c.EncountersChanged()
	if err := c.DeleteLocalData(ctx, row.ID); err != nil {
		t.Fatal(Explain(err))
	}
	select {
	case <-changed:
	default:
		t.Error("no encounter change was announced")
	}
	if audioHere(t, c, row.ID) {
		t.Error("the audio is still here")
	}
	en, err := c.Encounter(ctx, row.ID)
	if err != nil || en.Draft != "" {
		t.Errorf("encounter after delete %+v, %v; want it listed with no draft", en, err)
	}
	if err := c.SaveDraft(ctx, row.ID, "typed into the empty box"); err == nil || !strings.Contains(Explain(err), "edit the note in Nextvisit") {
		t.Errorf("saving a draft whose text was deleted: %v; want it refused", err)
	}
	if turns, err := c.Transcript(ctx, row.ID); err != nil || len(turns) != 0 {
		t.Errorf("transcript after delete %v, %v; want none", turns, err)
	}
	d, ok, err := c.LocalDeletion(ctx, row.ID)
	if err != nil || !ok || d.Reason != DeletedOnRequest || !d.Text || !strings.HasPrefix(d.String(), "Audio, transcript and draft deleted on ") {
		t.Errorf("deletion %+v (%q) %v %v", d, d, ok, err)
	}
	if err := c.PlayRange(ctx, row.ID, 0, time.Second); !errors.Is(err, ErrAudioDeleted) {
		t.Errorf("play after delete: %v; want ErrAudioDeleted", err)
	}
}

// A job that needs attention holds the data too, and the refusal says to
// Retry or Cancel it.
func TestDeleteLocalDataNeedsAttention(t *testing.T) {
	ctx := t.Context()
	e := newRetentionEnv(t)
	c := e.c
	row := e.addRow(t, StateSigned, c.ret.now())
	// A push whose payload is unreadable fails for good at once.
	if _, err := c.queue.Enqueue(ctx, outbox.NewJob{Kind: kindEHRPush, Group: ehrGroup(ehr.Osmind, row.ID),
		IdempotencyKey: "test-push:" + row.ID, Payload: []byte(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	stop := serveUntil(t, c)
	waitUntil(t, c, 10*time.Second, "the push to need attention", func() bool {
		j, err := c.busyJob(ctx, row.ID)
		if err != nil {
			t.Fatal(err)
		}
		return j != nil && j.State == outbox.NeedsAttention
	})
	stop()
	err := c.DeleteLocalData(ctx, row.ID)
	if !errors.Is(err, ErrInUse) || !strings.Contains(Explain(err), "needs attention") || !strings.Contains(Explain(err), "Retry or Cancel") {
		t.Errorf("delete with a push needing attention: %v (%s)", err, Explain(err))
	}
	if !audioHere(t, c, row.ID) {
		t.Error("the audio went")
	}
}

// A wipe is refused while recording; then it signs out at the server,
// leaves none of the profile's secrets in the keyring and nothing in the
// profile folder, and ends Serve.
func TestWipeAndSignOut(t *testing.T) {
	ctx := t.Context()
	url := retentionSandbox(t)
	e := newRetentionEnv(t)
	c := e.c
	if _, err := c.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	tok, err := e.vault.Get(ctx, tokenKey(c.Server()))
	if err != nil {
		t.Fatal(err)
	}
	// A token kept from an earlier server, and an EHR's credentials.
	other := "http://127.0.0.1:1/"
	if err := e.vault.Set(ctx, tokenKey(other), "old-token"); err != nil {
		t.Fatal(err)
	}
	if err := c.db.SetSetting(ctx, settingUser+other, `{"id":1}`); err != nil {
		t.Fatal(err)
	}
	if err := c.saveCreds(ctx, ehr.SimplePractice, "https://sp.example", ehrCreds{Token: "sp-secret"}); err != nil {
		t.Fatal(err)
	}
	e.addRow(t, StateSigned, c.ret.now())
	served := make(chan error, 1)
	go func() { served <- c.Serve(ctx) }()

	rec, err := c.StartRecording(ctx, RecordOptions{Consent: true})
	if err != nil {
		t.Fatal(Explain(err))
	}
	if err := c.WipeAndSignOut(ctx); !errors.Is(err, ErrInUse) {
		t.Fatalf("wipe while recording: %v; want ErrInUse", err)
	}
	if _, ok := c.User(); !ok {
		t.Fatal("the refused wipe signed out")
	}
	if _, err := rec.End(ctx); err != nil {
		t.Fatal(err)
	}

	if err := c.WipeAndSignOut(ctx); err != nil {
		t.Fatalf("wipe: %v (%s)", err, Explain(err))
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrWiped) {
			t.Errorf("Serve returned %v; want ErrWiped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still runs after the wipe")
	}
	for _, key := range []string{tokenKey(c.Server()), tokenKey(other), secretEHR + string(ehr.SimplePractice)} {
		if v, err := e.vault.Get(ctx, key); !errors.Is(err, platform.ErrSecretNotFound) {
			t.Errorf("secret %q still kept (%d bytes, %v)", key, len(v), err)
		}
	}
	if _, err := os.Stat(e.dir); !errors.Is(err, fs.ErrNotExist) {
		var left []string
		filepath.WalkDir(e.dir, func(p string, _ fs.DirEntry, _ error) error { left = append(left, p); return nil })
		t.Errorf("the profile folder is still there: %v", left)
	}
	// The token was revoked at the server, not only forgotten here.
	cl, err := api.New(c.Server(), api.Options{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.User(ctx); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("the wiped session's token still works at the server: %v", err)
	}
	if err := c.WipeAndSignOut(ctx); !errors.Is(err, ErrWiped) {
		t.Errorf("second wipe: %v; want ErrWiped", err)
	}
	if err := c.Serve(ctx); !errors.Is(err, ErrWiped) {
		t.Errorf("Serve after the wipe: %v; want ErrWiped", err)
	}
}

// Only Scribe's own files go: a profile folder given with --profile may
// hold the user's.
func TestRemoveProfileDataKeepsOthers(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"scribe.db", "scribe.db-wal", ".secrets.vault-123.tmp", "mine.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "encounters", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := removeProfileData(dir)
	if err == nil || !strings.Contains(err.Error(), "mine.txt") {
		t.Errorf("removeProfileData: %v; want it to name the file it left", err)
	}
	es, _ := os.ReadDir(dir)
	if len(es) != 1 || es[0].Name() != "mine.txt" {
		t.Errorf("left %v; want only mine.txt", es)
	}
}

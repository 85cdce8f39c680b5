package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// DefaultRetentionDays is how many days after its note is signed (and its
// jobs are done) a visit's audio stays on this computer, unless
// Config.RetentionDays says otherwise.
const DefaultRetentionDays = 30

// retentionEvery is how often Serve looks for audio past its time.
const retentionEvery = time.Hour

// Why a visit's local data was deleted (LocalDeletion.Reason).
const (
	DeletedByRetention = "retention"
	DeletedOnRequest   = "on request"
)

// ErrInUse refuses to delete data that is still needed: a recording under
// way, or a job of the visit that still has to read it.
var ErrInUse = errors.New("the visit's local data is still in use")

// ErrAudioDeleted: the visit's audio is no longer on this computer.
var ErrAudioDeleted = errors.New("the visit's audio was deleted from this computer")

// ErrWiped: the profile was wiped (WipeAndSignOut); the Core is closed.
var ErrWiped = errors.New("this profile was wiped")

// retentionState is what Core keeps for deleting local data.
type retentionState struct {
	db   store.RetentionStore
	days int
	now  func() time.Time // tests move it forward
	kick chan struct{}    // wakes the sweep loop (buffered, 1)

	mu      sync.Mutex
	wiping  bool
	stop    chan struct{}  // closed when a wipe begins: Serve returns
	serving sync.WaitGroup // the Serve calls under way, which a wipe waits for
}

func newRetentionState(db store.RetentionStore, cfg Config) *retentionState {
	days := cfg.RetentionDays
	if days == 0 {
		days = DefaultRetentionDays
	}
	return &retentionState{db: db, days: days, now: time.Now, kick: make(chan struct{}, 1), stop: make(chan struct{})}
}

// checkRetentionDays refuses a negative Config.RetentionDays.
func checkRetentionDays(days int) error {
	if days < 0 {
		return fmt.Errorf("open profile: RetentionDays is %d; use 0 for the default of %d days, or a number of days", days, DefaultRetentionDays)
	}
	return nil
}

// RetentionDays is how many days after signing a visit's audio is kept.
func (c *Core) RetentionDays() int { return c.ret.days }

// LocalDeletion says what of a visit's local data was deleted, when and
// why; the visit itself, its note and its history remain.
type LocalDeletion struct {
	At     time.Time
	Reason string // DeletedByRetention or DeletedOnRequest
	Text   bool   // the transcript and draft went too, not only the audio
}

// String is what a screen says: "Audio deleted on 2 Jan 2026 (retention)".
func (d LocalDeletion) String() string {
	what := "Audio"
	if d.Text {
		what = "Audio, transcript and draft"
	}
	return fmt.Sprintf("%s deleted on %s (%s)", what, d.At.Local().Format("2 Jan 2006"), d.Reason)
}

// LocalDeletion returns what of visit id's local data was deleted; ok is
// false while it is all here.
func (c *Core) LocalDeletion(ctx context.Context, id string) (d LocalDeletion, ok bool, err error) {
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return LocalDeletion{}, false, err
	}
	return c.deletion(ctx, row.ID)
}

func (c *Core) deletion(ctx context.Context, id string) (LocalDeletion, bool, error) {
	m, err := c.ret.db.LocalDeletion(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return LocalDeletion{}, false, nil
	}
	if err != nil {
		return LocalDeletion{}, false, err
	}
	return LocalDeletion{At: m.At, Reason: m.Reason, Text: m.Text}, true, nil
}

// audioGone says so when row's audio was deleted, for playback and export.
func (c *Core) audioGone(ctx context.Context, row store.Encounter) error {
	d, ok, err := c.deletion(ctx, row.ID)
	if err != nil || !ok {
		return err
	}
	return explained(d.String()+" — the visit's audio is no longer on this computer; its note and history remain.", ErrAudioDeleted)
}

// retentionLoop sweeps at start, then every hour (and when kicked), until
// ctx ends.
func (c *Core) retentionLoop(ctx context.Context) {
	every(ctx, func() time.Duration { return retentionEvery }, c.ret.kick, func(ctx context.Context) {
		if n, err := c.sweepRetention(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("retention: could not delete every visit's audio past its time", "deleted", n, "error", err)
		} else if n > 0 {
			c.log.Info("retention: deleted the audio of visits signed long enough ago", "visits", n, "days", c.ret.days)
		}
	})
}

// sweepRetention deletes the audio of every visit whose note was signed at
// least RetentionDays ago and none of whose jobs (its own, its pushes) is
// still queued, running or waiting for a person. The visit stays, marked.
// It returns how many visits lost their audio.
func (c *Core) sweepRetention(ctx context.Context) (int, error) {
	rows, err := c.db.Encounters(ctx, store.EncounterQuery{States: []string{string(StateSigned), string(StateDelivered)}})
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	now := c.ret.now()
	cutoff := now.Add(-time.Duration(c.ret.days) * 24 * time.Hour)
	n := 0
	var errs []error
	for _, row := range rows {
		if row.SignedAt.IsZero() || row.SignedAt.After(cutoff) {
			continue
		}
		if _, done, err := c.deletion(ctx, row.ID); err != nil || done {
			errs = append(errs, err)
			continue
		}
		if busy, err := c.busyJob(ctx, row.ID); err != nil || busy != nil {
			errs = append(errs, err)
			continue
		}
		err := c.deleteAudio(ctx, row, store.LocalDeletion{At: now, Reason: DeletedByRetention})
		if errors.Is(err, errLocked) {
			continue // in use by another process; the next sweep tries again
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if n > 0 {
		c.notifyEncounter()
	}
	return n, errors.Join(errs...)
}

// busyJob returns a job of visit id that is queued, running or needs a
// person: its own (which may read the audio or the text) or a push of its
// note. nil when there is none.
func (c *Core) busyJob(ctx context.Context, id string) (*Job, error) {
	for _, group := range visitGroups(id) {
		js, err := c.queue.List(ctx, outbox.Filter{Group: group,
			States: []outbox.State{outbox.Queued, outbox.Running, outbox.NeedsAttention}, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("read the visit's jobs: %w", err)
		}
		if len(js) > 0 {
			return &js[0], nil
		}
	}
	return nil, nil
}

// deleteAudio removes row's journal folder while holding its lock (so no
// recording, import, repair or export in any process has it open), then
// marks the row. The folder goes first: a crash in between leaves a row
// the next sweep finishes, never a mark over audio still on disk.
//
// The files are deleted, not overwritten first: on SSDs (what laptops
// have) wear levelling writes an overwrite elsewhere and leaves the old
// blocks to the drive's own garbage collection, so overwriting buys
// nothing; full-disk encryption is what protects deleted blocks.
func (c *Core) deleteAudio(ctx context.Context, row store.Encounter, mark store.LocalDeletion) error {
	dir, err := c.ownedJournalDir(row)
	if err != nil {
		return err
	}
	lock, err := lockEncounter(c.encountersDir(), row.ID)
	if err != nil {
		return err
	}
	defer lock.unlock()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete the audio of visit %s: %w", row.ID, err)
	}
	if err := c.ret.db.MarkLocalDeletion(ctx, row.ID, mark); err != nil {
		return fmt.Errorf("delete the audio of visit %s: %w", row.ID, err)
	}
	c.log.Info("deleted a visit's audio from this computer", "encounter", row.ID, "reason", mark.Reason)
	return nil
}

// ownedJournalDir is row's journal folder, refused unless it lies inside
// the encounters folder: a damaged row must never make a deletion reach
// anything else.
func (c *Core) ownedJournalDir(row store.Encounter) (string, error) {
	dir := c.journalDir(row)
	rel, err := filepath.Rel(c.encountersDir(), dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("visit %s: its audio folder %q is not inside %s; not deleting it", row.ID, row.Dir, c.encountersDir())
	}
	return dir, nil
}

// DeleteLocalData deletes visit id's audio, transcript and draft from this
// computer now (the note stays at the server, and the visit stays listed,
// marked). It is refused, with ErrInUse, while the visit is being recorded
// or while one of its jobs still needs the audio or the text.
func (c *Core) DeleteLocalData(ctx context.Context, id string) error {
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return err
	}
	if c.activeRecording(row.ID) != nil || row.State == string(StateRecording) || row.State == string(StatePaused) {
		return explained("This visit is still being recorded — End it first, then delete its local data.", ErrInUse)
	}
	busy, err := c.busyJob(ctx, row.ID)
	if err != nil {
		return err
	}
	if busy != nil {
		return explained(busyWords(*busy), ErrInUse)
	}
	err = c.deleteAudio(ctx, row, store.LocalDeletion{At: c.ret.now(), Reason: DeletedOnRequest, Text: true})
	if errors.Is(err, errLocked) {
		return explained("This visit is in use by another Scribe (recording, importing or exporting it) — try again when that has finished.", ErrInUse)
	}
	if err != nil {
		return err
	}
	if err := c.ret.db.DeleteLocalText(ctx, row.ID); err != nil {
		return err
	}
	c.notifyEncounter()
	return nil
}

// busyWords says which job holds the visit's data and what to do.
func busyWords(j Job) string {
	what := DescribeJob(j)
	if j.State == outbox.NeedsAttention {
		return fmt.Sprintf("“%s” (job %d) needs attention and still needs this visit's audio or text — Retry or Cancel it on the Queue screen (scribe queue), then delete again.", what, j.ID)
	}
	return fmt.Sprintf("“%s” (job %d) is %s and still needs this visit's audio or text — wait until it is done (Queue screen, scribe queue) or cancel it, then delete again.", what, j.ID, j.State)
}

// beginServe registers a Serve call so that a wipe can stop it and wait
// for it; stop is closed when a wipe begins.
func (c *Core) beginServe() (stop <-chan struct{}, done func(), err error) {
	c.ret.mu.Lock()
	defer c.ret.mu.Unlock()
	if c.ret.wiping {
		return nil, nil, ErrWiped
	}
	c.ret.serving.Add(1)
	return c.ret.stop, c.ret.serving.Done, nil
}

// WipeAndSignOut signs out (revoking the token at the server where it can
// be reached), removes every secret this profile keeps (the sign-in tokens
// of every server signed in to, the EHR credentials) and deletes the
// profile's data: its database, the visits' audio, the logs, the secrets
// vault. It is refused, with ErrInUse, while a recording is under way. Any
// Serve returns first; afterwards the Core is closed (Close may still be
// called, and does nothing more). Files are deleted, not overwritten: see
// deleteAudio.
func (c *Core) WipeAndSignOut(ctx context.Context) error {
	c.ret.mu.Lock()
	defer c.ret.mu.Unlock()
	if c.ret.wiping {
		return ErrWiped
	}
	if err := c.refuseWhileRecording(ctx); err != nil {
		return err
	}
	c.ret.wiping = true
	close(c.ret.stop)
	c.ret.serving.Wait()

	c.log.Info("wiping this profile: signing out, removing its secrets and deleting its data")
	var errs []error
	if err := c.SignOut(ctx); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.forgetAllSecrets(ctx))
	errs = append(errs, c.Close())
	if err := removeProfileData(c.profile); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wipe this computer's Scribe data: %w", err)
	}
	return nil
}

// refuseWhileRecording refuses while a recording is under way here or in
// another process (whose encounter lock is held).
func (c *Core) refuseWhileRecording(ctx context.Context) error {
	c.mu.Lock()
	recording := len(c.recs) > 0
	c.mu.Unlock()
	refusal := explained("A visit is being recorded — End it first, then wipe this computer.", ErrInUse)
	if recording {
		return refusal
	}
	open, err := c.db.Encounters(ctx, store.EncounterQuery{States: []string{string(StateRecording), string(StatePaused)}})
	if err != nil {
		return err
	}
	for _, row := range open {
		lock, err := lockEncounter(c.encountersDir(), row.ID)
		if errors.Is(err, errLocked) {
			return refusal
		}
		if err != nil {
			return err
		}
		// Free: a crashed recording, which the wipe deletes with the rest.
		lock.unlock()
	}
	return nil
}

// forgetAllSecrets revokes and removes the sign-in token of every server
// this profile signed in to, and removes every EHR's credentials. The
// Secrets interface cannot list keys, so the servers are those the profile
// remembers, the current one, the embedded sandbox and the known ones.
func (c *Core) forgetAllSecrets(ctx context.Context) error {
	servers := []string{c.Server(), c.embedded}
	for _, s := range KnownServers() {
		servers = append(servers, s.URL)
	}
	keys, err := c.ret.db.SettingKeys(ctx, settingUser)
	if err != nil {
		return err
	}
	for _, k := range keys {
		servers = append(servers, strings.TrimPrefix(k, settingUser))
	}
	var errs []error
	for _, server := range slices.Compact(slices.Sorted(slices.Values(servers))) {
		if server == "" {
			continue
		}
		for _, sec := range []platform.Secrets{c.secrets, c.mem} {
			if tok, err := sec.Get(ctx, tokenKey(server)); err == nil && tok != "" {
				if client, err := c.newClient(server, tok); err == nil {
					c.revoke(ctx, client, server)
				}
			}
			if err := deleteSecret(ctx, sec, tokenKey(server)); err != nil {
				errs = append(errs, fmt.Errorf("remove the sign-in token for %s: %w", hostOf(server), err))
			}
		}
	}
	for _, kind := range EHRKinds() {
		if err := c.forgetCreds(ctx, kind, ""); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteSecret deletes key even when ctx has ended: forgetting a credential
// must not be skipped.
func deleteSecret(ctx context.Context, s platform.Secrets, key string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretsTimeout)
	defer cancel()
	if err := s.Delete(ctx, key); err != nil && !errors.Is(err, platform.ErrSecretNotFound) {
		return err
	}
	return nil
}

// removeProfileData deletes what Scribe keeps in dir, then dir itself when
// nothing else is left. Only Scribe's own names are deleted: a profile
// folder given with --profile may hold files of the user's.
func removeProfileData(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the profile's data: %w", err)
	}
	var errs []error
	var others []string
	for _, e := range entries {
		if !scribeEntry(e.Name()) {
			others = append(others, e.Name())
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", e.Name(), err))
		}
	}
	if len(others) == 0 && len(errs) == 0 {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete the profile folder: %w", err))
		}
	}
	if len(others) > 0 {
		errs = append(errs, fmt.Errorf("the profile folder %s still holds files Scribe did not make (%s); delete them yourself if they should go", dir, strings.Join(others, ", ")))
	}
	return errors.Join(errs...)
}

// scribeEntry reports whether name is something Scribe makes in a profile
// folder: the database and its side files, the visits' audio, the logs,
// the secrets vault (and its temporary files), the embedded sandbox's data.
func scribeEntry(name string) bool {
	switch name {
	case "encounters", "logs", "sandbox", platform.VaultFileName:
		return true
	}
	return strings.HasPrefix(name, store.FileName) ||
		(strings.HasPrefix(name, "."+platform.VaultFileName+"-") && strings.HasSuffix(name, ".tmp"))
}

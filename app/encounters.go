package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// EncounterState is where an encounter is in its life. States are
// lowercase words, as the CLI's JSON prints them.
type EncounterState string

// Encounter states of capture. A crash leaves an encounter recording or
// paused; RecoverEncounters repairs its journal and makes it recovered.
const (
	StateRecording EncounterState = "recording"
	StatePaused    EncounterState = "paused"
	StateEnded     EncounterState = "ended"
	StateRecovered EncounterState = "recovered"
)

// Where an encounter's audio came from.
const (
	SourceMic    = store.SourceMic    // recorded here
	SourceImport = store.SourceImport // imported from a file
)

// Encounter is one visit recorded or imported on this computer.
type Encounter struct {
	ID        string
	PatientID int64 // 0 when no patient was chosen; negative for one added offline
	State     EncounterState
	Created   time.Time
	Ended     time.Time     // zero while recording or paused
	Duration  time.Duration // audio kept (pauses excluded)
	Source    string        // SourceMic or SourceImport
	Device    string        // the microphone; "" for imports

	TemplateID int64     // the note template; 0 for the server's default
	Context    string    // what the note should take into account
	ConsentAt  time.Time // when consent to record was confirmed; zero if not
	NoteID     int64     // the server's note; 0 until created
	Draft      string    // the note text as the clinician has it
	Unsent     bool      // the latest edit has not reached the server yet
	Signed     time.Time // zero unless signed
}

// encountersDir is the folder holding every encounter's journal folder.
func (c *Core) encountersDir() string { return filepath.Join(c.profile, "encounters") }

// journalOptions are the journal settings every encounter uses.
func (c *Core) journalOptions() journal.Options {
	return journal.Options{Logger: c.log.With("component", "journal")}
}

// newEncounterID returns an id that sorts by creation time and is unique
// without coordination: the UTC second, then 48 random bits. It is also
// the journal folder's name, so it uses only letters, digits and '-'.
func newEncounterID(now time.Time) string {
	var b [6]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// validID accepts what newEncounterID makes, and nothing that could step
// out of the encounters folder.
var validID = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{12}$`)

// lookupEncounter returns id's row, with a clear error when there is none.
func (c *Core) lookupEncounter(ctx context.Context, id string) (store.Encounter, error) {
	id = strings.TrimSpace(id)
	if !validID.MatchString(id) {
		return store.Encounter{}, &inputError{msg: fmt.Sprintf("%q is not an encounter id (they look like 20260122-093012-3fa9c1d2e4b5) — list them with scribe encounters.", id)}
	}
	row, err := c.db.Encounter(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Encounter{}, explained(fmt.Sprintf("There is no encounter %s on this computer — list them with scribe encounters.", id), err)
	}
	return row, err
}

// journalDir is the absolute folder of a row's journal.
func (c *Core) journalDir(row store.Encounter) string {
	return filepath.Join(c.profile, filepath.FromSlash(row.Dir))
}

func fromRow(r store.Encounter) Encounter {
	return Encounter{
		ID: r.ID, PatientID: r.PatientID, State: EncounterState(r.State), Created: r.CreatedAt, Ended: r.EndedAt,
		Duration: r.Duration, Source: r.Source, Device: r.Device,
		TemplateID: r.TemplateID, Context: r.Context, ConsentAt: r.ConsentAt, NoteID: r.NoteID,
		Draft: r.Draft, Unsent: r.SentRev < r.DraftRev, Signed: r.SignedAt,
	}
}

// samplesDuration converts journal samples to time.
func samplesDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / journal.SampleRate
}

// Encounters lists the encounters on this computer, newest first. A
// recording under way in this process shows its current duration.
func (c *Core) Encounters(ctx context.Context) ([]Encounter, error) {
	rows, err := c.db.Encounters(ctx, store.EncounterQuery{})
	if err != nil {
		return nil, err
	}
	stuck, err := c.stuckGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Encounter, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
		if rec := c.activeRecording(r.ID); rec != nil {
			out[i].State, out[i].Duration = rec.State(), rec.Elapsed()
		} else if stuck[encounterGroup(r.ID)] {
			out[i].State = StateNeeds
		}
	}
	return out, nil
}

// Encounter returns one encounter.
func (c *Core) Encounter(ctx context.Context, id string) (Encounter, error) {
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return Encounter{}, err
	}
	e := fromRow(row)
	if rec := c.activeRecording(row.ID); rec != nil {
		e.State, e.Duration = rec.State(), rec.Elapsed()
	} else if stuck, err := c.stuckGroups(ctx); err != nil {
		return Encounter{}, err
	} else if stuck[encounterGroup(row.ID)] {
		e.State = StateNeeds
	}
	return e, nil
}

// stuckGroups are the job groups with a job that needs a person.
func (c *Core) stuckGroups(ctx context.Context) (map[string]bool, error) {
	jobs, err := c.queue.List(ctx, outbox.Filter{States: []outbox.State{outbox.NeedsAttention}})
	if err != nil {
		return nil, fmt.Errorf("read the jobs that need attention: %w", err)
	}
	out := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		out[j.Group] = true
	}
	return out, nil
}

// RecoverEncounters repairs the journals of recordings that a crash, a
// kill or a power cut left open, so their audio (all but the last second
// or so) can be played, exported and sent, and marks them recovered. It
// returns those it recovered now. Recordings under way, in this process or
// another (the window while a CLI command starts), are left alone. It also
// removes what an interrupted import left behind. Scribe calls it at start;
// it is safe to call at any time and from several processes at once.
func (c *Core) RecoverEncounters(ctx context.Context) ([]Encounter, error) {
	if err := c.removeStaleImports(); err != nil {
		c.log.Warn("could not remove an interrupted import", "error", err)
	}
	rows, err := c.db.Encounters(ctx, store.EncounterQuery{States: []string{string(StateRecording), string(StatePaused)}})
	if err != nil {
		return nil, fmt.Errorf("find interrupted recordings: %w", err)
	}
	var (
		out  []Encounter
		errs []error
	)
	for _, r := range rows {
		if c.activeRecording(r.ID) != nil {
			continue
		}
		e, recovered, err := c.recoverOne(ctx, r.ID)
		switch {
		case errors.Is(err, errLocked):
			// Being recorded by another process.
		case err != nil:
			errs = append(errs, err)
		case recovered:
			out = append(out, e)
		}
	}
	return out, errors.Join(errs...)
}

// recoverOne repairs one open encounter if no process holds it. recovered
// reports whether a journal was repaired (rather than found closed, or
// found empty and removed).
func (c *Core) recoverOne(ctx context.Context, id string) (e Encounter, recovered bool, err error) {
	lock, err := lockEncounter(c.encountersDir(), id)
	if err != nil {
		return Encounter{}, false, err
	}
	defer lock.unlock()
	// Read again under the lock: the recording may have ended since the
	// list was made.
	row, err := c.db.Encounter(ctx, id)
	if err != nil {
		return Encounter{}, false, fmt.Errorf("recover encounter %s: %w", id, err)
	}
	if row.State != string(StateRecording) && row.State != string(StatePaused) {
		return fromRow(row), false, nil
	}
	dir := c.journalDir(row)
	opts := c.journalOptions()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// The process died between creating the row and the journal:
		// nothing was recorded.
		c.log.Info("removing an encounter that crashed before recording anything", "encounter", id)
		return Encounter{}, false, c.db.DeleteEncounter(ctx, id)
	}
	needs, err := journal.NeedsRecovery(dir, opts)
	if err != nil {
		return Encounter{}, false, fmt.Errorf("recover encounter %s: %w", id, err)
	}
	var m journal.Manifest
	if needs {
		m, err = journal.Recover(dir, opts)
	} else {
		// Closed cleanly; the process died before it could say so here.
		m, err = journal.ReadManifest(dir, opts)
	}
	if err != nil {
		return Encounter{}, false, fmt.Errorf("recover encounter %s: %w", id, err)
	}
	state := StateEnded
	if needs {
		state = StateRecovered
	}
	ended := lastEventTime(m)
	if ended.IsZero() {
		ended = time.Now()
	}
	u := store.EncounterUpdate{State: string(state), Duration: samplesDuration(m.Samples), EndedAt: ended}
	if err := c.db.UpdateEncounter(ctx, id, u); err != nil {
		return Encounter{}, false, fmt.Errorf("recover encounter %s: %w", id, err)
	}
	c.log.Info("recovered an interrupted recording", "encounter", id, "samples", m.Samples, "repaired", needs)
	row.State, row.Duration, row.EndedAt = u.State, u.Duration, u.EndedAt
	return fromRow(row), needs, nil
}

// lastEventTime is when the journal last noted anything, the best guess
// of when a crashed recording stopped.
func lastEventTime(m journal.Manifest) time.Time {
	var t time.Time
	for _, ev := range m.Events {
		if ev.Time.After(t) {
			t = ev.Time
		}
	}
	return t
}

// explainedError carries a message written for the clinician (Explain
// shows it as is) while still matching its cause with errors.Is.
type explainedError struct {
	msg   *inputError
	cause error
}

func (e *explainedError) Error() string   { return e.msg.msg }
func (e *explainedError) Unwrap() []error { return []error{e.msg, e.cause} }

func explained(msg string, cause error) error {
	return &explainedError{msg: &inputError{msg: msg}, cause: cause}
}

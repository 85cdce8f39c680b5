package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// Encounter states after capture (DESIGN.md "One encounter, end to end").
const (
	StateTranscribing EncounterState = "transcribing" // parts of the audio still need text
	StateDrafting     EncounterState = "drafting"     // the server is drafting the note
	StateReady        EncounterState = "ready"        // the draft is here to edit and sign
	StateSigned       EncounterState = "signed"
	StateDelivered    EncounterState = "delivered"       // pushed to the EHR (a later step)
	StateNeeds        EncounterState = "needs-attention" // reported, never stored: a job of its group needs a person
)

// The jobs of an encounter, all in its group so they run in this order.
const (
	kindTranscribeGap = "transcribe-gap"
	kindCreateNote    = "create-note"
	kindUpdateNote    = "update-note"
	kindSignNote      = "sign-note"
	kindUnsignNote    = "unsign-note"
)

// maxGap bounds one transcribe-gap upload: a longer uncovered range is sent
// in pieces, so a failure costs one piece and no upload is huge.
const maxGap = 10 * time.Minute

func encounterGroup(id string) string { return "encounter:" + id }

// VisitJobs lists the jobs of one visit: its own in the order they run,
// then the pushes of its note to each EHR.
func (c *Core) VisitJobs(ctx context.Context, id string) ([]Job, error) {
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return nil, err
	}
	var jobs []Job
	for _, group := range visitGroups(row.ID) {
		js, err := c.queue.List(ctx, outbox.Filter{Group: group})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, js...)
	}
	return jobs, nil
}

// visitGroups are the outbox groups of a visit's jobs: its own, then one
// per EHR its note is pushed to.
func visitGroups(id string) []string {
	groups := []string{encounterGroup(id)}
	for _, kind := range EHRKinds() {
		groups = append(groups, ehrGroup(kind, id))
	}
	return groups
}

// encounterPayload names the encounter a job works on; the job reads the
// rest from the store when it runs, so it always sends the latest.
type encounterPayload struct {
	V         int    `json:"v"`
	Encounter string `json:"encounter"`
}

// gapPayload is a transcribe-gap job: the range [Start, End) in samples.
type gapPayload struct {
	V         int    `json:"v"`
	Encounter string `json:"encounter"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
}

// enqueue adds a job with payload p to the encounter's group inside tx. A
// job already there with the same key (a finish run twice after a crash)
// is fine.
func (c *Core) enqueue(ctx context.Context, tx *sql.Tx, encounter, kind, key string, p any) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("queue %s: %w", kind, err)
	}
	_, err = c.queue.EnqueueTx(ctx, tx, outbox.NewJob{Kind: kind, Group: encounterGroup(encounter), IdempotencyKey: key, Payload: b})
	if err != nil && !errors.Is(err, outbox.ErrDuplicate) {
		return err
	}
	return nil
}

// finishEncounter queues what turns a captured encounter into a note: a
// transcribe-gap job for each range without final text, then create-note.
// It is safe to run twice (job keys are fixed), and runs for ended,
// recovered and imported encounters alike.
func (c *Core) finishEncounter(ctx context.Context, id string) (EncounterState, error) {
	row, err := c.db.Encounter(ctx, id)
	if err != nil {
		return "", fmt.Errorf("finish encounter: %w", err)
	}
	if row.State != string(StateEnded) && row.State != string(StateRecovered) {
		return EncounterState(row.State), nil
	}
	m, err := journal.ReadManifest(c.journalDir(row), c.journalOptions())
	if err != nil {
		return "", fmt.Errorf("finish encounter %s: %w", id, err)
	}
	covered, err := c.db.Coverage(ctx, id)
	if err != nil {
		return "", fmt.Errorf("finish encounter %s: %w", id, err)
	}
	gaps := splitGaps(store.Gaps(covered, m.Samples), int64(maxGap.Seconds())*journal.SampleRate)
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return "", fmt.Errorf("finish encounter %s: %w", id, err)
	}
	defer tx.Rollback()
	for _, g := range gaps {
		key := fmt.Sprintf("%s:%s:%d-%d", kindTranscribeGap, id, g.Start, g.End)
		if err := c.enqueue(ctx, tx, id, kindTranscribeGap, key, gapPayload{V: 1, Encounter: id, Start: g.Start, End: g.End}); err != nil {
			return "", fmt.Errorf("finish encounter %s: %w", id, err)
		}
	}
	if err := c.enqueue(ctx, tx, id, kindCreateNote, kindCreateNote+":"+id, encounterPayload{V: 1, Encounter: id}); err != nil {
		return "", fmt.Errorf("finish encounter %s: %w", id, err)
	}
	state := string(StateDrafting)
	if len(gaps) > 0 {
		state = string(StateTranscribing)
	}
	p := store.EncounterPatch{State: &state}
	if err := c.db.PatchEncounterTx(ctx, tx, id, p); err != nil {
		return "", fmt.Errorf("finish encounter %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("finish encounter %s: %w", id, err)
	}
	c.queue.Committed()
	c.log.Info("encounter queued for its note", "encounter", id, "gaps", len(gaps))
	return EncounterState(state), nil
}

// stampVisit marks a new encounter with the account it is recorded in
// and, when the patient agreed, the consent's time and clinician.
func (c *Core) stampVisit(row *store.Encounter, consent bool) {
	if consent {
		row.ConsentAt = time.Now()
	}
	s, err := c.current()
	if err != nil {
		return // recorded signed out: its jobs run in the next session
	}
	row.Scope = s.scope()
	if consent {
		row.ConsentBy = s.user.Id
	}
}

// FinishPending queues the note of every encounter whose capture ended
// but whose jobs were never queued (the app stopped in between). The
// window and `scribe sync` call it at start, after RecoverEncounters.
func (c *Core) FinishPending(ctx context.Context) error {
	rows, err := c.db.Encounters(ctx, store.EncounterQuery{States: []string{string(StateEnded), string(StateRecovered)}})
	if err != nil {
		return fmt.Errorf("find encounters to finish: %w", err)
	}
	var errs []error
	for _, r := range rows {
		if c.activeRecording(r.ID) != nil {
			continue
		}
		_, err := c.finishEncounter(ctx, r.ID)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// splitGaps cuts ranges longer than most samples into pieces.
func splitGaps(gaps []store.Range, most int64) []store.Range {
	var out []store.Range
	for _, g := range gaps {
		for s := g.Start; s < g.End; s += most {
			out = append(out, store.Range{Start: s, End: min(s+most, g.End)})
		}
	}
	return out
}

// encounterSession is the session an encounter's job runs in. Encounters
// made before they recorded their account belong to whoever is signed in.
func (c *Core) encounterSession(row store.Encounter) (*session, error) {
	if row.Scope == "" {
		s, err := c.current()
		if err != nil {
			return nil, outbox.TransientAfter(fmt.Errorf("waiting for you to sign in: %w", err), signInWait)
		}
		return s, nil
	}
	return c.jobSession(row.Scope)
}

// jobEncounter reads a job's encounter and the session and client to send
// it with.
func (c *Core) jobEncounter(ctx context.Context, j outbox.Job) (store.Encounter, *session, *api.Client, error) {
	var p encounterPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Encounter == "" {
		return store.Encounter{}, nil, nil, outbox.Permanent(fmt.Errorf("the job's details are unreadable: %v", err), "Cancel this job")
	}
	row, err := c.db.Encounter(ctx, p.Encounter)
	if errors.Is(err, store.ErrNotFound) {
		return store.Encounter{}, nil, nil, outbox.Permanent(err, "the encounter was deleted from this computer: Cancel this job")
	}
	if err != nil {
		return store.Encounter{}, nil, nil, outbox.Transient(err)
	}
	s, err := c.encounterSession(row)
	if err != nil {
		return store.Encounter{}, nil, nil, err
	}
	client, err := c.jobClient(s)
	if err != nil {
		return store.Encounter{}, nil, nil, outbox.Permanent(err, "sign in again")
	}
	return row, s, client, nil
}

// transcript assembles an encounter's final turns in audio order.
func (c *Core) transcript(ctx context.Context, id string) (string, error) {
	turns, err := c.db.Turns(ctx, id)
	if err != nil {
		return "", err
	}
	lines := make([]string, 0, len(turns))
	for _, t := range turns {
		if s := strings.TrimSpace(t.Text); s != "" {
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// createNoteJob posts the assembled transcript as a text-only progress note
// (idempotency key: the encounter id) and waits for the server's draft.
func (c *Core) createNoteJob(ctx context.Context, j outbox.Job) error {
	row, s, client, err := c.jobEncounter(ctx, j)
	if err != nil {
		return err
	}
	if row.NoteID == 0 {
		text, err := c.transcript(ctx, row.ID)
		if err != nil {
			return outbox.Transient(err)
		}
		if text == "" {
			return outbox.Permanent(errors.New("no speech was found in the recording, so there is nothing to draft a note from"),
				"listen to the recording (scribe export); if it is silent, check the microphone and record again, then Cancel this job")
		}
		patient, err := c.serverPatient(ctx, row)
		if err != nil {
			return err
		}
		name, err := c.noteName(ctx, s, row, patient)
		if err != nil {
			return c.jobError(ctx, s, "read the patient", err, "the server no longer has the patient: change the visit's patient, then Retry")
		}
		note, err := client.CreateTextNote(ctx, api.TextNote{Name: name, PatientID: patient, Note: text,
			ModelID: int(row.TemplateID), Context: row.Context}, row.ID)
		if err != nil {
			return c.jobError(ctx, s, "create the note", err,
				"the server refused the note: check the encounter's patient and template, then Retry")
		}
		if err := c.saveNote(ctx, row.ID, note, false); err != nil {
			return outbox.Transient(err)
		}
		row.NoteID = note.Id
		c.log.Info("note created; waiting for its draft", "encounter", row.ID, "note_id", note.Id)
	}
	return c.awaitDraft(ctx, s, client, row)
}

// serverPatient is the server id of the encounter's patient (0 for none),
// waiting while a patient added offline has not reached the server.
func (c *Core) serverPatient(ctx context.Context, row store.Encounter) (int64, error) {
	if row.PatientID >= 0 {
		return row.PatientID, nil
	}
	id, err := c.db.ServerPatientID(ctx, row.Scope, row.PatientID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, outbox.TransientAfter(errors.New("waiting for the patient added on this computer to reach the server"), 30*time.Second)
	}
	if err != nil {
		return 0, outbox.Transient(err)
	}
	return id, nil
}

// noteName is "Visit — patient — date", as a clinician would title it.
func (c *Core) noteName(ctx context.Context, s *session, row store.Encounter, patient int64) (string, error) {
	who := "no patient"
	if patient != 0 {
		rows, err := c.db.SearchPatients(ctx, s.scope(), "", 1<<20)
		if err != nil {
			return "", err
		}
		who = ""
		for _, r := range rows {
			if r.ID == patient {
				who = PatientName(fromCache(r))
				break
			}
		}
		if who == "" {
			// Not on this computer's roster (a visit for a patient found
			// on the server only): ask the server.
			p, err := s.client.Patient(ctx, patient)
			if err != nil {
				return "", err
			}
			c.cache(ctx, s, []api.Patient{p})
			who = PatientName(p)
		}
	}
	name := fmt.Sprintf("Visit — %s — %s", who, row.CreatedAt.Local().Format("2 Jan 2006"))
	if r := []rune(name); len(r) > 255 {
		name = string(r[:255])
	}
	return name, nil
}

// draftPoll bounds how long one run of create-note waits for the draft
// before handing the job back (it then runs again soon).
const draftPoll = 2 * time.Minute

// awaitDraft polls the note until its analysis is complete or has failed.
func (c *Core) awaitDraft(ctx context.Context, s *session, client *api.Client, row store.Encounter) error {
	deadline := time.Now().Add(draftPoll)
	wait := 500 * time.Millisecond
	for {
		note, err := client.Note(ctx, row.NoteID)
		if err != nil {
			return c.jobError(ctx, s, "read the note", err, "the server no longer has the note: Cancel this job")
		}
		if e := note.ErrorState; e != nil && strings.TrimSpace(*e) != "" {
			if err := c.saveNote(ctx, row.ID, note, false); err != nil {
				return outbox.Transient(err)
			}
			return outbox.Permanent(fmt.Errorf("the server could not draft the note: %s", strings.TrimSpace(*e)),
				"open the note in Nextvisit, or Retry to check it again")
		}
		if note.AnalysisCompletedAt != nil {
			if err := c.saveNote(ctx, row.ID, note, true); err != nil {
				return outbox.Transient(err)
			}
			c.log.Info("draft arrived", "encounter", row.ID, "note_id", note.Id)
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return outbox.TransientAfter(errors.New("the server is still drafting the note"), 5*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// saveNote keeps the server's note with the encounter. With drafted, the
// draft becomes the note text (unless the clinician has already written
// one here, which wins) and the encounter is ready (unless already signed).
func (c *Core) saveNote(ctx context.Context, id string, note api.ProgressNote, drafted bool) error {
	b, err := json.Marshal(note)
	if err != nil {
		return err
	}
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	row, err := c.db.EncounterTx(ctx, tx, id)
	if err != nil {
		return err
	}
	js := string(b)
	p := store.EncounterPatch{NoteID: &note.Id, Note: &js}
	if drafted {
		if row.DraftRev == 0 && note.Analysis != nil {
			p.Draft = note.Analysis
			sent := row.DraftRev + 1 // the server has this revision: it wrote it
			p.SentRev = &sent
		}
		if row.State != string(StateSigned) && row.State != string(StateDelivered) {
			ready := string(StateReady)
			p.State = &ready
		}
	} else if row.State == string(StateTranscribing) {
		drafting := string(StateDrafting)
		p.State = &drafting
	}
	if err := c.db.PatchEncounterTx(ctx, tx, id, p); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	c.notifyEncounter()
	return nil
}

// SaveDraft keeps the clinician's note text at once and queues it for the
// server: one update-note job carries the latest text however many edits
// were made while it waited. A signed note cannot be edited.
func (c *Core) SaveDraft(ctx context.Context, id, text string) error {
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return err
	}
	if d, ok, err := c.deletion(ctx, row.ID); err != nil {
		return err
	} else if ok && d.Text {
		// The draft here is gone: saving would replace the server's note
		// with whatever was typed into an empty box.
		return &inputError{msg: d.String() + " — edit the note in Nextvisit instead."}
	}
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return fmt.Errorf("save the note: %w", err)
	}
	defer tx.Rollback()
	if row, err = c.db.EncounterTx(ctx, tx, row.ID); err != nil {
		return fmt.Errorf("save the note: %w", err)
	}
	if err := editable(row); err != nil {
		return err
	}
	if row.Draft == text {
		return nil
	}
	if err := c.db.PatchEncounterTx(ctx, tx, row.ID, store.EncounterPatch{Draft: &text}); err != nil {
		return fmt.Errorf("save the note: %w", err)
	}
	waiting, err := c.queue.QueuedTx(ctx, tx, encounterGroup(row.ID), kindUpdateNote)
	if err != nil {
		return fmt.Errorf("save the note: %w", err)
	}
	if !waiting {
		key := fmt.Sprintf("%s:%s:%d", kindUpdateNote, row.ID, row.DraftRev+1)
		if err := c.enqueue(ctx, tx, row.ID, kindUpdateNote, key, encounterPayload{V: 1, Encounter: row.ID}); err != nil {
			return fmt.Errorf("save the note: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save the note: %w", err)
	}
	c.queue.Committed()
	c.notifyEncounter()
	return nil
}

// editable refuses edits to a note that is not a finished capture's or is
// signed.
func editable(row store.Encounter) error {
	switch EncounterState(row.State) {
	case StateRecording, StatePaused:
		return &inputError{msg: "The visit is still being recorded — End it first."}
	case StateSigned, StateDelivered:
		return &inputError{msg: "The note is signed, so it cannot be changed — Unsign it first."}
	}
	return nil
}

// updateNoteJob sends the latest local text of the note.
func (c *Core) updateNoteJob(ctx context.Context, j outbox.Job) error {
	row, s, client, err := c.jobEncounter(ctx, j)
	if err != nil {
		return err
	}
	if row.SentRev >= row.DraftRev {
		return nil // an earlier job already sent this text
	}
	if row.NoteID == 0 {
		return outbox.TransientAfter(errors.New("waiting for the note to be created"), 5*time.Second)
	}
	rev, text := row.DraftRev, row.Draft
	note, err := client.UpdateNote(ctx, row.NoteID, api.ProgressNoteUpdate{Analysis: &text})
	if err != nil {
		return c.jobError(ctx, s, "save the note", err, "the server refused the edit: copy the text, Cancel this job, and edit again")
	}
	b, err := json.Marshal(note)
	if err != nil {
		return outbox.Permanent(err, "Cancel this job")
	}
	js := string(b)
	if err := c.db.PatchEncounter(ctx, row.ID, store.EncounterPatch{SentRev: &rev, Note: &js}); err != nil {
		return outbox.Transient(err)
	}
	c.notifyEncounter()
	return nil
}

// SignNote signs the encounter's note: the local state and the sign-note
// job commit together, so it is signed here at once and at the server as
// soon as it can be reached, after any edit queued before it.
func (c *Core) SignNote(ctx context.Context, id string) error {
	return c.setSigned(ctx, id, true)
}

// UnsignNote reopens a signed note for editing, here at once and at the
// server through an unsign-note job.
func (c *Core) UnsignNote(ctx context.Context, id string) error {
	return c.setSigned(ctx, id, false)
}

func (c *Core) setSigned(ctx context.Context, id string, sign bool) error {
	verb, kind := "sign", kindSignNote
	if !sign {
		verb, kind = "unsign", kindUnsignNote
	}
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return err
	}
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return fmt.Errorf("%s the note: %w", verb, err)
	}
	defer tx.Rollback()
	if row, err = c.db.EncounterTx(ctx, tx, row.ID); err != nil {
		return fmt.Errorf("%s the note: %w", verb, err)
	}
	signed := row.State == string(StateSigned) || row.State == string(StateDelivered)
	switch {
	case row.State == string(StateRecording) || row.State == string(StatePaused):
		return &inputError{msg: "The visit is still being recorded — End it first."}
	case sign && signed:
		return &inputError{msg: "The note is already signed."}
	case !sign && !signed:
		return &inputError{msg: "The note is not signed."}
	}
	if row.State == string(StateEnded) || row.State == string(StateRecovered) {
		// Signed before its note was even queued (a crash in between):
		// queue it first, so the group runs create-note before sign-note.
		tx.Rollback()
		if _, err := c.finishEncounter(ctx, row.ID); err != nil {
			return err
		}
		return c.setSigned(ctx, id, sign)
	}
	state, at := string(StateSigned), time.Now()
	if !sign {
		state, at = c.unsignedState(row), time.Time{}
	}
	if err := c.db.PatchEncounterTx(ctx, tx, row.ID, store.EncounterPatch{State: &state, SignedAt: &at}); err != nil {
		return fmt.Errorf("%s the note: %w", verb, err)
	}
	key := fmt.Sprintf("%s:%s:%s", kind, row.ID, uuid.NewString())
	if err := c.enqueue(ctx, tx, row.ID, kind, key, encounterPayload{V: 1, Encounter: row.ID}); err != nil {
		return fmt.Errorf("%s the note: %w", verb, err)
	}
	// The EHR pushes commit with the signature: one per connection whose
	// push time is this event, carrying the note as signed.
	if err := c.enqueuePushesTx(ctx, tx, row, verb); err != nil {
		return fmt.Errorf("%s the note: %w", verb, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s the note: %w", verb, err)
	}
	c.queue.Committed()
	c.notifyEncounter()
	c.log.Info("note "+verb+"ed", "encounter", row.ID)
	return nil
}

// unsignedState is where an unsigned note goes back to: ready once its
// draft is here, else still drafting.
func (c *Core) unsignedState(row store.Encounter) string {
	var note api.ProgressNote
	if row.Note != "" && json.Unmarshal([]byte(row.Note), &note) == nil && note.AnalysisCompletedAt != nil {
		return string(StateReady)
	}
	if row.DraftRev > 0 {
		return string(StateReady)
	}
	return string(StateDrafting)
}

// signNoteJob and unsignNoteJob make the server's note match: they read it
// back first, so a retry after a lost answer changes nothing twice.
func (c *Core) signNoteJob(ctx context.Context, j outbox.Job) error { return c.signJob(ctx, j, true) }
func (c *Core) unsignNoteJob(ctx context.Context, j outbox.Job) error {
	return c.signJob(ctx, j, false)
}

func (c *Core) signJob(ctx context.Context, j outbox.Job, sign bool) error {
	row, s, client, err := c.jobEncounter(ctx, j)
	if err != nil {
		return err
	}
	if row.NoteID == 0 {
		return outbox.TransientAfter(errors.New("waiting for the note to be created"), 5*time.Second)
	}
	note, err := client.Note(ctx, row.NoteID)
	if err != nil {
		return c.jobError(ctx, s, "read the note", err, "the server no longer has the note: Cancel this job")
	}
	if isSigned(note) != sign {
		op := client.SignNote
		if !sign {
			op = client.UnsignNote
		}
		if note, err = op(ctx, row.NoteID); err != nil {
			return c.jobError(ctx, s, "sign the note", err, "the server refused: open the note in Nextvisit to see why, then Retry or Cancel")
		}
	}
	b, err := json.Marshal(note)
	if err != nil {
		return outbox.Permanent(err, "Cancel this job")
	}
	js := string(b)
	if err := c.db.PatchEncounter(ctx, row.ID, store.EncounterPatch{Note: &js}); err != nil {
		return outbox.Transient(err)
	}
	c.notifyEncounter()
	return nil
}

func isSigned(n api.ProgressNote) bool {
	return n.Has != nil && n.Has.Signed != nil && *n.Has.Signed
}

// EncountersChanged returns a channel closed at the next change to any
// encounter's state, transcript or note made in this process; read again,
// then call it again.
func (c *Core) EncountersChanged() <-chan struct{} {
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	return c.changed
}

// notifyEncounter wakes whoever waits on EncountersChanged.
func (c *Core) notifyEncounter() {
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	close(c.changed)
	c.changed = make(chan struct{})
}

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// Turn is a final piece of an encounter's transcript.
type Turn struct {
	Start, End time.Duration // from the start of the recording
	Text       string
	Live       bool // heard live; false for text from a gap upload
}

// Transcript returns an encounter's final turns in audio order.
func (c *Core) Transcript(ctx context.Context, id string) ([]Turn, error) {
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return nil, err
	}
	turns, err := c.db.Turns(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Turn, len(turns))
	for i, t := range turns {
		out[i] = Turn{Start: samplesDuration(t.Start), End: samplesDuration(t.End), Text: t.Text, Live: t.Source == store.TurnLive}
	}
	return out, nil
}

// Status is the chip a screen shows for an encounter: its state in words
// and, when it needs a person, why and what to do.
type Status struct {
	Label    string // Recording, Paused, Transcribing, Drafting, Ready, Signed, Delivered, Needs attention
	Reason   string // for Needs attention
	WhatToDo string
	Job      JobID // the job that needs attention, if any
}

var statusLabels = map[EncounterState]string{
	StateRecording: "Recording", StatePaused: "Paused", StateEnded: "Transcribing", StateRecovered: "Transcribing",
	StateTranscribing: "Transcribing", StateDrafting: "Drafting", StateReady: "Ready", StateSigned: "Signed",
	StateDelivered: "Delivered",
}

// Visit is an encounter with what its screen shows: the server's note as
// last read, and the status.
type Visit struct {
	Encounter
	Note   *api.ProgressNote // nil until the note exists
	Status Status
	// PatientName is the patient's name as kept on this computer ("" when
	// no patient was chosen or the roster here does not have them).
	PatientName string
	// ConsentBy names the clinician who confirmed consent: the signed-in
	// clinician's name, else their user id ("" when not asked).
	ConsentBy string
}

// Visit returns one encounter with its note and status.
func (c *Core) Visit(ctx context.Context, id string) (Visit, error) {
	e, err := c.Encounter(ctx, id)
	if err != nil {
		return Visit{}, err
	}
	row, err := c.db.Encounter(ctx, e.ID)
	if err != nil {
		return Visit{}, err
	}
	v := Visit{Encounter: e}
	if row.Note != "" {
		var n api.ProgressNote
		if err := json.Unmarshal([]byte(row.Note), &n); err == nil {
			v.Note = &n
		}
	}
	if v.Status, err = c.status(ctx, e); err != nil {
		return Visit{}, err
	}
	if s, err := c.current(); err == nil {
		if e.PatientID != 0 {
			if p, err := c.db.Patient(ctx, s.scope(), e.PatientID); err == nil {
				v.PatientName = PatientName(fromCache(p))
			}
		}
		if row.ConsentBy != 0 && row.ConsentBy == s.user.Id {
			v.ConsentBy = s.user.Name
		}
	}
	if v.ConsentBy == "" && row.ConsentBy != 0 {
		v.ConsentBy = fmt.Sprintf("user %d", row.ConsentBy)
	}
	return v, nil
}

// status words an encounter's state; a job of the visit (its own or a
// push of its note to an EHR) that needs a person outranks everything.
func (c *Core) status(ctx context.Context, e Encounter) (Status, error) {
	for _, group := range visitGroups(e.ID) {
		stuck, err := c.queue.List(ctx, outbox.Filter{Group: group, States: []outbox.State{outbox.NeedsAttention}, Limit: 1})
		if err != nil {
			return Status{}, fmt.Errorf("read the encounter's jobs: %w", err)
		}
		if len(stuck) > 0 {
			j := stuck[0]
			return Status{Label: "Needs attention", Reason: j.LastError, WhatToDo: j.WhatToDo, Job: j.ID}, nil
		}
	}
	label, ok := statusLabels[e.State]
	if !ok {
		label = string(e.State)
	}
	return Status{Label: label}, nil
}

// NotesPage is a page of the Notes list: on page 1, the visits on this
// computer (newest first, including those whose note is still queued),
// then the server's notes that are not one of those visits.
type NotesPage struct {
	Local  []Visit
	Server api.Page[api.ProgressNote]
	// Offline is set when the server could not be reached: Local is all
	// there is (the error is returned too).
	Offline bool
}

// NotesWithLocal is Notes merged with the encounters kept here, so a visit
// whose note is still queued (offline) is listed too. Visits under way
// (recording, paused) are left out; f.PatientID filters both parts.
func (c *Core) NotesWithLocal(ctx context.Context, f NoteFilter) (NotesPage, error) {
	var out NotesPage
	encs, err := c.Encounters(ctx)
	if err != nil {
		return out, err
	}
	mine := map[int64]bool{}
	for _, e := range encs {
		if e.NoteID != 0 {
			mine[e.NoteID] = true
		}
		if max(f.Page, 1) != 1 || e.State == StateRecording || e.State == StatePaused ||
			(f.PatientID != 0 && e.PatientID != f.PatientID) {
			continue
		}
		v, err := c.Visit(ctx, e.ID)
		if err != nil {
			return out, err
		}
		out.Local = append(out.Local, v)
	}
	pg, err := c.Notes(ctx, f)
	if err != nil {
		out.Offline = errors.Is(err, api.ErrUnreachable)
		return out, err
	}
	kept := pg.Items[:0]
	for _, n := range pg.Items {
		if !mine[n.Id] {
			kept = append(kept, n)
		}
	}
	pg.Items = kept
	out.Server = pg
	return out, nil
}

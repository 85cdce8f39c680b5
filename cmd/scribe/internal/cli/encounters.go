package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nextvisit/scribe/app"
)

const encountersUsage = `Usage: scribe encounters [--json] [flags]

Lists the encounters recorded or imported on this computer, newest first. Works offline.

Each encounter's state: recording or paused (under way), ended or recovered (captured, not yet queued
for its note), transcribing, drafting, ready (the draft is here: scribe note show ID), signed,
delivered, or needs-attention (one of its jobs needs you: scribe note show ID says why).

  --json   print JSON: an array of {"id", "state", "duration_ms", "created_at", "ended_at",
           "source", "device", "patient_id", "template_id", "note_id", "signed_at"}; state as above
` + globalUsage

// jsonEncounter is an encounter as --json prints it.
type jsonEncounter struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	DurationMS int64     `json:"duration_ms"`
	CreatedAt  time.Time `json:"created_at"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	Source     string    `json:"source"`
	Device     string    `json:"device,omitempty"`
	PatientID  int64     `json:"patient_id,omitempty"`
	TemplateID int64     `json:"template_id,omitempty"`
	NoteID     int64     `json:"note_id,omitempty"`
	SignedAt   time.Time `json:"signed_at,omitzero"`
}

func runEncounters(ctx context.Context, e *env, args []string) error {
	fs := e.flags("encounters", encountersUsage)
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, encountersUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, encountersUsage); err != nil {
		return err
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	list, err := p.core.Encounters(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]jsonEncounter, len(list))
		for i, en := range list {
			out[i] = jsonEncounter{
				ID: en.ID, State: string(en.State), DurationMS: en.Duration.Milliseconds(),
				CreatedAt: en.Created.UTC(), EndedAt: en.Ended.UTC(), Source: en.Source, Device: en.Device, PatientID: en.PatientID,
				TemplateID: en.TemplateID, NoteID: en.NoteID, SignedAt: en.Signed.UTC(),
			}
		}
		return writeJSON(e.stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "No encounters on this computer yet. Record one with scribe record, or import a file with scribe import.")
		return nil
	}
	t := newTable(e.stdout, "ID", "STATE", "DURATION", "CREATED", "SOURCE", "PATIENT", "DEVICE")
	for _, en := range list {
		patient := "—"
		if en.PatientID != 0 {
			patient = fmt.Sprint(en.PatientID)
		}
		t.row(en.ID, en.State, clock(en.Duration, false), localTime(en.Created), en.Source, patient, orDash(en.Device))
	}
	return t.flush()
}

// recoverEncounters repairs recordings a crash left open, and says so on
// stderr. A failure is reported and does not stop the command: the
// recordings stay as they are, to be repaired next time.
func (e *env) recoverEncounters(ctx context.Context, core *app.Core) {
	rec, err := core.RecoverEncounters(ctx)
	if len(rec) > 0 {
		ids := make([]string, len(rec))
		for i, en := range rec {
			ids[i] = en.ID
		}
		noun := "recording"
		if len(rec) > 1 {
			noun += "s"
		}
		fmt.Fprintf(e.stderr, "Recovered %d interrupted %s: %s\n", len(rec), noun, strings.Join(ids, ", "))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "scribe: could not repair an interrupted recording: %s\n", app.Explain(err))
	}
}

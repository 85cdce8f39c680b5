package ehr_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
)

func bodyNote() ehr.Note {
	return ehr.Note{VisitDate: "2026-03-02", Title: "DAP note", Text: "Data: calm.\nPlan: return in 2 weeks.\n\n",
		Clinician: "Maya Okafor, PsyD",
		SignedAt:  time.Date(2026, 3, 2, 12, 30, 0, 0, time.FixedZone("EST", -5*3600)),
		Codes:     []ehr.Code{{System: "ICD-10", Code: "F41.1", Description: "Generalized anxiety disorder"}, {System: "CPT", Code: "90834"}}}
}

func TestBodyNoteWithCodes(t *testing.T) {
	want := "DAP note\n\n" +
		"Visit date: 2026-03-02\nClinician: Maya Okafor, PsyD\nSigned: 2026-03-02T17:30:00Z\n\n" +
		"Data: calm.\nPlan: return in 2 weeks.\n\n" +
		"Codes\nICD-10 F41.1 — Generalized anxiety disorder\nCPT 90834\n"
	if got := ehr.Body(bodyNote(), ehr.NoteWithCodes); got != want {
		t.Errorf("with codes =\n%q\nwant\n%q", got, want)
	}
	// The default: a setting the connector does not know sends everything
	// rather than losing the codes.
	if got := ehr.Body(bodyNote(), ""); got != want {
		t.Errorf("empty setting =\n%q\nwant the note + codes + metadata form\n%q", got, want)
	}
}

func TestBodyNoteOnly(t *testing.T) {
	n := bodyNote()
	if got := ehr.Body(n, ehr.NoteOnly); got != n.Text {
		t.Errorf("note only = %q, want the text as it is, %q", got, n.Text)
	}
}

func TestBodyLeavesOutWhatIsUnknown(t *testing.T) {
	n := bodyNote()
	n.Title, n.Clinician, n.SignedAt, n.Codes = "", "", time.Time{}, nil
	want := "Visit date: 2026-03-02\n\nData: calm.\nPlan: return in 2 weeks.\n"
	if got := ehr.Body(n, ehr.NoteWithCodes); got != want {
		t.Errorf("bare note =\n%q\nwant\n%q", got, want)
	}
}

func TestBodyLines(t *testing.T) {
	n := bodyNote()
	for _, what := range []ehr.Content{ehr.NoteWithCodes, ehr.NoteOnly} {
		lines := ehr.BodyLines(n, what)
		var texts []string
		roles := map[ehr.Role]int{}
		for _, l := range lines {
			texts = append(texts, l.String())
			roles[l.Role]++
		}
		// The lines hold Body's words, line for line (Body's note-only
		// form keeps the text's own trailing line breaks).
		if got, want := strings.Join(texts, "\n"), strings.TrimRight(ehr.Body(n, what), "\n"); got != want {
			t.Errorf("%s: lines joined =\n%q\nBody =\n%q", what, got, want)
		}
		if what == ehr.NoteOnly {
			if len(roles) != 1 || roles[ehr.RoleText] != 2 {
				t.Errorf("note only: roles %v, want two text lines only", roles)
			}
			continue
		}
		if roles[ehr.RoleTitle] != 1 || roles[ehr.RoleField] != 3 || roles[ehr.RoleHeading] != 1 || roles[ehr.RoleCode] != 2 {
			t.Errorf("with codes: roles %v, want 1 title, 3 fields, 1 heading, 2 codes", roles)
		}
	}
}

func TestBodyLinesCRLF(t *testing.T) {
	n := bodyNote()
	n.Text = "Data: calm.\r\nPlan: rest.\r\n"
	lines := ehr.BodyLines(n, ehr.NoteOnly)
	if len(lines) != 2 || lines[0].Text != "Data: calm." || lines[1].Text != "Plan: rest." {
		t.Errorf("CRLF text split into %q", lines)
	}
}

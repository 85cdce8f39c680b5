package oauthehr

import (
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
)

// Render is the plain text a push sends: the note, and for NoteWithCodes
// its codes and a metadata block ("" counts as NoteWithCodes, the
// default). It depends only on the note, so a retried
// push sends the same bytes and its Idempotency-Key replays.
func Render(n ehr.Note, what ehr.Content) string {
	var b strings.Builder
	if n.Title != "" {
		b.WriteString(n.Title + "\n\n")
	}
	b.WriteString(strings.TrimRight(n.Text, "\n"))
	b.WriteString("\n")
	if what == ehr.NoteOnly {
		return b.String()
	}
	if len(n.Codes) > 0 {
		b.WriteString("\nCodes:\n")
		for _, c := range n.Codes {
			b.WriteString("- " + c.System + " " + c.Code)
			if c.Description != "" {
				b.WriteString(" " + c.Description)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\nVisit date: " + n.VisitDate + "\n")
	if n.Clinician != "" {
		b.WriteString("Clinician: " + n.Clinician + "\n")
	}
	if !n.SignedAt.IsZero() {
		b.WriteString("Signed: " + n.SignedAt.UTC().Format(time.RFC3339) + "\n")
	}
	b.WriteString("Sent by Nextvisit Scribe\n")
	return b.String()
}

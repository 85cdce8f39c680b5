package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

const notesShowUsage = `Usage: scribe notes show ID [--json] [flags]

Prints one progress note: its patient, template and status, the transcription and the drafted note.

  --json   print the note as JSON
` + globalUsage

func runNotesShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("notes show", notesShowUsage)
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, notesShowUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr(notesShowUsage, "give one note ID")
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return usageErr(notesShowUsage, "%q is not a note ID; IDs are the numbers scribe notes lists", fs.Arg(0))
	}
	p, err := e.signedIn(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	n, err := p.core.Note(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, n)
	}
	return printNote(e.stdout, n)
}

func printNote(w io.Writer, n api.ProgressNote) error {
	t := newTable(w, "Note", fmt.Sprintf("%d: %s", n.Id, n.Name))
	if n.Patient != nil {
		t.row("Patient", fmt.Sprintf("%s (%d)", app.PatientName(*n.Patient), n.Patient.Id))
	}
	if n.Template != nil {
		t.row("Template", n.Template.Name)
	}
	t.row("Status", app.NoteStatus(n))
	t.row("Created", localTime(n.CreatedAt))
	t.row("Updated", localTime(n.UpdatedAt))
	if err := t.flush(); err != nil {
		return err
	}
	section(w, "Transcription", deref(n.Transcription))
	section(w, "Note", deref(n.Analysis))
	return nil
}

// section prints a heading and multi-line text from the server, with
// control characters other than line breaks removed.
func section(w io.Writer, title, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		text = "(none yet)"
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = clean(l)
	}
	fmt.Fprintf(w, "\n%s\n%s\n%s\n", title, strings.Repeat("-", len(title)), strings.Join(lines, "\n"))
}

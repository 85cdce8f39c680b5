package cli

import (
	"context"
	"fmt"

	"github.com/nextvisit/scribe/app"
)

const notesUsage = `Usage: scribe notes [--patient ID] [--sort latest|oldest] [--page N] [--per-page N] [--json] [flags]
       scribe notes show ID [--json] [flags]

Lists your team's progress notes, a page at a time, with where each one stands (Processing, Ready,
Signed or Failed).

  --patient ID            only the notes of this patient (see scribe patients)
  --sort latest|oldest    order by creation (default latest)
  --page N                the page to show (default 1)
  --per-page N            notes per page, 1–100 (default: the server's, 15)
  --json                  print JSON ({"data", "links", "meta"})
` + globalUsage

func runNotes(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return runNotesShow(ctx, e, args[1:])
	}
	fs := e.flags("notes", notesUsage)
	var f app.NoteFilter
	fs.Int64Var(&f.PatientID, "patient", 0, "")
	fs.StringVar(&f.SortBy, "sort", "latest", "")
	fs.IntVar(&f.Page, "page", 1, "")
	fs.IntVar(&f.PerPage, "per-page", 0, "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, notesUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, notesUsage); err != nil {
		return err
	}
	if f.SortBy != "latest" && f.SortBy != "oldest" {
		return usageErr(notesUsage, "--sort must be latest or oldest, not %q", f.SortBy)
	}
	if f.PatientID < 0 {
		return usageErr(notesUsage, "--patient must be a patient's id, not %d", f.PatientID)
	}
	if err := checkPaging(notesUsage, f.Page, f.PerPage); err != nil {
		return err
	}
	p, err := e.signedIn(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	pg, err := p.core.Notes(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, newJSONPage(pg, false))
	}
	t := newTable(e.stdout, "ID", "CREATED", "PATIENT", "STATUS", "NAME")
	for _, n := range pg.Items {
		patient := "—"
		if n.Patient != nil {
			patient = app.PatientName(*n.Patient)
		}
		t.row(n.Id, localTime(n.CreatedAt), patient, app.NoteStatus(n), n.Name)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, pg.Meta.Summary("note", "notes"))
	return nil
}

package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
)

const noteUsage = `Usage: scribe note show ID [--json] [flags]
       scribe note edit ID (--text T | --file F | --file -) [--json] [flags]
       scribe note sign ID [--yes] [--json] [flags]
       scribe note unsign ID [--yes] [--json] [flags]

The note of one visit recorded or imported on this computer; ID is the encounter's id (see
scribe encounters). Works offline: changes are kept on this computer at once and sent to the server
in order (the draft first, then edits, then the signature).

  show     where the visit stands (and, when it needs attention, why and what to do), its patient,
           template and consent, the transcript with times, the note text, and the codes (ICD-10,
           CPT, with confidence where the server gives one) and screeners the server found
  edit     replace the note text with T, with the contents of file F, or with stdin (--file -)
  sign     sign the note; a signed note cannot be edited until it is unsigned
  unsign   reopen a signed note for editing

  --json   print the visit as JSON: {"id", "state", "status": {"label", "reason", "what_to_do", "job"},
           "patient_id", "template_id", "context", "consent_at", "created_at", "ended_at", "duration_ms",
           "source", "device", "note_id", "draft", "unsent" (an edit has not reached the server yet),
           "signed_at", "queued" (this visit's jobs not yet done: [{"id", "kind", "state"}]),
           "transcript" ([{"start_ms", "end_ms", "text", "live"}]), "note" (the server's note as last
           read, or null)}
  --yes    sign or unsign without asking. At a terminal, sign and unsign ask first; when stdin is not a
           terminal (a script) they need --yes, so that nothing is signed by accident.

edit, sign and unsign try to send the change for up to 10 s when you are signed in, then say whether
the server has it or it waits on this computer (sent by scribe sync or while the Scribe window is open).
Exit status 1 when the change is refused (a signed note cannot be edited) or a job of the visit needs
your attention (see scribe queue).
` + globalUsage

// sendWait bounds how long edit, sign and unsign try to send the change
// before leaving it queued. A variable so tests can shorten it.
var sendWait = 10 * time.Second

// maxNoteText bounds a note read from a file or stdin: a progress note is
// a few pages, and a mistaken file (a recording) should not become one.
const maxNoteText = 1 << 20

func runNote(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr(noteUsage, "note needs a subcommand: show, edit, sign or unsign")
	}
	switch args[0] {
	case "show":
		return runNoteShow(ctx, e, args[1:])
	case "edit":
		return runNoteEdit(ctx, e, args[1:])
	case "sign":
		return runNoteSign(ctx, e, args[1:], true)
	case "unsign":
		return runNoteSign(ctx, e, args[1:], false)
	case "-h", "-help", "--help":
		return &helpRequest{usage: noteUsage}
	}
	return usageErr(noteUsage, "unknown note subcommand %q; use show, edit, sign or unsign", args[0])
}

// oneID is the single encounter id a note subcommand takes.
func oneID(fs *flag.FlagSet, what string) (string, error) {
	if fs.NArg() != 1 {
		return "", usageErr(noteUsage, "note %s needs one encounter id (see scribe encounters)", what)
	}
	return strings.TrimSpace(fs.Arg(0)), nil
}

func runNoteShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("note show", noteUsage)
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, noteUsage, args, false); err != nil {
		return err
	}
	id, err := oneID(fs, "show")
	if err != nil {
		return err
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	return e.printVisit(ctx, p, id, *asJSON)
}

func runNoteEdit(ctx context.Context, e *env, args []string) error {
	fs := e.flags("note edit", noteUsage)
	text := fs.String("text", "", "")
	file := fs.String("file", "", "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, noteUsage, args, false); err != nil {
		return err
	}
	id, err := oneID(fs, "edit")
	if err != nil {
		return err
	}
	given := 0
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "text" || f.Name == "file" {
			given++
		}
	})
	if given != 1 {
		return usageErr(noteUsage, "note edit needs the new text: --text T, --file F, or --file - for stdin (one of them)")
	}
	body := *text
	if *file != "" {
		if body, err = e.readNoteText(*file); err != nil {
			return err
		}
	}
	if strings.TrimSpace(body) == "" {
		return usageErr(noteUsage, "the new note text is empty; give the whole note (scribe note show %s prints the current one)", id)
	}
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.core.SaveDraft(ctx, id, body); err != nil {
		return err
	}
	return e.afterChange(ctx, p, id, "Saved the note", *asJSON)
}

func runNoteSign(ctx context.Context, e *env, args []string, sign bool) error {
	verb := "sign"
	if !sign {
		verb = "unsign"
	}
	fs := e.flags("note "+verb, noteUsage)
	yes := fs.Bool("yes", false, "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, noteUsage, args, false); err != nil {
		return err
	}
	id, err := oneID(fs, verb)
	if err != nil {
		return err
	}
	tty := isTerminal(e.stdin)
	if !*yes && !tty {
		return usageErr(noteUsage, "note %s asks before it acts, and stdin is not a terminal: add --yes to %s without asking", verb, verb)
	}
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if !*yes {
		// Show what is being signed, so the question is about a known note.
		v, err := p.core.Visit(ctx, id)
		if err != nil {
			return err
		}
		question := fmt.Sprintf("Sign the note of encounter %s (%s, %s)? A signed note cannot be edited until it is unsigned. [y/N] ",
			v.ID, clean(visitPatient(v)), localTime(v.Created))
		if !sign {
			question = fmt.Sprintf("Unsign the note of encounter %s (%s, %s), reopening it for editing? [y/N] ",
				v.ID, clean(visitPatient(v)), localTime(v.Created))
		}
		ok, err := e.confirm(question)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(e.stdout, "Nothing changed.")
			return nil
		}
	}
	op, done := p.core.SignNote, "Signed the note"
	if !sign {
		op, done = p.core.UnsignNote, "Unsigned the note"
	}
	if err := op(ctx, id); err != nil {
		return err
	}
	return e.afterChange(ctx, p, id, done, *asJSON)
}

// confirm asks a yes/no question on stderr and reads the answer.
func (e *env) confirm(question string) (bool, error) {
	fmt.Fprint(e.stderr, question)
	answer, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	// Anything but yes (an empty line, end of input) is no.
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes", nil
}

// readNoteText reads the note from a file, or from stdin for "-".
func (e *env) readNoteText(file string) (string, error) {
	var r io.Reader
	if file == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return "", messageErr("cannot read the note from %s: %v — check the path", file, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxNoteText+1))
	if err != nil {
		return "", fmt.Errorf("read the note from %s: %w", file, err)
	}
	if len(b) > maxNoteText {
		return "", messageErr("%s is larger than %d KB; a note is text of a few pages — check that it is the right file", file, maxNoteText>>10)
	}
	if !utf8.Valid(b) {
		return "", messageErr("%s is not UTF-8 text — save the note as plain text and try again", file)
	}
	return string(b), nil
}

// afterChange tries to send the visit's jobs (when signed in), then says
// what became of the change: on the server, or waiting here and why.
func (e *env) afterChange(ctx context.Context, p *profile, id, done string, asJSON bool) error {
	out := sendVisit(ctx, p, id)
	if asJSON {
		if err := e.printVisit(ctx, p, id, true); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s of encounter %s. %s\n", done, id, out.message(p))
	}
	if out.stuck != nil {
		j := *out.stuck
		return messageErr("job %d (%s) of this visit needs your attention: %s — %s", j.ID, j.Kind, clean(shorten(j.LastError, 200)), clean(whatToDo(j, true)))
	}
	return nil
}

// sendOutcome is what sending a visit's jobs came to.
type sendOutcome struct {
	signedOut bool
	offline   bool
	waiting   []app.Job // not done yet
	stuck     *app.Job  // the first that needs a person
}

func (o sendOutcome) message(p *profile) string {
	const later = "it will be sent by scribe sync or while the Scribe window is open"
	switch {
	case o.stuck != nil:
		return "It is kept on this computer and cannot be sent yet (see below)."
	case o.signedOut:
		return "It is kept on this computer: nobody is signed in — " + later + " once you sign in (scribe login)."
	case o.offline:
		return "It is kept on this computer: the server " + hostOf(p.server) + " cannot be reached — " + later + "."
	case len(o.waiting) > 0:
		kinds := make([]string, len(o.waiting))
		for i, j := range o.waiting {
			kinds[i] = fmt.Sprintf("%s (job %d)", j.Kind, j.ID)
		}
		return "It is queued on this computer behind " + strings.Join(kinds, ", ") + " — " + later + "."
	}
	return "Sent: the server has it."
}

// sendVisit runs the outbox until the visit's jobs are done, one needs a
// person, the server is out of reach, or sendWait has passed.
func sendVisit(ctx context.Context, p *profile, id string) sendOutcome {
	var out sendOutcome
	if _, ok := p.core.User(); !ok {
		out.signedOut = true
		out.waiting, _ = waitingJobs(ctx, p.core, id)
		return out
	}
	stop := serveInBackground(ctx, p.core)
	defer stop()
	if _, err := p.core.SendNow(ctx); err != nil {
		out.waiting, _ = waitingJobs(ctx, p.core, id)
		return out
	}
	wctx, cancel := context.WithTimeout(ctx, sendWait)
	defer cancel()
	for {
		changed := p.core.JobsChanged()
		jobs, err := waitingJobs(wctx, p.core, id)
		if err != nil {
			break
		}
		out.waiting = jobs
		for i, j := range jobs {
			if j.State == outbox.NeedsAttention {
				out.stuck = &jobs[i]
				return out
			}
		}
		running := len(jobs) > 0 && jobs[0].State == outbox.Running
		switch {
		case len(jobs) == 0:
			return out
		case !running && !p.core.Online():
			out.offline = true
			return out
		}
		select {
		case <-wctx.Done():
			// Read once more: the last change may have raced the deadline.
			if jobs, err := waitingJobs(ctx, p.core, id); err == nil {
				out.waiting = jobs
			}
			return out
		case <-changed:
		}
	}
	return out
}

// waitingJobs are a visit's jobs not yet done, in the order they run.
func waitingJobs(ctx context.Context, core *app.Core, id string) ([]app.Job, error) {
	jobs, err := core.VisitJobs(ctx, id)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(jobs, func(j app.Job) bool { return !slices.Contains(unfinished, j.State) }), nil
}

// jsonVisit is a visit as scribe note --json prints it.
type jsonVisit struct {
	ID         string            `json:"id"`
	State      string            `json:"state"`
	Status     jsonStatus        `json:"status"`
	PatientID  int64             `json:"patient_id,omitempty"`
	TemplateID int64             `json:"template_id,omitempty"`
	Context    string            `json:"context,omitempty"`
	ConsentAt  time.Time         `json:"consent_at,omitzero"`
	CreatedAt  time.Time         `json:"created_at"`
	EndedAt    time.Time         `json:"ended_at,omitzero"`
	DurationMS int64             `json:"duration_ms"`
	Source     string            `json:"source"`
	Device     string            `json:"device,omitempty"`
	NoteID     int64             `json:"note_id,omitempty"`
	Draft      string            `json:"draft"`
	Unsent     bool              `json:"unsent"`
	SignedAt   time.Time         `json:"signed_at,omitzero"`
	Queued     []jsonVisitJob    `json:"queued"`
	Transcript []jsonTurn        `json:"transcript"`
	Note       *api.ProgressNote `json:"note"`
}

type jsonStatus struct {
	Label    string `json:"label"`
	Reason   string `json:"reason,omitempty"`
	WhatToDo string `json:"what_to_do,omitempty"`
	Job      int64  `json:"job,omitempty"`
}

type jsonVisitJob struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"`
}

type jsonTurn struct {
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
	Text    string `json:"text"`
	Live    bool   `json:"live"`
}

// printVisit prints encounter id's visit, as text or JSON.
func (e *env) printVisit(ctx context.Context, p *profile, id string, asJSON bool) error {
	v, err := p.core.Visit(ctx, id)
	if err != nil {
		return err
	}
	turns, err := p.core.Transcript(ctx, v.ID)
	if err != nil {
		return err
	}
	queued, err := waitingJobs(ctx, p.core, v.ID)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, newJSONVisit(v, turns, queued))
	}
	return writeVisit(e.stdout, v, turns, queued)
}

func newJSONVisit(v app.Visit, turns []app.Turn, queued []app.Job) jsonVisit {
	out := jsonVisit{
		ID: v.ID, State: string(v.State), PatientID: v.PatientID, TemplateID: v.TemplateID, Context: v.Context,
		ConsentAt: v.ConsentAt.UTC(), CreatedAt: v.Created.UTC(), EndedAt: v.Ended.UTC(), DurationMS: v.Duration.Milliseconds(),
		Source: v.Source, Device: v.Device, NoteID: v.NoteID, Draft: v.Draft, Unsent: v.Unsent, SignedAt: v.Signed.UTC(),
		Status:     jsonStatus{Label: v.Status.Label, Reason: v.Status.Reason, WhatToDo: v.Status.WhatToDo, Job: int64(v.Status.Job)},
		Queued:     make([]jsonVisitJob, len(queued)),
		Transcript: make([]jsonTurn, len(turns)),
		Note:       v.Note,
	}
	for i, j := range queued {
		out.Queued[i] = jsonVisitJob{ID: int64(j.ID), Kind: j.Kind, State: string(j.State)}
	}
	for i, t := range turns {
		out.Transcript[i] = jsonTurn{StartMS: t.Start.Milliseconds(), EndMS: t.End.Milliseconds(), Text: t.Text, Live: t.Live}
	}
	return out
}

// writeVisit prints a visit for a person: the facts as a table, then the
// transcript, the note, the codes and the screeners.
func writeVisit(w io.Writer, v app.Visit, turns []app.Turn, queued []app.Job) error {
	t := newTable(w, "Encounter", v.ID)
	t.row("Status", v.Status.Label)
	if v.Status.Reason != "" {
		t.row("Reason", shorten(v.Status.Reason, 300))
	}
	if v.Status.Label == "Needs attention" || v.Status.WhatToDo != "" {
		what := strings.TrimSuffix(v.Status.WhatToDo, ".")
		if what == "" {
			what = "see the reason"
		}
		if v.Status.Job != 0 {
			what += fmt.Sprintf(" (scribe queue retry %d · scribe queue cancel %d)", v.Status.Job, v.Status.Job)
		}
		t.row("What to do", what)
	}
	t.row("Patient", visitPatient(v))
	t.row("Template", visitTemplate(v))
	if v.Context != "" {
		t.row("Context", shorten(v.Context, 200))
	}
	consent := "not recorded"
	if !v.ConsentAt.IsZero() {
		consent = "given " + localTime(v.ConsentAt)
	}
	t.row("Consent", consent)
	how := "imported"
	if v.Source != app.SourceImport {
		how = "recorded"
		if v.Device != "" {
			how += " from " + v.Device
		}
	}
	t.row("Visit", fmt.Sprintf("%s, %s %s", localTime(v.Created), clock(v.Duration, false), how))
	server := "not created yet"
	if v.Note != nil {
		server = fmt.Sprintf("%d: %s", v.Note.Id, v.Note.Name)
	} else if v.NoteID != 0 {
		server = fmt.Sprint(v.NoteID)
	}
	t.row("Server note", server)
	if !v.Signed.IsZero() {
		t.row("Signed", localTime(v.Signed))
	}
	t.row("Changes", visitChanges(v, queued))
	if err := t.flush(); err != nil {
		return err
	}
	lines := make([]string, len(turns))
	for i, tr := range turns {
		lines[i] = turnTime(tr.Start) + " " + tr.Text
	}
	section(w, "Transcript", strings.Join(lines, "\n"))
	section(w, "Note", v.Draft)
	if v.Note != nil && v.Note.Codes != nil {
		var codes []string
		add := func(system string, list *[]api.Code) {
			if list == nil {
				return
			}
			for _, c := range *list {
				s := system + "  " + c.Code
				if c.Description != nil && *c.Description != "" {
					s += "  " + *c.Description
				}
				if c.Confidence != nil {
					s += fmt.Sprintf("  (confidence %.2f)", *c.Confidence)
				}
				codes = append(codes, s)
			}
		}
		add("ICD-10", v.Note.Codes.Icd10)
		add("CPT", v.Note.Codes.Cpt)
		if len(codes) > 0 {
			section(w, "Codes", strings.Join(codes, "\n"))
		}
	}
	if v.Note != nil && v.Note.Screeners != nil && len(*v.Note.Screeners) > 0 {
		var list []string
		for _, s := range *v.Note.Screeners {
			l := s.Name
			if s.Score != nil {
				l += fmt.Sprintf("  score %d", *s.Score)
			}
			if s.Severity != nil && *s.Severity != "" {
				l += "  " + *s.Severity
			}
			list = append(list, l)
		}
		section(w, "Screeners", strings.Join(list, "\n"))
	}
	return nil
}

// visitChanges says whether what was done here has reached the server.
func visitChanges(v app.Visit, queued []app.Job) string {
	if len(queued) == 0 && !v.Unsent {
		return "all sent"
	}
	kinds := make([]string, len(queued))
	for i, j := range queued {
		kinds[i] = fmt.Sprintf("%s (job %d, %s)", j.Kind, j.ID, j.State)
	}
	s := "queued on this computer: " + strings.Join(kinds, ", ")
	if v.Unsent {
		s = "the latest edit is not on the server yet; " + s
	}
	return s + " — sent by scribe sync or while the Scribe window is open"
}

func visitPatient(v app.Visit) string {
	switch {
	case v.Note != nil && v.Note.Patient != nil:
		return fmt.Sprintf("%s (%d)", app.PatientName(*v.Note.Patient), v.Note.Patient.Id)
	case v.PatientID < 0:
		return fmt.Sprintf("patient %d (added on this computer)", v.PatientID)
	case v.PatientID > 0:
		return fmt.Sprintf("patient %d", v.PatientID)
	}
	return "none chosen"
}

func visitTemplate(v app.Visit) string {
	switch {
	case v.Note != nil && v.Note.Template != nil:
		return fmt.Sprintf("%s (%d)", v.Note.Template.Name, v.Note.Template.Id)
	case v.TemplateID != 0:
		return fmt.Sprintf("template %d", v.TemplateID)
	}
	return "the server's default"
}

// turnTime is a turn's start as [MM:SS], or [H:MM:SS] past an hour.
func turnTime(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	h, m, s := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	if h > 0 {
		return fmt.Sprintf("[%d:%02d:%02d]", h, m, s)
	}
	return fmt.Sprintf("[%02d:%02d]", m, s)
}

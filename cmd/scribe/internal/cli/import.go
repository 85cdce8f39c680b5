package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/nextvisit/scribe/app"
)

const importUsage = `Usage: scribe import FILE [--patient ID] [--template ID] [--context TEXT] [--consent] [flags]

Imports a recording made elsewhere as an encounter: WAV (8/16/24/32-bit integer or 32-bit float,
any rate, mono or stereo) or MP3. The audio is kept as 16 kHz mono, like a recording. Prints the
new encounter's id. A long file shows its progress on stderr. A file that cannot be read leaves
nothing behind. Works offline.

The visit is then queued for its note, like a recording: the audio is transcribed and Nextvisit
drafts the note when scribe sync runs or while the Scribe window is open; scribe note show ID says
where it stands.

  --patient ID     the patient the visit is with (see scribe patients; a negative id is a patient
                   added on this computer and not yet on the server)
  --template ID    the note template's id (default: the server's default template)
  --context TEXT   what the note should take into account
  --consent        the patient agreed to be recorded (kept with the visit, with the time and you)
` + globalUsage

// Progress of a long import: shown once it has taken progressAfter, then
// redrawn every progressEvery at a terminal or printed as a line every
// progressLines elsewhere.
const (
	progressAfter = time.Second
	progressEvery = 250 * time.Millisecond
	progressLines = 5 * time.Second
)

func runImport(ctx context.Context, e *env, args []string) error {
	fs := e.flags("import", importUsage)
	var opts app.ImportOptions
	fs.Int64Var(&opts.PatientID, "patient", 0, "")
	fs.Int64Var(&opts.TemplateID, "template", 0, "")
	fs.StringVar(&opts.Context, "context", "", "")
	fs.BoolVar(&opts.Consent, "consent", false, "")
	if err := parseFlags(fs, importUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr(importUsage, "import needs one audio file, e.g. scribe import visit.mp3")
	}
	if opts.TemplateID < 0 {
		return usageErr(importUsage, "--template must be a template's id, not %d", opts.TemplateID)
	}
	file := fs.Arg(0)
	// The session, if one is stored, is the account the visit belongs to
	// (and the one its consent is recorded with).
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	pr := newProgress(e.stderr, isTerminalWriter(e.stderr), "Importing "+filepath.Base(file))
	opts.Progress = pr.update
	en, err := p.core.ImportRecording(ctx, file, opts)
	pr.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Encounter %s\nImported %s of audio from %s.\n", en.ID, clock(en.Duration, false), file)
	if opts.Consent {
		e.checkConsent(ctx, p.core, en.ID)
	}
	_, signedIn := p.core.User()
	fmt.Fprintln(e.stdout, queuedForNote(ctx, p.core, en, signedIn))
	return nil
}

// progress prints how far a long task has come, without slowing it: it
// only looks at the clock on each update.
type progress struct {
	w     io.Writer
	tty   bool
	what  string
	start time.Time

	mu    sync.Mutex
	last  time.Time // when it last printed
	shown bool      // a terminal line is on screen
}

func newProgress(w io.Writer, tty bool, what string) *progress {
	return &progress{w: w, tty: tty, what: what, start: time.Now()}
}

func (p *progress) update(fraction float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	every := progressLines
	if p.tty {
		every = progressEvery
	}
	if now.Sub(p.start) < progressAfter || now.Sub(p.last) < every {
		return
	}
	p.last = now
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s: %3.0f%%", p.what, 100*fraction)
		p.shown = true
		return
	}
	fmt.Fprintf(p.w, "%s: %.0f%%\n", p.what, 100*fraction)
}

// done clears the terminal line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

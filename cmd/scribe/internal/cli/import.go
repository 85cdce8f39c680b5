package cli

import (
	"context"
	"fmt"
	"github.com/nextvisit/scribe/app"
	"io"
	"path/filepath"
	"sync"
	"time"
)

const importUsage = `Usage: scribe import FILE [--patient ID] [flags]

Imports a recording made elsewhere as an encounter: WAV (8/16/24/32-bit integer or 32-bit float,
any rate, mono or stereo) or MP3. The audio is kept as 16 kHz mono, like a recording. Prints the
new encounter's id. A long file shows its progress on stderr. A file that cannot be read leaves
nothing behind. Works offline.

  --patient ID   the patient the visit is with (see scribe patients)
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
	patient := fs.Int64("patient", 0, "")
	if err := parseFlags(fs, importUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr(importUsage, "import needs one audio file, e.g. scribe import visit.mp3")
	}
	if *patient < 0 {
		return usageErr(importUsage, "--patient must be a patient id (see scribe patients), not %d", *patient)
	}
	file := fs.Arg(0)
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	pr := newProgress(e.stderr, isTerminalWriter(e.stderr), "Importing "+filepath.Base(file))
	en, err := p.core.ImportRecording(ctx, file, app.ImportOptions{PatientID: *patient, Progress: pr.update})
	pr.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Encounter %s\nImported %s of audio from %s.\n", en.ID, clock(en.Duration, false), file)
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

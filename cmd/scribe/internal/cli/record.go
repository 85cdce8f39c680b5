package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/audio/dsp"
)

const recordUsage = `Usage: scribe record [--device NAME] [--duration D] [--patient ID] [--template ID] [--context TEXT] [--consent] [flags]

Records a visit from the microphone until Ctrl-C (or SIGTERM), or for --duration. The audio is
saved to disk as it is recorded, so a crash or power cut loses at most about a second of it; the
next scribe command repairs an interrupted recording. Needs no sign-in and no network.

Prints the encounter's id first. Then, at a terminal, one status line with the time recorded and
the level (RMS and peak, in dBFS), four times a second; otherwise a status line every second.
Warnings (no audio, too loud, microphone lost, disk nearly full) are printed on stderr as they
happen. At the end it prints the id and the time recorded again.

Signed in (scribe login), the visit is transcribed as it is recorded: each finished turn is printed
on stdout as it arrives, as "[MM:SS] text" (MM:SS into the visit), and the live transcript's
connection on stderr as it changes ("live transcript: live", "live transcript: catching up", and
"` + app.OfflineNotice + `" while the server cannot be reached). A
dropped connection loses nothing: the transcript catches up from the audio on disk. Signed out, the
visit is transcribed after it ends, once you sign in.

At the end the visit is queued for its note: the audio the live transcript did not cover is
transcribed, then Nextvisit drafts the note. That is sent by scribe sync or while the Scribe window
is open; scribe note show ID says where it stands.

  --device NAME    the microphone: its name or a unique part of it (see scribe devices;
                   default: the system default)
  --duration D     end by itself after D, e.g. 90s or 15m (default: until Ctrl-C)
  --patient ID     the patient the visit is with (see scribe patients; a negative id is a patient
                   added on this computer and not yet on the server)
  --template ID    the note template's id (default: the server's default template)
  --context TEXT   what the note should take into account, e.g. "follow-up after the MRI"
  --consent        the patient agreed to be recorded (kept with the visit, with the time and you)
` + globalUsage

func runRecord(ctx context.Context, e *env, args []string) error {
	fs := e.flags("record", recordUsage)
	device := fs.String("device", "", "")
	duration := fs.Duration("duration", 0, "")
	var opts app.RecordOptions
	fs.Int64Var(&opts.PatientID, "patient", 0, "")
	fs.Int64Var(&opts.TemplateID, "template", 0, "")
	fs.StringVar(&opts.Context, "context", "", "")
	fs.BoolVar(&opts.Consent, "consent", false, "")
	if err := parseFlags(fs, recordUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, recordUsage); err != nil {
		return err
	}
	if *duration < 0 {
		return usageErr(recordUsage, "--duration must be positive, e.g. 90s or 15m, not %s", *duration)
	}
	if opts.TemplateID < 0 {
		return usageErr(recordUsage, "--template must be a template's id, not %d", opts.TemplateID)
	}
	opts.Device = *device
	// The live transcript streams in the stored session, if there is one.
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	rec, err := p.core.StartRecording(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Encounter %s\n", rec.ID())
	if opts.Consent {
		e.checkConsent(ctx, p.core, rec.ID())
	}
	until := "press Ctrl-C to end"
	if *duration > 0 {
		until = fmt.Sprintf("ending after %s or at Ctrl-C", *duration)
	}
	fmt.Fprintf(e.stdout, "Recording from %q — %s.\n", rec.Device(), until)

	st := &status{w: e.stdout, tty: isTerminalWriter(e.stdout), rms: dsp.FloorDB}
	lt := &liveText{out: e.stdout, errOut: e.stderr, st: st}
	every := time.Second
	if st.tty {
		every = 250 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var timeUp <-chan time.Time
	if *duration > 0 {
		t := time.NewTimer(*duration)
		defer t.Stop()
		timeUp = t.C
	}
	levels, events, live := rec.Levels(), rec.Events(), rec.Live()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-timeUp:
			break loop
		case l, ok := <-levels:
			if !ok {
				levels = nil
				continue
			}
			st.level(l)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			st.clear()
			printEvent(e.stderr, ev)
		case u, ok := <-live:
			if !ok {
				live = nil
				continue
			}
			lt.update(u)
		case <-tick.C:
			st.show(rec.Elapsed())
		}
	}
	st.clear()
	// Ending touches only local files and waits a little for the live
	// transcript to finish; it must finish after Ctrl-C too. The turns that
	// arrive meanwhile are printed as they come.
	type ended struct {
		enc app.Encounter
		err error
	}
	endc := make(chan ended, 1)
	go func() {
		enc, err := rec.End(context.WithoutCancel(ctx))
		endc <- ended{enc, err}
	}()
	if live != nil {
		for u := range live { // closed by End
			lt.update(u)
		}
	}
	res := <-endc
	for ev := range rec.Events() { // what came while ending
		printEvent(e.stderr, ev)
	}
	enc, err := res.enc, res.err
	if err != nil {
		fmt.Fprintf(e.stdout, "Encounter %s: %s recorded.\n", enc.ID, clock(enc.Duration, true))
		return err
	}
	fmt.Fprintf(e.stdout, "Ended encounter %s: %s recorded.\n", enc.ID, clock(enc.Duration, true))
	_, signedIn := p.core.User()
	fmt.Fprintln(e.stdout, queuedForNote(ctx, p.core, enc, signedIn))
	return nil
}

// checkConsent warns when consent asked for with --consent was not kept
// with the visit (Scribe keeps it only with a signed-in clinician).
func (e *env) checkConsent(ctx context.Context, c *app.Core, id string) {
	en, err := c.Encounter(ctx, id)
	if err == nil && en.ConsentAt.IsZero() {
		fmt.Fprintln(e.stderr, "scribe: warning: the patient's consent was not recorded with the visit: nobody is signed in — sign in (scribe login) before recording to keep it")
	}
}

// queuedForNote says where a visit just captured stands on its way to a
// note, and what makes it go on.
func queuedForNote(ctx context.Context, c *app.Core, enc app.Encounter, signedIn bool) string {
	if now, err := c.Encounter(ctx, enc.ID); err == nil {
		enc = now // End reports transcribing; the store knows when it is all covered
	}
	var next string
	switch enc.State {
	case app.StateTranscribing:
		next = "the note will be drafted once all of the audio is transcribed"
	case app.StateDrafting:
		next = "the note will be drafted from the transcript"
	default:
		next = "the note is not queued yet; scribe sync queues it"
	}
	how := "sent by scribe sync or while the Scribe window is open"
	if !signedIn {
		how = "sent once you sign in (scribe login), by scribe sync or while the Scribe window is open"
	}
	return fmt.Sprintf("Encounter %s: %s; %s, %s — see scribe note show %s", enc.ID, enc.State, next, how, enc.ID)
}

// liveText prints the live transcript: final turns on stdout as they
// arrive, changes of the connection on stderr. Partial turns are not
// printed: a line printed cannot be taken back.
type liveText struct {
	out, errOut io.Writer
	st          *status
	link        app.Link
}

func (l *liveText) update(u app.LiveUpdate) {
	switch {
	case u.Final != nil:
		l.st.clear()
		fmt.Fprintf(l.out, "%s %s\n", turnTime(u.Final.Start), clean(u.Final.Text))
	case u.Link != "" && u.Link != l.link:
		l.link = u.Link
		l.st.clear()
		fmt.Fprintln(l.errOut, linkMessage(u.Link))
	}
}

// linkMessage words a state of the live transcript's connection.
func linkMessage(link app.Link) string {
	switch link {
	case app.LinkConnecting:
		return "live transcript: connecting"
	case app.LinkLive:
		return "live transcript: live"
	case app.LinkCatchingUp:
		return "live transcript: catching up"
	case app.LinkOffline:
		// Not the error itself: a failed WebSocket dial may quote its URL,
		// which carries the single-use token.
		return "live transcript: " + app.OfflineNotice
	case app.LinkEnded:
		return "live transcript: ended"
	case app.LinkNone:
		return "live transcript: off — nobody is signed in; the visit is transcribed after it ends, once you sign in (scribe login)"
	}
	return "live transcript: " + clean(string(link))
}

func printEvent(w io.Writer, ev app.RecordingEvent) {
	if ev.Warning {
		fmt.Fprintf(w, "scribe: warning: %s\n", ev.Message)
		return
	}
	fmt.Fprintf(w, "scribe: %s\n", ev.Message)
}

// status prints the recording's progress: at a terminal one line redrawn
// in place, elsewhere (a log, a pipe) a line per update.
type status struct {
	w     io.Writer
	tty   bool
	have  bool    // a level has arrived since the last line
	rms   float64 // the latest RMS
	peak  float64 // the highest peak since the last line
	shown bool    // a terminal line is on screen
}

func (s *status) level(l dsp.Level) {
	if !s.have || l.Peak > s.peak {
		s.peak = l.Peak
	}
	s.rms, s.have = l.RMS, true
}

func (s *status) show(elapsed time.Duration) {
	lvl := "level —"
	if s.have {
		lvl = fmt.Sprintf("RMS %6.1f dBFS  peak %6.1f dBFS", s.rms, s.peak)
	}
	s.have = false
	if !s.tty {
		fmt.Fprintf(s.w, "Recording %s  %s\n", clock(elapsed, true), lvl)
		return
	}
	fmt.Fprintf(s.w, "\r\033[KRecording %s  %s  %s", clock(elapsed, false), meter(s.rms), lvl)
	s.shown = true
}

// clear removes the terminal line so that another line can be printed.
func (s *status) clear() {
	if s.tty && s.shown {
		fmt.Fprint(s.w, "\r\033[K")
		s.shown = false
	}
}

// meter draws RMS from -60 to 0 dBFS as a bar.
func meter(rms float64) string {
	const width = 20
	n := int(math.Round((rms + 60) / 60 * width))
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(" ", width-n) + "]"
}

// clock formats a duration as H:MM:SS.s, or with milliseconds for lines
// that scripts read. It truncates, so it never claims more than there is.
func clock(d time.Duration, millis bool) string {
	if d < 0 {
		d = 0
	}
	h := d / time.Hour
	m := d % time.Hour / time.Minute
	sec := d % time.Minute
	if millis {
		return fmt.Sprintf("%d:%02d:%02d.%03d", h, m, sec/time.Second, sec%time.Second/time.Millisecond)
	}
	return fmt.Sprintf("%d:%02d:%02d.%d", h, m, sec/time.Second, sec%time.Second/(100*time.Millisecond))
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

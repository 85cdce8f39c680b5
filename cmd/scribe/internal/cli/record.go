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

const recordUsage = `Usage: scribe record [--device NAME] [--duration D] [--patient ID] [flags]

Records a visit from the microphone until Ctrl-C (or SIGTERM), or for --duration. The audio is
saved to disk as it is recorded, so a crash or power cut loses at most about a second of it; the
next scribe command repairs an interrupted recording. Needs no sign-in and no network.

Prints the encounter's id first. Then, at a terminal, one status line with the time recorded and
the level (RMS and peak, in dBFS), four times a second; otherwise a status line every second.
Warnings (no audio, too loud, microphone lost, disk nearly full) are printed on stderr as they
happen. At the end it prints the id and the time recorded again.

  --device NAME   the microphone: its name or a unique part of it (see scribe devices;
                  default: the system default)
  --duration D    end by itself after D, e.g. 90s or 15m (default: until Ctrl-C)
  --patient ID    the patient the visit is with (see scribe patients)
` + globalUsage

func runRecord(ctx context.Context, e *env, args []string) error {
	fs := e.flags("record", recordUsage)
	device := fs.String("device", "", "")
	duration := fs.Duration("duration", 0, "")
	patient := fs.Int64("patient", 0, "")
	if err := parseFlags(fs, recordUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, recordUsage); err != nil {
		return err
	}
	if *duration < 0 {
		return usageErr(recordUsage, "--duration must be positive, e.g. 90s or 15m, not %s", *duration)
	}
	if *patient < 0 {
		return usageErr(recordUsage, "--patient must be a patient id (see scribe patients), not %d", *patient)
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	rec, err := p.core.StartRecording(ctx, app.RecordOptions{Device: *device, PatientID: *patient})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Encounter %s\n", rec.ID())
	until := "press Ctrl-C to end"
	if *duration > 0 {
		until = fmt.Sprintf("ending after %s or at Ctrl-C", *duration)
	}
	fmt.Fprintf(e.stdout, "Recording from %q — %s.\n", rec.Device(), until)

	st := &status{w: e.stdout, tty: isTerminalWriter(e.stdout), rms: dsp.FloorDB}
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
	levels, events := rec.Levels(), rec.Events()
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
		case <-tick.C:
			st.show(rec.Elapsed())
		}
	}
	// Ending touches only local files; it must finish after Ctrl-C too.
	enc, err := rec.End(context.WithoutCancel(ctx))
	st.clear()
	for ev := range rec.Events() { // what came while ending
		printEvent(e.stderr, ev)
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "Encounter %s: %s recorded.\n", enc.ID, clock(enc.Duration, true))
		return err
	}
	fmt.Fprintf(e.stdout, "Ended encounter %s: %s recorded.\n", enc.ID, clock(enc.Duration, true))
	return nil
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

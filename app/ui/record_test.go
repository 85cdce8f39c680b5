package ui

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/internal/wavtest"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"github.com/go-audio/wav"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/audio/journal"
)

// waitForState waits for the Record screen to reach s, failing at once
// with the screen's own message if it reports a problem instead.
func waitForState(h *harness, r *recordScreen, what string, s recState) {
	h.t.Helper()
	h.waitFor(what, func() bool { return r.state == s || r.problem.Visible() })
	if r.state != s {
		h.t.Fatalf("waiting for %s: the screen says %q", what, r.problem.Text)
	}
}

// waitForMicrophones waits until the Record screen has listed the
// microphones, ticks the consent box as the clinician would, and waits
// until it offers Record.
func waitForMicrophones(h *harness, r *recordScreen) {
	h.t.Helper()
	h.waitFor("the microphone list", func() bool { return r.devLoaded && len(r.devices) > 0 })
	giveConsent(r)
	h.waitFor("Record to be offered", func() bool { return !r.record.Disabled() })
}

// giveConsent ticks "The patient agreed to be recorded".
func giveConsent(r *recordScreen) {
	if !r.consent.Checked {
		test.Tap(r.consent)
	}
}

func TestRecordPauseResumeEnd(t *testing.T) {
	virtualMic(t)
	h, files := newRecordHarness(t, recordSetup{})
	r := h.main().record
	waitForMicrophones(h, r)

	// The system default is chosen and marked.
	devs, err := h.core.Devices(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	def, err := capture.Choose(devs, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := def.Name + " (default)"; r.device.Selected != want || r.chosenDevice() != def.Name {
		t.Errorf("microphone picker shows %q (%q), want %q", r.device.Selected, r.chosenDevice(), want)
	}
	if r.noMic.box.Visible() || r.pause.Visible() || r.resume.Visible() || r.end.Visible() || r.elapsed.Text != "00:00" {
		t.Error("before recording only Record should be offered, at 00:00")
	}

	test.Tap(r.record)
	waitForState(h, r, "recording", recRecording)
	id := r.rec.ID()
	started := time.Now()
	if r.stateLabel.Text != "Recording · encounter "+id {
		t.Errorf("state label %q", r.stateLabel.Text)
	}
	if r.record.Visible() || !r.pause.Visible() || r.resume.Visible() || !r.end.Visible() {
		t.Error("while recording, Pause and End should be offered, not Record or Resume")
	}
	if !r.device.Disabled() || !r.patient.entry.Disabled() || !r.importBtn.Disabled() {
		t.Error("microphone, patient and import should be locked while recording")
	}
	// The tone reaches the meter, and the clock moves.
	h.waitFor("the meter to show the tone", func() bool { return r.meter.rms > -40 && r.meter.peak >= r.meter.rms })
	h.waitFor("the clock to move", func() bool { return r.elapsed.Text != "00:00" })
	if !strings.HasPrefix(r.elapsed.Text, "00:0") {
		t.Errorf("elapsed %q after about a second", r.elapsed.Text)
	}

	test.Tap(r.pause)
	waitForState(h, r, "paused", recPaused)
	if r.stateLabel.Text != "Paused · encounter "+id || !r.resume.Visible() || r.pause.Visible() {
		t.Errorf("paused: label %q, resume shown %v, pause shown %v", r.stateLabel.Text, r.resume.Visible(), r.pause.Visible())
	}
	if r.meter.rms != meterFloor {
		t.Errorf("meter shows %.1f dBFS while paused", r.meter.rms)
	}
	paused, pausedAt := r.rec.Elapsed(), time.Now()
	// A second of real time in the pause: the clock's ticks keep coming
	// (every elapsedTick), and neither the recording's time nor the label
	// may move.
	h.waitFor("a second of pause", func() bool { return time.Since(pausedAt) > time.Second })
	if got := r.rec.Elapsed(); got != paused {
		t.Errorf("elapsed went from %v to %v while paused", paused, got)
	}
	if r.elapsed.Text != clock(paused) {
		t.Errorf("label %q while paused at %v", r.elapsed.Text, paused)
	}
	pause := time.Since(pausedAt)

	test.Tap(r.resume)
	waitForState(h, r, "recording again", recRecording)
	h.waitFor("more audio", func() bool { return r.rec.Elapsed() > paused+500*time.Millisecond })

	test.Tap(r.end)
	waitForState(h, r, "the summary", recEnded)
	wall := time.Since(started)
	e := encounter(t, h, id)
	// Ended, and from then on on its way to a note (transcribing, …).
	if e.State == app.StateRecording || e.State == app.StatePaused || e.Source != app.SourceMic {
		t.Errorf("encounter %+v, want its capture ended, from the microphone", e)
	}
	// Pauses are not recorded: the audio is shorter than the time the
	// recording was open by at least the pause.
	if e.Duration <= paused+500*time.Millisecond || e.Duration > wall-pause+100*time.Millisecond {
		t.Errorf("duration %v; open %v of which %v paused; %v before the pause", e.Duration, wall, pause, paused)
	}
	if !r.summary.Visible() || r.stateLabel.Text != "Ended · encounter "+id {
		t.Errorf("after End: summary shown %v, label %q", r.summary.Visible(), r.stateLabel.Text)
	}
	want := "Recording saved on this computer. Duration " + clock(e.Duration) + " · encounter " + id + "."
	if r.summaryText.Text != want || r.elapsed.Text != clock(e.Duration) {
		t.Errorf("summary %q, clock %q; want %q", r.summaryText.Text, r.elapsed.Text, want)
	}
	if r.rec != nil || r.end.Visible() {
		t.Error("after End nothing should be open")
	}
	// The next visit needs the patient's consent again.
	if r.consent.Checked || !r.record.Disabled() {
		t.Errorf("after End: consent still ticked %v, Record on %v", r.consent.Checked, !r.record.Disabled())
	}
	giveConsent(r)
	if r.record.Disabled() {
		t.Error("with consent given again, the next recording can start")
	}

	// Export… writes the visit as one WAV where the clinician chose.
	files.save1 = filepath.Join(t.TempDir(), "visit.wav")
	test.Tap(r.export)
	h.waitFor("the export", func() bool { return r.exportMsg.Visible() })
	if r.exportMsg.Text != "Exported to "+files.save1+"." {
		t.Fatalf("export says %q", r.exportMsg.Text)
	}
	if len(files.saves) != 1 || !strings.HasSuffix(files.saves[0], ".wav") {
		t.Errorf("suggested names %q", files.saves)
	}
	got := readWAV(t, files.save1)
	if d := got.duration() - e.Duration; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("exported %v of audio, the encounter has %v", got.duration(), e.Duration)
	}
	// The middle of it is the tone, not silence.
	mid := got.samples[len(got.samples)/4 : len(got.samples)*3/4]
	if db := rmsDB(mid); db < -40 {
		t.Errorf("the exported audio is at %.1f dBFS; the tone did not arrive", db)
	}

	test.Tap(r.again)
	if r.state != recIdle || r.summary.Visible() || r.elapsed.Text != "00:00" || r.record.Disabled() || r.device.Disabled() {
		t.Error("New recording should return to a fresh Record screen")
	}
}

func TestRecordShortcutsWorkWhileTyping(t *testing.T) {
	virtualMic(t)
	h, _ := newRecordHarness(t, recordSetup{})
	m := h.main()
	r := m.record
	waitForMicrophones(h, r)

	for _, sc := range []*desktop.CustomShortcut{recordKey, pauseKey, endKey} {
		if sc.Modifier != fyne.KeyModifierShortcutDefault {
			t.Errorf("%s should use Ctrl (Cmd on macOS)", sc.ShortcutName())
		}
	}
	// Typing a search on another screen: the focus is in an entry.
	m.showScreen(navPatients)
	m.win.Canvas().Focus(m.patients.search)
	test.Type(m.patients.search, "smi")

	pressShortcut(t, m.win, recordKey)
	if m.current != navRecord {
		t.Errorf("Ctrl+R should bring up the Record screen; showing %d", m.current)
	}
	waitForState(h, r, "recording", recRecording)
	first := r.rec.ID()
	pressShortcut(t, m.win, pauseKey)
	waitForState(h, r, "paused", recPaused)
	pressShortcut(t, m.win, pauseKey)
	waitForState(h, r, "resumed", recRecording)
	pressShortcut(t, m.win, endKey)
	waitForState(h, r, "ended", recEnded)

	// With nothing open, Pause and End do nothing.
	pressShortcut(t, m.win, pauseKey)
	pressShortcut(t, m.win, endKey)
	h.q.drain()
	if r.state != recEnded {
		t.Errorf("Ctrl+P / Ctrl+E with nothing open changed the state to %d", r.state)
	}
	// After an end, Ctrl+R starts the next visit, once the patient agreed:
	// without consent it only says so.
	pressShortcut(t, m.win, recordKey)
	h.q.drain()
	if r.state != recEnded || !strings.Contains(r.problem.Text, consentText) || !r.problem.Visible() {
		t.Errorf("Ctrl+R without consent: state %d, message %q", r.state, r.problem.Text)
	}
	giveConsent(r)
	if r.problem.Visible() {
		t.Errorf("ticking consent should take the message away; it says %q", r.problem.Text)
	}
	pressShortcut(t, m.win, recordKey)
	waitForState(h, r, "the second recording", recRecording)
	if r.rec.ID() == first {
		t.Error("the second recording reused the first encounter")
	}
	pressShortcut(t, m.win, endKey)
	waitForState(h, r, "ended", recEnded)
	for _, id := range []string{first, r.last.ID} {
		if e := encounter(t, h, id); e.State == app.StateRecording || e.State == app.StatePaused {
			t.Errorf("encounter %s is still %s", id, e.State)
		}
	}
	if m.patients.search.Text != "smi" {
		t.Errorf("the search box changed to %q", m.patients.search.Text)
	}
}

func TestRecordWithoutMicrophone(t *testing.T) {
	h, _ := newRecordHarness(t, recordSetup{audio: &switchBackend{}})
	m := h.main()
	r := m.record
	h.waitFor("the no-microphone message", func() bool { return r.noMic.box.Visible() })
	if msg := r.noMic.message.Text; !strings.HasPrefix(msg, "No microphone found.") || !strings.Contains(msg, "Retry") {
		t.Errorf("message %q", msg)
	}
	if !r.record.Disabled() || !r.device.Disabled() {
		t.Error("with no microphone, Record and the picker should be off")
	}
	// Neither the button nor the shortcut starts anything.
	test.Tap(r.record)
	pressShortcut(t, m.win, recordKey)
	h.q.drain()
	if r.state != recIdle || r.rec != nil {
		t.Errorf("state %d after Record without a microphone", r.state)
	}
	if list, err := h.core.Encounters(h.ctx()); err != nil || len(list) != 0 {
		t.Errorf("encounters %v, %v; want none", list, err)
	}
	// Nor does the core, asked directly: the screen is not the only guard.
	if _, err := h.core.StartRecording(h.ctx(), app.RecordOptions{}); !errors.Is(err, capture.ErrNoDevice) {
		t.Errorf("StartRecording without a microphone: %v", err)
	}
	// Retry asks again (still none).
	test.Tap(r.noMic.retry)
	h.waitFor("the answer to Retry", func() bool { return r.devReq.cancel == nil })
	if !r.noMic.box.Visible() {
		t.Error("the no-microphone message went away with still no microphone")
	}
}

func TestRecordRetryFindsMicrophone(t *testing.T) {
	virtualMic(t)
	mic := &switchBackend{}
	h, _ := newRecordHarness(t, recordSetup{audio: mic})
	r := h.main().record
	h.waitFor("the no-microphone message", func() bool { return r.noMic.box.Visible() })

	mic.plugIn(capture.NewPortAudio(nil))
	test.Tap(r.noMic.retry)
	waitForMicrophones(h, r)
	if r.noMic.box.Visible() || r.device.Disabled() || !strings.HasSuffix(r.device.Selected, " (default)") {
		t.Errorf("after Retry: message shown %v, picker off %v, chosen %q", r.noMic.box.Visible(), r.device.Disabled(), r.device.Selected)
	}
	test.Tap(r.record)
	waitForState(h, r, "recording", recRecording)
	test.Tap(r.end)
	waitForState(h, r, "ended", recEnded)
}

func TestImportAudioFile(t *testing.T) {
	h, files := newRecordHarness(t, recordSetup{audio: &switchBackend{}})
	r := h.main().record
	h.waitFor("the microphone check", func() bool { return r.devLoaded })

	// A file that is not audio: a clear error, nothing imported.
	bad := filepath.Join(t.TempDir(), "notes.wav")
	if err := os.WriteFile(bad, []byte("these are not the samples you are looking for"), 0o600); err != nil {
		t.Fatal(err)
	}
	files.open1 = bad
	test.Tap(r.importBtn)
	h.waitFor("the import error", func() bool { return r.importMsg.Visible() })
	if !strings.Contains(r.importMsg.Text, "notes.wav") || r.state != recIdle || r.importing.Visible() {
		t.Errorf("bad file: message %q, state %d", r.importMsg.Text, r.state)
	}
	if list, err := h.core.Encounters(h.ctx()); err != nil || len(list) != 0 {
		t.Errorf("encounters after a failed import: %v, %v", list, err)
	}

	// 1.5 s of 44.1 kHz stereo.
	good := filepath.Join(t.TempDir(), "dictation.wav")
	wavtest.Tone(t, good, 44100, 2, 1500*time.Millisecond)
	files.open1 = good
	test.Tap(r.importBtn)
	h.waitFor("the import", func() bool { return r.state == recEnded || r.importMsg.Visible() })
	if r.state != recEnded {
		t.Fatalf("import failed: %s", r.importMsg.Text)
	}
	list, err := h.core.Encounters(h.ctx())
	if err != nil || len(list) != 1 {
		t.Fatalf("encounters %v, %v", list, err)
	}
	e := list[0]
	if e.Source != app.SourceImport || e.Duration < 1450*time.Millisecond || e.Duration > 1550*time.Millisecond {
		t.Errorf("imported %+v", e)
	}
	want := "Imported dictation.wav; saved on this computer. Duration " + clock(e.Duration) + " · encounter " + e.ID + "."
	if r.summaryText.Text != want || r.importMsg.Visible() {
		t.Errorf("summary %q, want %q", r.summaryText.Text, want)
	}
}

// encounter is the core's record of id.
func encounter(t *testing.T, h *harness, id string) app.Encounter {
	t.Helper()
	list, err := h.core.Encounters(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no encounter %s among %d", id, len(list))
	return app.Encounter{}
}

type wavFile struct {
	rate, channels int
	samples        []int
}

func (w wavFile) duration() time.Duration {
	return time.Duration(len(w.samples)/w.channels) * time.Second / time.Duration(w.rate)
}

// readWAV reads an exported file, checking it is private and 16 kHz mono.
func readWAV(t *testing.T, path string) wavFile {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %o; patient audio must be 0600", path, perm)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := wav.NewDecoder(f)
	buf, err := d.FullPCMBuffer()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	w := wavFile{rate: int(d.SampleRate), channels: int(d.NumChans), samples: buf.Data}
	if w.rate != journal.SampleRate || w.channels != 1 || d.BitDepth != 16 {
		t.Fatalf("%s is %d Hz, %d channels, %d bits; want 16 kHz mono 16-bit", path, w.rate, w.channels, d.BitDepth)
	}
	return w
}

// rmsDB is the loudness of 16-bit samples in dBFS.
func rmsDB(s []int) float64 {
	var sum float64
	for _, v := range s {
		f := float64(v) / 32768
		sum += f * f
	}
	if len(s) == 0 || sum == 0 {
		return -120
	}
	return 10 * math.Log10(sum/float64(len(s)))
}

// Warnings come from the real capture path: silence at the start, then a
// tone that clips and then calms down.
func TestRecordWarningsShowAndClear(t *testing.T) {
	mic := silentMic(t)
	h, _ := newRecordHarness(t, recordSetup{})
	r := h.main().record
	waitForMicrophones(h, r)
	test.Tap(r.record)
	waitForState(h, r, "recording", recRecording)

	// Ten seconds of silence: "no audio detected", in place.
	h.waitFor("the no-audio warning", func() bool { return r.warnings.has(app.EventNoAudio) })
	if l := r.warnings.rows[string(app.EventNoAudio)]; !r.warnings.box.Visible() || !strings.HasPrefix(l.Text, "No audio detected") {
		t.Errorf("no-audio warning %q (shown %v)", l.Text, r.warnings.box.Visible())
	}

	// Sound comes, far too loud for a second, then comfortable.
	mic.play(t, []string{"synth", "1", "square", "440", "vol", "1"}, []string{"synth", "60", "sine", "440", "vol", "0.3"})
	red := false
	h.waitFor("the clipping warning and a red meter", func() bool {
		red = red || r.meter.clipping
		return red && r.warnings.has(app.EventClipping)
	})
	if r.warnings.has(app.EventNoAudio) {
		t.Error("the no-audio warning stayed after sound came")
	}
	// Five seconds without clipping take the warning away.
	h.waitFor("the clipping warning to clear", func() bool { return !r.warnings.has(app.EventClipping) })

	test.Tap(r.end)
	waitForState(h, r, "ended", recEnded)
	test.Tap(r.again)
	if r.warnings.box.Visible() || len(r.warnings.order) != 0 {
		t.Error("a new recording should start without the last one's warnings")
	}
}

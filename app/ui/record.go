package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/api"
)

// recState is where the Record screen is in a visit.
type recState int

const (
	recIdle      recState = iota // ready to record (or waiting for a microphone)
	recStarting                  // StartRecording in flight
	recRecording                 // capturing
	recPaused                    // capturing stopped, encounter open
	recEnding                    // End in flight
	recEnded                     // the summary of the last recording or import is shown
	recImporting                 // ImportRecording in flight
)

// Keyboard shortcuts of the Recording menu. They are menu shortcuts, not
// canvas ones: the window offers a menu shortcut before the focused widget
// sees the key, so they work while typing in the patient box, which a
// canvas shortcut would not (a focused entry swallows it).
var (
	recordKey = &desktop.CustomShortcut{KeyName: fyne.KeyR, Modifier: fyne.KeyModifierShortcutDefault}
	pauseKey  = &desktop.CustomShortcut{KeyName: fyne.KeyP, Modifier: fyne.KeyModifierShortcutDefault}
	endKey    = &desktop.CustomShortcut{KeyName: fyne.KeyE, Modifier: fyne.KeyModifierShortcutDefault}
)

// recentTemplatesKey is the Preferences key holding the ids of the templates
// used most recently, newest first; the template picker offers them first.
// The app keeps no such list, and it is a matter of this computer's habits.
const recentTemplatesKey = "recent-templates"

// recentTemplates is how many recently used templates are remembered.
const recentTemplates = 5

// consentText is the consent checkbox: Record stays off until it is ticked,
// and it is unticked again for each new visit.
const consentText = "The patient agreed to be recorded"

// clipClear is how long (in journal samples) the input must stay below
// clipping before the clipping warning goes: capture reports clipping but
// not its end.
const clipClear = 5 * journal.SampleRate

// elapsedTick refreshes the elapsed time while no levels arrive (a stalled
// device); levels, every 50 ms, refresh it otherwise.
const elapsedTick = 250 * time.Millisecond

// recordScreen is where a visit is recorded: microphone, patient and
// template, Record / Pause / Resume / End, the level meter and elapsed time,
// warnings while recording, and a summary with Export… once it has ended.
// Audio goes to the journal on this computer before anything else touches
// it, so the screen can promise "saved" as soon as End returns.
type recordScreen struct {
	m     *mainWindow
	files fileDialogs

	// Microphone.
	device    *widget.Select
	devices   []capture.Device
	noMic     *errorPanel
	devLoaded bool
	devReq    inflight

	// Patient and template.
	patient      *patientPicker
	chosen       *widget.Label
	template     *widget.Select
	templateInfo *widget.Label
	loading      *widget.ProgressBarInfinite
	failure      *errorPanel
	templates    []api.Template // in the order offered: recently used first
	loaded       bool
	req          inflight

	// What the note should take into account, and consent.
	context *widget.Entry
	consent *widget.Check
	// consentLabel and consent are hidden when Settings turned the
	// question off (askConsent false, read each time the screen shows).
	consentLabel *widget.Label
	askConsent   bool

	// Recording.
	record, pause, resume, end *widget.Button
	stateLabel                 *widget.Label
	elapsed                    *widget.Label
	meter                      *levelMeter
	problem                    *widget.Label
	warnings                   *warningList
	transcript                 *liveTranscript

	// After End (or an import): what was saved, and what to do with it.
	summary     *fyne.Container
	summaryText *widget.Label
	export      *widget.Button
	again       *widget.Button
	exportMsg   *widget.Label

	// Import.
	importBtn *widget.Button
	importing *widget.ProgressBarInfinite
	importMsg *widget.Label
	importReq inflight

	box fyne.CanvasObject

	state recState
	busy  bool           // Pause, Resume or End in flight
	rec   *app.Recording // the open recording; nil when none
	life  inflight       // ends the listener of rec's levels and events
	clip  int64          // journal offset of the latest clipping seen
	last  app.Encounter  // what the summary shows
}

func newRecordScreen(m *mainWindow) *recordScreen {
	r := &recordScreen{m: m, files: fyneFiles{win: m.win}, askConsent: true}

	r.device = widget.NewSelect(nil, nil)
	r.device.PlaceHolder = "Looking for microphones…"
	r.device.Disable()
	r.noMic = newErrorPanel(r.loadDevices)

	r.patient = newPatientPicker(m, "", "Type a patient's name", r.onPatient)
	r.chosen = widget.NewLabel("No patient chosen yet.")
	r.template = widget.NewSelect(nil, r.onTemplate)
	r.template.PlaceHolder = "Choose a template"
	r.template.Disable()
	r.templateInfo = widget.NewLabel("")
	r.templateInfo.Wrapping = fyne.TextWrapWord
	r.templateInfo.Hide() // an empty wrapping label still takes a line
	r.loading = widget.NewProgressBarInfinite()
	r.loading.Stop()
	r.loading.Hide()
	r.failure = newErrorPanel(r.load)
	r.context = widget.NewMultiLineEntry()
	r.context.SetPlaceHolder("Optional: anything the note should take into account")
	r.context.Wrapping = fyne.TextWrapWord
	r.context.SetMinRowsVisible(3)
	r.consent = widget.NewCheck(consentText, func(bool) { r.onConsent() })
	r.consentLabel = widget.NewLabel("Consent")

	r.record = widget.NewButtonWithIcon("Record", theme.MediaRecordIcon(), r.onRecord)
	r.record.Importance = widget.HighImportance
	r.pause = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), r.onPause)
	r.resume = widget.NewButtonWithIcon("Resume", theme.MediaPlayIcon(), r.onResume)
	r.resume.Importance = widget.HighImportance
	r.end = widget.NewButtonWithIcon("End", theme.MediaStopIcon(), r.onEnd)
	r.stateLabel = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.elapsed = widget.NewLabelWithStyle(clock(0), fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true})
	r.meter = newLevelMeter()
	r.problem = errorLabel()
	r.warnings = newWarningList()
	r.transcript = newLiveTranscript()

	r.summaryText = widget.NewLabel("")
	r.summaryText.Wrapping = fyne.TextWrapWord
	r.export = widget.NewButtonWithIcon("Export…", theme.DocumentSaveIcon(), r.onExport)
	r.again = widget.NewButtonWithIcon("New recording", theme.ContentAddIcon(), r.onNewRecording)
	r.exportMsg = widget.NewLabel("")
	r.exportMsg.Wrapping = fyne.TextWrapWord
	r.exportMsg.Hide()
	r.summary = container.NewVBox(
		container.NewBorder(nil, nil, widget.NewIcon(theme.ConfirmIcon()), nil, r.summaryText),
		container.NewHBox(r.export, r.again), r.exportMsg)
	r.summary.Hide()

	r.importBtn = widget.NewButtonWithIcon("Import audio file…", theme.FolderOpenIcon(), r.onImport)
	r.importing = widget.NewProgressBarInfinite()
	r.importing.Stop()
	r.importing.Hide()
	r.importMsg = errorLabel()

	form := container.New(layout.NewFormLayout(),
		widget.NewLabel("Microphone"), container.NewVBox(r.device, r.noMic.box),
		widget.NewLabel("Patient"), container.NewVBox(r.patient.entry, r.chosen),
		widget.NewLabel("Template"), container.NewVBox(r.template, r.templateInfo),
		widget.NewLabel("Context"), r.context,
		r.consentLabel, r.consent,
	)
	controls := container.NewHBox(r.record, r.pause, r.resume, r.end, r.stateLabel, layout.NewSpacer(), r.elapsed)
	keys := widget.NewLabel(fmt.Sprintf("%s record · %s pause or resume · %s end",
		keyName(recordKey), keyName(pauseKey), keyName(endKey)))
	keys.Importance = widget.LowImportance
	keys.SizeName = theme.SizeNameCaptionText
	left := container.NewVScroll(container.NewVBox(
		heading("Record a visit"), form, r.loading, r.failure.box, widget.NewSeparator(),
		controls, r.meter, keys, r.problem, r.warnings.box, r.summary,
		widget.NewSeparator(),
		container.NewHBox(r.importBtn), r.importing, r.importMsg,
	))
	// The transcript takes the full height beside the controls: it is what
	// the clinician glances at while talking.
	split := container.NewHSplit(left, container.NewPadded(r.transcript.box))
	split.Offset = 0.55
	r.box = split
	r.setState(recIdle)
	return r
}

func (r *recordScreen) view() fyne.CanvasObject { return r.box }

func (r *recordScreen) shown() {
	r.askConsent = r.m.shell.core.ConsentRequired()
	visible(r.consentLabel, r.askConsent)
	visible(r.consent, r.askConsent)
	if !r.askConsent {
		r.consent.SetChecked(false) // nobody was asked
	}
	r.syncControls()
	r.patient.load()
	if !r.loaded && r.req.cancel == nil {
		r.load()
	}
	if !r.devLoaded && r.devReq.cancel == nil {
		r.loadDevices()
	}
}

// hidden stops loading what only this screen shows. A recording goes on:
// the clinician may look up a note mid-visit.
func (r *recordScreen) hidden() {
	r.patient.stop()
	if r.req.cancel != nil {
		r.req.stop()
		r.setLoading(false)
	}
	r.devReq.stop()
}

// menuItems are the Recording menu, which carries the shortcuts.
func (r *recordScreen) menuItems() []*fyne.MenuItem {
	rec := fyne.NewMenuItem("Record", r.onRecordKey)
	rec.Icon, rec.Shortcut = theme.MediaRecordIcon(), recordKey
	pause := fyne.NewMenuItem("Pause / Resume", r.onPauseKey)
	pause.Icon, pause.Shortcut = theme.MediaPauseIcon(), pauseKey
	end := fyne.NewMenuItem("End", r.onEndKey)
	end.Icon, end.Shortcut = theme.MediaStopIcon(), endKey
	return []*fyne.MenuItem{rec, pause, end}
}

// onRecordKey brings the Record screen up and starts, so the clinician
// sees what they started. The window runs menu shortcuts whatever the
// state, so each key checks it.
func (r *recordScreen) onRecordKey() {
	r.m.showScreen(navRecord)
	r.onRecord()
}

func (r *recordScreen) onPauseKey() {
	switch r.state {
	case recRecording:
		r.onPause()
	case recPaused:
		r.onResume()
	}
}

func (r *recordScreen) onEndKey() {
	if r.state == recRecording || r.state == recPaused {
		r.m.showScreen(navRecord)
		r.onEnd()
	}
}

// --- microphone -------------------------------------------------------------

func (r *recordScreen) loadDevices() {
	ctx := r.devReq.start(r.m.ctx)
	r.noMic.hide()
	core := r.m.shell.core
	run(r.m.shell.b, ctx, core.Devices, r.onDevices)
}

func (r *recordScreen) onDevices(devs []capture.Device, err error) {
	r.devReq.stop()
	r.devLoaded = true
	if err == nil && len(devs) == 0 {
		err = capture.ErrNoDevice
	}
	if err != nil {
		r.devices = nil
		r.device.SetOptions(nil)
		r.device.PlaceHolder = "No microphone"
		r.device.ClearSelected()
		r.noMic.show(noMicMessage(err))
		r.syncControls()
		return
	}
	prev := r.device.Selected
	r.devices = devs
	labels := make([]string, len(devs))
	choice := ""
	for i, d := range devs {
		labels[i] = deviceLabel(d)
		if d.Default && choice == "" {
			choice = labels[i]
		}
	}
	if choice == "" {
		choice = labels[0]
	}
	for _, l := range labels {
		if l == prev { // a Retry keeps what the clinician chose
			choice = prev
		}
	}
	r.device.PlaceHolder = "Choose a microphone"
	r.device.SetOptions(labels)
	r.device.SetSelected(choice)
	r.syncControls()
}

// noMicMessage says what to do when no microphone can be used.
func noMicMessage(err error) string {
	if errors.Is(err, capture.ErrNoDevice) {
		return "No microphone found. Connect one (or allow Scribe to use it in the system's privacy " +
			"settings), then press Retry."
	}
	return app.Explain(err)
}

func deviceLabel(d capture.Device) string {
	if d.Default {
		return d.Name + " (default)"
	}
	return d.Name
}

// chosenDevice is the name of the microphone in the picker ("" = default).
func (r *recordScreen) chosenDevice() string {
	i := r.device.SelectedIndex()
	if i < 0 || i >= len(r.devices) {
		return ""
	}
	return r.devices[i].Name
}

// --- patient and template ---------------------------------------------------

func (r *recordScreen) onPatient(p api.Patient, ok bool) {
	if !ok {
		r.chosen.SetText("No patient chosen yet.")
		return
	}
	r.chosen.SetText("Visit with " + app.PatientName(p) + ", born " + dateOfBirth(p) + ".")
}

func (r *recordScreen) load() {
	ctx := r.req.start(r.m.ctx)
	r.setLoading(true)
	core := r.m.shell.core
	run(r.m.shell.b, ctx, func(ctx context.Context) ([]api.Template, error) {
		return core.Templates(ctx)
	}, r.onLoaded)
}

func (r *recordScreen) onLoaded(ts []api.Template, err error) {
	r.req.stop()
	r.setLoading(false)
	if err != nil {
		r.failure.show(r.m.explain(err))
		return
	}
	r.loaded = true
	r.templates = recentFirst(ts, r.recentTemplates())
	ts = r.templates
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	r.template.SetOptions(names)
	r.syncControls() // the picker is on only when there are templates and nothing is recording
	if len(ts) == 0 {
		r.setTemplateInfo("This account has no templates yet.")
		return
	}
	// The template used last is the likeliest this time too.
	if recent := r.recentTemplates(); r.template.SelectedIndex() < 0 && len(recent) > 0 && ts[0].Id == recent[0] {
		r.template.SetSelectedIndex(0)
	}
}

// recentTemplates are the ids of the templates used most recently on this
// computer, newest first.
func (r *recordScreen) recentTemplates() []int64 {
	var ids []int64
	for _, s := range r.m.shell.fa.Preferences().StringList(recentTemplatesKey) {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

// usedTemplate puts id at the front of the recently used templates.
func (r *recordScreen) usedTemplate(id int64) {
	if id <= 0 {
		return
	}
	list := []string{strconv.FormatInt(id, 10)}
	for _, old := range r.recentTemplates() {
		if old != id && len(list) < recentTemplates {
			list = append(list, strconv.FormatInt(old, 10))
		}
	}
	r.m.shell.fa.Preferences().SetStringList(recentTemplatesKey, list)
}

// recentFirst orders ts with the recently used ones first (most recent
// first), then the rest in the server's order.
func recentFirst(ts []api.Template, recent []int64) []api.Template {
	out := make([]api.Template, 0, len(ts))
	for _, id := range recent {
		if i := slices.IndexFunc(ts, func(t api.Template) bool { return t.Id == id }); i >= 0 {
			out = append(out, ts[i])
		}
	}
	for _, t := range ts {
		if !slices.Contains(recent, t.Id) {
			out = append(out, t)
		}
	}
	return out
}

// chosenTemplate is the id of the template in the picker (0: the server's
// default).
func (r *recordScreen) chosenTemplate() int64 {
	i := r.template.SelectedIndex()
	if i < 0 || i >= len(r.templates) {
		return 0
	}
	return r.templates[i].Id
}

func (r *recordScreen) onConsent() {
	if r.consent.Checked && strings.HasPrefix(r.problem.Text, "Tick ") {
		r.setProblem("")
	}
	r.syncControls()
}

func (r *recordScreen) setLoading(on bool) {
	showLoading(on, r.loading, r.failure)
}

// onTemplate describes the chosen template, so the clinician knows what the
// draft will look like.
func (r *recordScreen) onTemplate(string) {
	i := r.template.SelectedIndex()
	if i < 0 || i >= len(r.templates) {
		r.setTemplateInfo("")
		return
	}
	t := r.templates[i]
	// The description usually names the sections already; they are only
	// listed when there is no description.
	info := deref(t.Description, "")
	if s := deref(t.Sections, nil); info == "" && len(s) > 0 {
		info = "Sections: " + strings.Join(s, ", ") + "."
	}
	r.setTemplateInfo(info)
}

func (r *recordScreen) setTemplateInfo(text string) {
	r.templateInfo.SetText(text)
	visible(r.templateInfo, text != "")
}

// --- recording --------------------------------------------------------------

// onRecord starts a recording; after one has ended it starts the next.
func (r *recordScreen) onRecord() {
	if (r.state != recIdle && r.state != recEnded) || r.busy || len(r.devices) == 0 {
		return
	}
	if r.askConsent && !r.consent.Checked {
		// Only the shortcut gets here: the button is off until it is ticked.
		r.setProblem("Tick “" + consentText + "” first: a visit is recorded only with the patient's consent.")
		return
	}
	r.onNewRecording()
	r.setProblem("")
	r.setState(recStarting)
	core := r.m.shell.core
	opts := app.RecordOptions{Device: r.chosenDevice(), PatientID: r.patient.chosen,
		TemplateID: r.chosenTemplate(), Context: strings.TrimSpace(r.context.Text), Consent: r.consent.Checked}
	// The recording outlives this request: it runs until End, whatever
	// happens to the window meanwhile (onStarted ends it if the window has
	// gone), so neither the start nor its answer may be cancelled.
	run(r.m.shell.b, context.WithoutCancel(r.m.ctx), func(ctx context.Context) (*app.Recording, error) {
		return core.StartRecording(ctx, opts)
	}, func(rec *app.Recording, err error) {
		r.onStarted(rec, err)
		if err == nil {
			r.usedTemplate(opts.TemplateID)
		}
	})
}

func (r *recordScreen) onStarted(rec *app.Recording, err error) {
	if err != nil {
		r.setState(recIdle)
		r.setProblem(app.Explain(err))
		if errors.Is(err, capture.ErrNoDevice) || errors.Is(err, capture.ErrDeviceNotFound) {
			r.loadDevices() // the list is out of date
		}
		return
	}
	if r.m.ctx.Err() != nil { // the window closed while it started
		r.endInBackground(rec)
		return
	}
	r.rec = rec
	r.clip = 0
	r.warnings.clear()
	r.meter.reset()
	r.transcript.reset()
	r.elapsed.SetText(clock(0))
	r.setState(recRecording)
	r.listen(r.life.start(r.m.ctx), rec)
}

// listen follows rec's levels, warnings and live transcript until ctx ends. Levels reach the
// meter through a levelFeed (at most one redraw per frame); each warning
// is handed to the UI goroutine as it comes.
func (r *recordScreen) listen(ctx context.Context, rec *app.Recording) {
	b := r.m.shell.b
	feed := newLevelFeed(b, func(l dsp.Level, fresh bool) {
		if r.rec == rec {
			r.onFrame(l, fresh)
		}
	})
	followLive(ctx, b, rec.Live(), func(u app.LiveUpdate) {
		if r.rec == rec {
			r.transcript.apply(u)
		}
	})
	levels, events := rec.Levels(), rec.Events()
	b.wg.Go(func() {
		tick := time.NewTicker(elapsedTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case l, ok := <-levels:
				if !ok {
					levels = nil
					continue
				}
				feed.push(l)
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				b.do(func() {
					if ctx.Err() == nil && r.rec == rec {
						r.onEvent(ev)
					}
				})
			case <-tick.C:
				feed.tick()
			}
		}
	})
}

// onFrame is one redraw of the meter and the clock.
func (r *recordScreen) onFrame(l dsp.Level, fresh bool) {
	if fresh && r.state == recRecording {
		r.meter.setLevel(l)
		if l.Clipping {
			r.clip = max(r.clip, l.At)
		} else if r.warnings.has(app.EventClipping) && l.At-r.clip > clipClear {
			r.warnings.remove(string(app.EventClipping))
		}
	}
	if t := clock(r.rec.Elapsed()); t != r.elapsed.Text {
		r.elapsed.SetText(t)
	}
}

func (r *recordScreen) onEvent(ev app.RecordingEvent) {
	if ev.Kind == app.EventClipping {
		r.clip = max(r.clip, int64(ev.At)*journal.SampleRate/int64(time.Second))
	}
	r.warnings.apply(ev)
}

func (r *recordScreen) onPause() {
	if r.state != recRecording || r.busy {
		return
	}
	r.step(r.rec.Pause, recPaused)
}

func (r *recordScreen) onResume() {
	if r.state != recPaused || r.busy {
		return
	}
	r.step(r.rec.Resume, recRecording)
}

// step runs Pause or Resume (each marks the journal, which may wait on the
// disk) off the UI goroutine and moves to next when it succeeds.
func (r *recordScreen) step(do func() error, next recState) {
	r.busy = true
	r.syncControls()
	rec := r.rec
	run(r.m.shell.b, r.m.ctx, func(context.Context) (struct{}, error) {
		return struct{}{}, do()
	}, func(_ struct{}, err error) {
		r.busy = false
		if r.rec != rec {
			return
		}
		if err != nil {
			r.setProblem(app.Explain(err))
			r.syncControls()
			return
		}
		r.setProblem("")
		if next == recPaused {
			r.meter.reset()
		}
		r.setState(next)
	})
}

func (r *recordScreen) onEnd() {
	if (r.state != recRecording && r.state != recPaused) || r.busy {
		return
	}
	r.busy = true
	prev := r.state
	r.setState(recEnding)
	rec := r.rec
	// Ending closes the journal; it must finish even if the window closes
	// meanwhile (the shell waits for it before the core closes).
	run(r.m.shell.b, context.WithoutCancel(r.m.ctx), rec.End, func(e app.Encounter, err error) {
		r.busy = false
		if err != nil {
			// The audio so far is on disk; the recording is still open, so
			// End can be tried again.
			r.setState(prev)
			r.setProblem("Could not finish the recording: " + app.Explain(err))
			return
		}
		r.life.stop()
		r.rec = nil
		r.meter.reset()
		r.elapsed.SetText(clock(e.Duration))
		r.showSummary(e, "Recording saved on this computer.")
		// The next visit needs its own consent and context.
		r.consent.SetChecked(false)
		r.context.SetText("")
		// What the clinician wants next is the note: it is drafted there
		// as soon as the transcript is complete.
		r.m.openVisit(e.ID)
	})
}

// closing ends an open recording when the window goes away (sign-out, the
// window closed), so its journal is closed cleanly rather than left for
// recovery at the next start.
func (r *recordScreen) closing() {
	r.importReq.stop()
	if r.rec == nil || r.state == recEnding {
		return // nothing open, or End already on its way
	}
	rec := r.rec
	r.rec = nil
	r.life.stop()
	r.endInBackground(rec)
}

func (r *recordScreen) endInBackground(rec *app.Recording) {
	log := r.m.shell.log
	ctx := context.WithoutCancel(r.m.ctx)
	r.m.shell.b.wg.Go(func() {
		if _, err := rec.End(ctx); err != nil {
			log.Error("end recording as the window closed", "encounter", rec.ID(), "error", err)
		}
	})
}

// --- summary, export, import ------------------------------------------------

func (r *recordScreen) showSummary(e app.Encounter, saved string) {
	r.last = e
	r.summaryText.SetText(fmt.Sprintf("%s Duration %s · encounter %s.", saved, clock(e.Duration), e.ID))
	r.exportMsg.Hide()
	r.summary.Show()
	r.setState(recEnded)
}

func (r *recordScreen) onNewRecording() {
	if r.state != recEnded {
		return
	}
	r.summary.Hide()
	r.warnings.clear()
	r.meter.reset()
	r.transcript.reset()
	r.elapsed.SetText(clock(0))
	r.setProblem("")
	r.setState(recIdle)
}

func (r *recordScreen) onExport() {
	e := r.last
	r.files.save(exportName(e), func(path string, err error) {
		if err != nil {
			r.showExport(err, "")
			return
		}
		exportEncounter(r.m, e.ID, path, r.showExport)
	})
}

func (r *recordScreen) showExport(err error, path string) {
	r.exportMsg.Show()
	if err != nil {
		r.exportMsg.Importance = widget.DangerImportance
		r.exportMsg.SetText("Export failed: " + app.Explain(err))
		return
	}
	r.exportMsg.Importance = widget.SuccessImportance
	r.exportMsg.SetText("Exported to " + path + ".")
}

func (r *recordScreen) onImport() {
	if r.state != recIdle && r.state != recEnded {
		return
	}
	r.files.open([]string{".wav", ".mp3"}, r.importFile)
}

// importFile brings an audio file in as an encounter, as if recorded.
func (r *recordScreen) importFile(path string, err error) {
	if err != nil {
		setError(r.importMsg, app.Explain(err))
		return
	}
	if r.state != recIdle && r.state != recEnded {
		return
	}
	r.onNewRecording()
	setError(r.importMsg, "")
	r.importing.Show()
	r.importing.Start()
	r.setState(recImporting)
	core := r.m.shell.core
	patient, template, consent := r.patient.chosen, r.chosenTemplate(), r.consent.Checked
	about := strings.TrimSpace(r.context.Text)
	ctx := r.importReq.start(r.m.ctx)
	run(r.m.shell.b, ctx, func(ctx context.Context) (app.Encounter, error) {
		return core.ImportRecording(ctx, path, app.ImportOptions{PatientID: patient, TemplateID: template,
			Context: about, Consent: consent})
	}, func(e app.Encounter, err error) {
		r.importReq.stop()
		r.importing.Stop()
		r.importing.Hide()
		if err != nil {
			r.setState(recIdle)
			setError(r.importMsg, app.Explain(err))
			return
		}
		r.elapsed.SetText(clock(e.Duration))
		r.showSummary(e, "Imported "+filepath.Base(path)+"; saved on this computer.")
	})
}

// --- state ------------------------------------------------------------------

func (r *recordScreen) setProblem(msg string) { setError(r.problem, msg) }

func (r *recordScreen) setState(s recState) {
	r.state = s
	switch s {
	case recIdle:
		r.stateLabel.SetText("")
	case recStarting:
		r.stateLabel.SetText("Starting…")
	case recRecording:
		r.stateLabel.SetText("Recording · encounter " + r.rec.ID())
	case recPaused:
		r.stateLabel.SetText("Paused · encounter " + r.rec.ID())
	case recEnding:
		r.stateLabel.SetText("Finishing the transcript…")
	case recEnded:
		r.stateLabel.SetText("Ended · encounter " + r.last.ID)
	case recImporting:
		r.stateLabel.SetText("Importing…")
	}
	r.syncControls()
}

// syncControls enables what makes sense in the current state; the buttons
// shown are the ones the state offers (Pause while recording, Resume while
// paused).
func (r *recordScreen) syncControls() {
	s := r.state
	open := s == recRecording || s == recPaused
	enable(r.record, (s == recIdle || s == recEnded) && len(r.devices) > 0 && !r.busy && (r.consent.Checked || !r.askConsent))
	visible(r.record, !open && s != recEnding)
	visible(r.pause, s == recRecording)
	visible(r.resume, s == recPaused)
	enable(r.pause, !r.busy)
	enable(r.resume, !r.busy)
	visible(r.end, open || s == recEnding)
	enable(r.end, open && !r.busy)
	enable(r.device, (s == recIdle || s == recEnded) && len(r.devices) > 0)
	enable(r.patient.entry, s == recIdle || s == recEnded)
	enable(r.template, (s == recIdle || s == recEnded) && len(r.templates) > 0)
	enable(r.context, s == recIdle || s == recEnded)
	enable(r.consent, s == recIdle || s == recEnded)
	enable(r.importBtn, s == recIdle || s == recEnded)
}

func visible(o fyne.CanvasObject, on bool) {
	if on {
		o.Show()
	} else {
		o.Hide()
	}
}

// keyName writes a shortcut as the keyboard shows it: Ctrl+R, or ⌘R on a
// Mac, where the default shortcut modifier is Command.
func keyName(sc *desktop.CustomShortcut) string {
	if sc.Modifier == fyne.KeyModifierSuper {
		return "⌘" + string(sc.KeyName)
	}
	return "Ctrl+" + string(sc.KeyName)
}

// clock formats d as mm:ss, or h:mm:ss from an hour.
func clock(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

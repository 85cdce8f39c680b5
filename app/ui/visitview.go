package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// draftSave is how long the clinician's typing must pause before the note
// is saved: each save is kept here at once and queued for the server, and a
// pause of a second is a save per sentence rather than per key.
const draftSave = time.Second

// visitSettle gathers a burst of encounter and job changes into one read.
const visitSettle = 250 * time.Millisecond

// Save states under the note.
const (
	saveEditing = "Editing…"
	saveSaving  = "Saving…"
	saveSending = "Saved here · sending…"
	saveSaved   = "Saved"
)

// visitData is one read of everything the Note screen shows.
type visitData struct {
	visit     app.Visit
	turns     []app.Turn
	templates map[int64]string // nil when not read this time
}

// visitView is the Note screen of a visit recorded or imported on this
// computer, inside the Notes screen: its status, the note to edit and sign,
// the transcript and what the visit was recorded with. It watches the
// encounter and the outbox while open, so the draft arriving, edits reaching
// the server and signatures show without reopening it.
type visitView struct {
	n *notesScreen

	back      *widget.Button
	title     *widget.Label
	chip      *widget.Label
	attention *fyne.Container
	reason    *widget.Label
	showQueue *widget.Button
	loading   *widget.ProgressBarInfinite
	failure   *errorPanel
	tabs      *container.AppTabs

	// Note tab.
	draft     *widget.Entry
	saveState *widget.Label
	sign      *widget.Button
	unsign    *widget.Button
	actionMsg *widget.Label
	codes     *widget.Label
	codesBox  *fyne.Container

	// Transcript tab.
	turns   *fyne.Container // a row per turn: play button, "[mm:ss] text"
	noTurns *widget.Label
	playErr *widget.Label

	// Context tab.
	patient, template, context, consent, recorded *widget.Label
	local                                         *localData // Delete local data (wipe.go)

	box fyne.CanvasObject

	id        string
	open      bool
	loaded    bool
	visit     app.Visit
	shownTurn []app.Turn
	templates map[int64]string

	dirty   bool                  // the entry holds an edit not saved yet
	saving  bool                  // SaveDraft under way
	filling bool                  // the entry is being set from the visit, not typed in
	busy    bool                  // Sign or Unsign under way
	confirm *dialog.ConfirmDialog // the sign confirmation while open
	playing int                   // the turn being played, or -1
	plays   []*widget.Button      // the turns' play buttons

	save      *debouncer
	settle    *debouncer
	pending   bool
	req       inflight
	watchEnc  inflight
	watchJobs inflight
}

func newVisitView(n *notesScreen) *visitView {
	v := &visitView{n: n, playing: -1, save: newDebouncer(n.m.shell.b, draftSave), settle: newDebouncer(n.m.shell.b, visitSettle)}
	v.back = widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), n.closeVisit)
	v.title = heading("")
	v.title.Wrapping = fyne.TextWrapWord
	// Not newStatusChip: that one is cut to fit a list cell, and beside
	// the title it would be cut to an ellipsis.
	v.chip = widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
	v.reason = widget.NewLabel("")
	v.reason.Wrapping = fyne.TextWrapWord
	v.reason.Importance = widget.DangerImportance
	v.showQueue = widget.NewButtonWithIcon("Show queue", theme.UploadIcon(), func() { n.m.showScreen(navQueue) })
	v.attention = container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), v.showQueue, v.reason)
	v.attention.Hide()
	v.loading = widget.NewProgressBarInfinite()
	v.loading.Stop()
	v.loading.Hide()
	v.failure = newErrorPanel(v.load)

	v.draft = widget.NewMultiLineEntry()
	v.draft.Wrapping = fyne.TextWrapWord
	v.draft.OnChanged = v.onEdit
	v.saveState = widget.NewLabel("")
	v.saveState.Importance = widget.LowImportance
	v.sign = widget.NewButtonWithIcon("Sign…", theme.ConfirmIcon(), v.onSign)
	v.sign.Importance = widget.HighImportance
	v.unsign = widget.NewButtonWithIcon("Unsign", theme.ContentUndoIcon(), v.onUnsign)
	v.actionMsg = errorLabel()
	v.codes = widget.NewLabel("")
	v.codes.Wrapping = fyne.TextWrapWord
	v.codes.Selectable = true
	v.codesBox = container.NewVBox(section("Codes and screeners"), v.codes)
	v.codesBox.Hide()
	noteTab := container.NewBorder(nil,
		container.NewVBox(v.actionMsg, container.NewHBox(v.sign, v.unsign, layout.NewSpacer(), v.saveState), v.codesBox),
		nil, nil, v.draft)

	v.turns = container.NewVBox()
	v.noTurns = widget.NewLabel("")
	v.noTurns.Wrapping = fyne.TextWrapWord
	v.playErr = errorLabel()
	hint := widget.NewLabel("Press the play button beside a turn to hear that part of the recording.")
	hint.Importance = widget.LowImportance
	hint.SizeName = theme.SizeNameCaptionText
	transcriptTab := container.NewBorder(container.NewVBox(hint, v.playErr), nil, nil, nil,
		container.NewVScroll(container.NewVBox(v.noTurns, v.turns)))

	wrapped := func() *widget.Label {
		l := widget.NewLabel("")
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	v.patient, v.template, v.context, v.consent, v.recorded = wrapped(), wrapped(), wrapped(), wrapped(), wrapped()
	v.local = newLocalData(v)
	contextTab := container.NewVScroll(container.New(layout.NewFormLayout(),
		widget.NewLabel("Patient"), v.patient,
		widget.NewLabel("Template"), v.template,
		widget.NewLabel("Context"), v.context,
		widget.NewLabel("Consent"), v.consent,
		widget.NewLabel("Recorded"), v.recorded,
		widget.NewLabel("On this computer"), v.local.box,
	))

	v.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Note", theme.DocumentIcon(), noteTab),
		container.NewTabItemWithIcon("Transcript", theme.ListIcon(), transcriptTab),
		container.NewTabItemWithIcon("Context", theme.InfoIcon(), contextTab),
	)
	top := container.NewVBox(
		container.NewHBox(v.back),
		container.NewBorder(nil, nil, nil, container.NewCenter(v.chip), v.title),
		v.attention, v.loading, v.failure.box,
	)
	v.box = container.NewBorder(top, nil, nil, nil, v.tabs)
	return v
}

// show opens encounter id.
func (v *visitView) show(id string) {
	if v.open && v.id != id {
		v.close()
	}
	if v.id != id {
		v.reset()
	}
	v.id, v.open = id, true
	v.tabs.SelectIndex(0)
	v.resume()
}

// reset clears what another visit left, so nothing of it shows while this
// one loads.
func (v *visitView) reset() {
	v.loaded = false
	v.visit = app.Visit{}
	v.shownTurn = nil
	v.title.SetText("")
	v.chip.SetText("")
	v.attention.Hide()
	v.actionMsg.Hide()
	v.fillDraft("")
	v.draft.Disable()
	v.saveState.SetText("")
	visible(v.sign, false)
	visible(v.unsign, false)
	v.codesBox.Hide()
	v.turns.Objects = nil
	v.turns.Refresh()
	v.noTurns.SetText("")
}

// resume watches the visit and reads it; the Notes screen calls it when the
// view comes (back) into sight.
func (v *visitView) resume() {
	v.watch()
	v.load()
}

// pause stops watching and keeps any edit in progress; the view stays
// open, to resume when the Notes screen is shown again.
func (v *visitView) pause() {
	v.flush()
	v.stopPlaying()
	v.watchEnc.stop()
	v.watchJobs.stop()
	v.req.stop()
	v.settle.cancel()
	v.pending = false
	v.setLoading(false)
}

// close leaves the visit; an edit not saved yet is saved first.
func (v *visitView) close() {
	v.pause()
	if v.confirm != nil {
		v.confirm.Hide()
	}
	v.open = false
}

// watch waits for the next change to any encounter and to any job, each
// on its own, and reads the visit again after a burst of them.
func (v *visitView) watch() {
	core := v.n.m.shell.core
	v.watchOne(&v.watchEnc, core.EncountersChanged)
	v.watchOne(&v.watchJobs, core.JobsChanged)
}

func (v *visitView) watchOne(f *inflight, changes func() <-chan struct{}) {
	ctx := f.start(v.n.m.ctx)
	changed := changes()
	run(v.n.m.shell.b, ctx, func(ctx context.Context) (struct{}, error) {
		select {
		case <-changed:
			return struct{}{}, nil
		case <-ctx.Done():
			return struct{}{}, ctx.Err()
		}
	}, func(struct{}, error) {
		v.watchOne(f, changes)
		if v.pending {
			return
		}
		v.pending = true
		v.settle.call(func() {
			v.pending = false
			v.load()
		})
	})
}

func (v *visitView) load() {
	ctx := v.req.start(v.n.m.ctx)
	if !v.loaded {
		v.setLoading(true)
	}
	core, id, needTemplates := v.n.m.shell.core, v.id, v.templates == nil
	run(v.n.m.shell.b, ctx, func(ctx context.Context) (visitData, error) {
		var d visitData
		var err error
		if d.visit, err = core.Visit(ctx, id); err != nil {
			return d, err
		}
		if d.turns, err = core.Transcript(ctx, id); err != nil {
			return d, err
		}
		if needTemplates {
			// Only to name the template; the screen does without if the
			// server cannot be asked.
			if ts, err := core.Templates(ctx); err == nil {
				d.templates = make(map[int64]string, len(ts))
				for _, t := range ts {
					d.templates[t.Id] = t.Name
				}
			}
		}
		return d, nil
	}, v.onLoaded)
}

func (v *visitView) onLoaded(d visitData, err error) {
	v.req.stop()
	v.setLoading(false)
	if err != nil {
		v.failure.show(v.n.m.explain(err))
		return
	}
	v.failure.hide()
	v.loaded = true
	if d.templates != nil {
		v.templates = d.templates
	}
	v.visit = d.visit
	v.render()
	v.renderTurns(d.turns)
}

func (v *visitView) setLoading(on bool) { showLoading(on, v.loading, v.failure) }

// render shows the visit as last read.
func (v *visitView) render() {
	vis := v.visit
	v.title.SetText(visitTitle(vis))
	setVisitChip(v.chip, vis.Status)
	if vis.Status.Label == statusNeedsAttention {
		msg := capitalizeFirst(strings.TrimSpace(vis.Status.Reason))
		if msg == "" {
			msg = "Something about this visit needs you."
		}
		if vis.Status.WhatToDo != "" {
			msg += " What to do: " + capitalizeFirst(vis.Status.WhatToDo) + "."
		}
		v.reason.SetText(msg)
		v.attention.Show()
	} else {
		v.attention.Hide()
	}

	signed := !vis.Signed.IsZero()
	hasDraft := vis.Draft != "" || vis.State == app.StateReady || signed
	// The clinician's own edit wins over what was read: it is newer.
	if !v.dirty && !v.saving && v.draft.Text != vis.Draft {
		v.fillDraft(vis.Draft)
	}
	switch {
	case signed:
		v.draft.Disable()
	case hasDraft:
		v.draft.Enable()
	default:
		v.draft.Disable()
		v.draft.SetPlaceHolder("The draft appears here as soon as it is ready (" + strings.ToLower(vis.Status.Label) + ").")
	}
	visible(v.sign, !signed)
	visible(v.unsign, signed)
	enable(v.sign, hasDraft && !v.busy)
	enable(v.unsign, !v.busy)
	v.showSaveState()

	if vis.Note != nil {
		if c := formatCodes(*vis.Note); c != "" {
			v.codes.SetText(c)
			v.codesBox.Show()
		} else {
			v.codesBox.Hide()
		}
	}

	v.patient.SetText(visitPatient(vis))
	v.template.SetText(v.templateName(vis))
	v.context.SetText(orText(vis.Context, "None given."))
	if vis.ConsentAt.IsZero() {
		v.consent.SetText("Not recorded")
	} else {
		by := ""
		if vis.ConsentBy != "" {
			by = " · confirmed by " + vis.ConsentBy
		}
		v.consent.SetText("The patient agreed to be recorded · " + formatTime(vis.ConsentAt) + by)
	}
	rec := formatTime(vis.Created) + " · " + clock(vis.Duration)
	if vis.Source == app.SourceImport {
		rec += " · imported"
	} else if vis.Device != "" {
		rec += " · " + vis.Device
	}
	v.recorded.SetText(rec)
	v.local.refresh()
}

func (v *visitView) templateName(vis app.Visit) string {
	if vis.Note != nil && vis.Note.Template != nil && vis.Note.Template.Name != "" {
		return vis.Note.Template.Name
	}
	if vis.TemplateID == 0 {
		return "The server's default"
	}
	if name, ok := v.templates[vis.TemplateID]; ok {
		return name
	}
	return fmt.Sprintf("Template #%d", vis.TemplateID)
}

// renderTurns lists the transcript, redrawn only when it changed.
func (v *visitView) renderTurns(turns []app.Turn) {
	if len(turns) == 0 {
		v.noTurns.SetText("No transcript yet: it is assembled from the live transcript and the audio " +
			"sent after End.")
		v.noTurns.Show()
	} else {
		v.noTurns.Hide()
	}
	if sameTurns(turns, v.shownTurn) {
		return
	}
	v.shownTurn = turns
	v.stopPlaying()
	objs := make([]fyne.CanvasObject, len(turns))
	v.plays = make([]*widget.Button, len(turns))
	for i, t := range turns {
		l := widget.NewLabel(turnLine(t))
		l.Wrapping = fyne.TextWrapWord
		l.Selectable = true
		play := widget.NewButtonWithIcon("", theme.MediaPlayIcon(), func() { v.onPlay(i) })
		play.Importance = widget.LowImportance
		v.plays[i] = play
		objs[i] = container.NewBorder(nil, nil, container.NewCenter(play), nil, l)
	}
	v.turns.Objects = objs
	v.turns.Refresh()
}

// onPlay plays turn i from the recording on this computer; pressed again
// while it plays, it stops.
func (v *visitView) onPlay(i int) {
	if i >= len(v.shownTurn) {
		return
	}
	if v.playing == i {
		v.stopPlaying()
		return
	}
	v.stopPlaying()
	v.playing = i
	v.plays[i].SetIcon(theme.MediaStopIcon())
	setError(v.playErr, "")
	core, id, t := v.n.m.shell.core, v.id, v.shownTurn[i]
	plays := v.plays
	// Not cancelled with the view: stopPlaying stops it, and the
	// answer only resets the button.
	run(v.n.m.shell.b, context.WithoutCancel(v.n.m.ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.PlayRange(ctx, id, t.Start, t.End)
	}, func(_ struct{}, err error) {
		plays[i].SetIcon(theme.MediaPlayIcon())
		if v.playing == i && v.id == id && len(v.plays) == len(plays) && v.plays[i] == plays[i] {
			v.playing = -1
		}
		if err != nil && !errors.Is(err, app.ErrPlaybackStopped) && v.id == id {
			setError(v.playErr, "Could not play that turn: "+app.Explain(err))
		}
	})
}

// stopPlaying stops the turn being played, if any. StopPlayback waits for
// the audio to stop, so it runs off the UI goroutine.
func (v *visitView) stopPlaying() {
	if v.playing < 0 {
		return
	}
	if v.playing < len(v.plays) {
		v.plays[v.playing].SetIcon(theme.MediaPlayIcon())
	}
	v.playing = -1
	core := v.n.m.shell.core
	v.n.m.shell.b.wg.Go(core.StopPlayback)
}

func sameTurns(a, b []app.Turn) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fillDraft puts text in the entry without counting it as an edit.
func (v *visitView) fillDraft(text string) {
	v.filling = true
	v.draft.SetText(text)
	v.filling = false
}

func (v *visitView) onEdit(string) {
	if v.filling || !v.open {
		return
	}
	v.dirty = true
	v.showSaveState()
	v.save.call(v.flush)
}

// flush saves the edit in progress now, if there is one.
func (v *visitView) flush() {
	v.save.cancel()
	if !v.dirty || v.id == "" {
		return
	}
	v.dirty, v.saving = false, true
	v.showSaveState()
	core, id, text := v.n.m.shell.core, v.id, v.draft.Text
	// The edit is the clinician's work: it is saved even if the view or the
	// window closes meanwhile (the shell waits for it).
	run(v.n.m.shell.b, context.WithoutCancel(v.n.m.ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.SaveDraft(ctx, id, text)
	}, func(_ struct{}, err error) {
		if v.id != id {
			return
		}
		v.saving = false
		if err != nil {
			v.dirty = true // kept in the entry, saved with the next edit
			setError(v.actionMsg, "Not saved: "+v.n.m.explain(err))
			v.showSaveState()
			return
		}
		setError(v.actionMsg, "")
		v.visit.Draft, v.visit.Unsent = text, true
		v.showSaveState()
		if v.open {
			v.load()
		}
	})
}

func (v *visitView) showSaveState() {
	switch {
	case v.dirty:
		v.saveState.SetText(saveEditing)
	case v.saving:
		v.saveState.SetText(saveSaving)
	case v.visit.Unsent:
		v.saveState.SetText(saveSending)
	case v.visit.Draft != "":
		v.saveState.SetText(saveSaved)
	default:
		v.saveState.SetText("")
	}
}

// onSign asks before signing: a signed note is read-only and goes to the
// server (and on to the EHR) as final.
func (v *visitView) onSign() {
	if !v.open || v.busy || v.sign.Disabled() || !v.sign.Visible() || v.confirm != nil {
		return
	}
	c := dialog.NewConfirm("Sign this note?",
		"Signed, the note can no longer be edited here and is sent as signed.\nYou can unsign it later to correct it.",
		func(ok bool) {
			if ok {
				v.signNow()
			}
		}, v.n.m.win)
	c.SetConfirmText("Sign")
	c.SetDismissText("Cancel")
	v.confirm = c
	prev := v.n.m.escape
	v.confirm.SetOnClosed(func() {
		v.confirm = nil
		v.n.m.escape = prev
	})
	v.n.m.escape = v.confirm.Hide
	v.confirm.Show()
}

// signNow saves any edit in progress, then signs: the update goes before
// the signature, in the outbox as here.
func (v *visitView) signNow() {
	v.save.cancel()
	text, edited := v.draft.Text, v.dirty
	v.dirty = false
	v.act(func(ctx context.Context, core *app.Core, id string) error {
		if edited {
			if err := core.SaveDraft(ctx, id, text); err != nil {
				return err
			}
		}
		return core.SignNote(ctx, id)
	})
}

func (v *visitView) onUnsign() {
	if !v.open || v.busy || !v.unsign.Visible() {
		return
	}
	v.act(func(ctx context.Context, core *app.Core, id string) error { return core.UnsignNote(ctx, id) })
}

// act runs Sign or Unsign and reads the visit again.
func (v *visitView) act(do func(context.Context, *app.Core, string) error) {
	v.busy = true
	enable(v.sign, false)
	enable(v.unsign, false)
	setError(v.actionMsg, "")
	core, id := v.n.m.shell.core, v.id
	run(v.n.m.shell.b, context.WithoutCancel(v.n.m.ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, do(ctx, core, id)
	}, func(_ struct{}, err error) {
		if v.id != id {
			return
		}
		v.busy = false
		if err != nil {
			setError(v.actionMsg, v.n.m.explain(err))
		}
		v.render()
		if v.open {
			v.load()
		}
	})
}

const statusNeedsAttention = "Needs attention"

// setVisitChip colours a visit's status by what it asks of the clinician.
func setVisitChip(l *widget.Label, s app.Status) {
	switch s.Label {
	case statusNeedsAttention:
		l.Importance = widget.DangerImportance
	case "Ready":
		l.Importance = widget.SuccessImportance
	case "Signed", "Delivered":
		l.Importance = widget.HighImportance
	default:
		l.Importance = widget.WarningImportance
	}
	l.SetText(s.Label)
}

// visitTitle is the note's name once the server has one, else the visit's
// date.
func visitTitle(v app.Visit) string {
	if v.Note != nil && v.Note.Name != "" {
		return v.Note.Name
	}
	return "Visit of " + formatTime(v.Created)
}

// visitPatient names the visit's patient as far as this computer knows.
func visitPatient(v app.Visit) string {
	switch {
	case v.Note != nil && v.Note.Patient != nil:
		return app.PatientName(*v.Note.Patient)
	case v.PatientID == 0:
		return "No patient chosen"
	case v.PatientName != "" && v.PatientID < 0:
		return v.PatientName + " (added on this computer, not on the server yet)"
	case v.PatientName != "":
		return v.PatientName
	case v.PatientID < 0:
		return "A patient added on this computer (not on the server yet)"
	}
	return fmt.Sprintf("Patient #%d", v.PatientID)
}

func orText(s, none string) string {
	if strings.TrimSpace(s) == "" {
		return none
	}
	return s
}

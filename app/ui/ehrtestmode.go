package ui

import (
	"context"
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/outbox"
)

// testHint is the seed's advice for a test note that landed wrong.
const testHint = "If anything looks wrong, do not retry. Check the connection status here and read the most " +
	"recent log entry. Most setup-time errors are a missing provider mapping or a permission scope that was " +
	"not granted during OAuth. Both are quick fixes."

// testModeBox is the part of a card in test mode: automatic pushes wait
// until one signed note has been sent and the admin has confirmed, from
// what the screen shows was sent, that it landed right.
type testModeBox struct {
	c *ehrCard

	intro   *widget.Label
	send    *widget.Button
	state   *widget.Label // the test push under way, or why it stopped
	sent    *fyne.Container
	patient *widget.Label
	date    *widget.Label
	doctor  *widget.Label
	prov    *widget.Label
	content *widget.Label
	confirm *widget.Button
	hint    *widget.Label
	box     *fyne.Container
}

func newTestModeBox(c *ehrCard) *testModeBox {
	t := &testModeBox{c: c}
	name := app.EHRName(c.kind)
	t.intro = widget.NewLabel("Test mode: automatic pushes to " + name + " wait. Send one signed note, open " +
		name + " and check it landed on the right patient and visit date, under the right clinician, with the " +
		"codes you expected; then start automatic pushes.")
	t.intro.Wrapping = fyne.TextWrapWord
	t.intro.Importance = widget.WarningImportance
	t.send = widget.NewButtonWithIcon("Send a test note…", theme.MailSendIcon(), t.onSend)
	t.state = widget.NewLabel("")
	t.state.Wrapping = fyne.TextWrapWord
	t.state.Hide()

	t.patient, t.date, t.doctor, t.prov = widget.NewLabel(""), widget.NewLabel(""), widget.NewLabel(""), widget.NewLabel("")
	t.content = widget.NewLabel("")
	t.content.Wrapping = fyne.TextWrapWord
	t.content.Selectable = true
	t.content.SizeName = theme.SizeNameCaptionText
	bold := fyne.TextStyle{Bold: true}
	facts := container.NewGridWithColumns(2,
		container.New(layout.NewFormLayout(),
			widget.NewLabelWithStyle("Patient", fyne.TextAlignLeading, bold), t.patient,
			widget.NewLabelWithStyle("Visit date", fyne.TextAlignLeading, bold), t.date),
		container.New(layout.NewFormLayout(),
			widget.NewLabelWithStyle("Clinician", fyne.TextAlignLeading, bold), t.doctor,
			widget.NewLabelWithStyle("Provider", fyne.TextAlignLeading, bold), t.prov),
	)
	t.confirm = widget.NewButtonWithIcon("It landed right — start automatic pushes", theme.ConfirmIcon(), t.onConfirm)
	t.confirm.Importance = widget.HighImportance
	t.hint = captionLabel(testHint)
	t.hint.Wrapping = fyne.TextWrapWord
	t.sent = container.NewVBox(
		widget.NewLabelWithStyle("The test note as sent", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		facts,
		widget.NewLabelWithStyle("Content as sent", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		// The whole note, not a scrolled window onto it: the admin
		// compares every line with the chart, and the panel scrolls.
		t.content,
		container.NewHBox(t.confirm),
		t.hint,
	)
	t.sent.Hide()
	t.box = container.NewVBox(widget.NewSeparator(), t.intro, container.NewHBox(t.send), t.state, t.sent,
		widget.NewSeparator())
	t.box.Hide()
	return t
}

// set shows conn's test state; the box is hidden outside test mode.
func (t *testModeBox) set(conn app.Connection) {
	if conn.State != app.ConnTest {
		t.box.Hide()
		return
	}
	t.box.Show()
	tp := conn.Test
	if tp == nil || tp.State == outbox.NeedsAttention || tp.State == outbox.Cancelled {
		t.send.Show()
	} else {
		t.send.Hide()
	}
	switch {
	case tp == nil:
		t.state.Hide()
	case tp.Sent == nil:
		t.state.Importance = widget.MediumImportance
		msg := "Sending the test note (" + stateName(tp.State) + ")…"
		if tp.State == outbox.NeedsAttention || tp.State == outbox.Cancelled {
			t.state.Importance = widget.DangerImportance
			msg = "The test note was not sent."
		}
		if tp.Reason != "" {
			msg += " " + sentence(capitalizeFirst(tp.Reason))
		}
		t.state.SetText(msg)
		t.state.Show()
	default:
		t.state.Hide()
	}
	if tp == nil || tp.Sent == nil {
		t.sent.Hide()
		return
	}
	s := tp.Sent
	t.patient.SetText(orText(s.PatientName, "—") + idSuffix(s.EHRPatientID))
	t.date.SetText(orText(s.VisitDate, "—"))
	t.doctor.SetText(orText(s.Clinician, "—"))
	t.prov.SetText(orText(s.ProviderName, "—"))
	t.content.SetText(s.Content)
	enable(t.confirm, s.Status != ehr.Failed)
	t.sent.Show()
}

func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (EHR id " + id + ")"
}

func (t *testModeBox) onSend() {
	a := t.c.a
	if a.picker == nil {
		a.picker = newTestNotePicker(a, t.c.kind)
	}
}

func (t *testModeBox) onConfirm() {
	kind := t.c.kind
	t.c.act(func(ctx context.Context, core *app.Core) error {
		return core.ConfirmTestPush(ctx, kind)
	}, "Automatic pushes to "+app.EHRName(kind)+" have started.")
}

// testNotePicker chooses the signed visit a test push sends.
type testNotePicker struct {
	a    *externalApps
	kind ehr.Kind
	dlg  *dialog.CustomDialog

	choice   *widget.Select
	empty    *widget.Label
	errText  *widget.Label
	progress *widget.ProgressBarInfinite
	send     *widget.Button

	visits     []app.Visit // signed, newest first
	prevEscape func()
	req        inflight
}

func newTestNotePicker(a *externalApps, kind ehr.Kind) *testNotePicker {
	p := &testNotePicker{a: a, kind: kind}
	intro := widget.NewLabel("Choose one signed visit. Scribe sends it to " + app.EHRName(kind) +
		" now, with your push settings; nothing else goes until you confirm it landed right.")
	intro.Wrapping = fyne.TextWrapWord
	p.choice = widget.NewSelect(nil, nil)
	p.choice.PlaceHolder = "Choose a signed visit"
	p.empty = widget.NewLabel("There is no signed visit on this computer yet. Sign a note in Notes, then come back.")
	p.empty.Wrapping = fyne.TextWrapWord
	p.empty.Hide()
	p.errText = errorLabel()
	p.progress = widget.NewProgressBarInfinite()
	p.send = widget.NewButtonWithIcon("Send test note", theme.MailSendIcon(), p.onSend)
	p.send.Importance = widget.HighImportance
	p.send.Disable()
	cancel := widget.NewButton("Cancel", p.close)

	p.dlg = dialog.NewCustomWithoutButtons("Send a test note to "+app.EHRName(kind),
		container.NewVBox(intro, p.choice, p.empty, p.errText, p.progress), a.m.win)
	p.dlg.SetButtons([]fyne.CanvasObject{cancel, p.send})
	p.dlg.SetOnClosed(p.closed)
	fitDialog(p.dlg, pickerWidth)
	p.dlg.Show()
	p.prevEscape, a.m.escape = a.m.escape, p.close
	p.load()
	return p
}

// load reads the visits kept on this computer; the server's notes are not
// needed, so being offline is no reason to stop.
func (p *testNotePicker) load() {
	ctx := p.req.start(p.a.m.ctx)
	core := p.a.m.shell.core
	run(p.a.m.shell.b, ctx, func(ctx context.Context) ([]app.Visit, error) {
		page, err := core.NotesWithLocal(ctx, app.NoteFilter{Page: 1, PerPage: 1})
		if err != nil && !errors.Is(err, app.ErrOffline) {
			return nil, err
		}
		var signed []app.Visit
		for _, v := range page.Local {
			if !v.Signed.IsZero() {
				signed = append(signed, v)
			}
		}
		return signed, nil
	}, p.onLoaded)
}

func (p *testNotePicker) onLoaded(vs []app.Visit, err error) {
	p.req.stop()
	p.progress.Stop()
	p.progress.Hide()
	if err != nil {
		p.say(p.a.m.explain(err))
		return
	}
	defer fitDialog(p.dlg, pickerWidth)
	p.visits = vs
	labels := make([]string, len(vs))
	for i, v := range vs {
		labels[i] = visitLabel(v)
	}
	p.choice.SetOptions(labels)
	if len(vs) == 0 {
		p.empty.Show()
		p.choice.Hide()
		return
	}
	p.choice.SetSelectedIndex(0)
	p.send.Enable()
}

// visitLabel names a visit for the picker: when, who, what about.
func visitLabel(v app.Visit) string {
	s := v.Created.Local().Format("2006-01-02 15:04")
	s += " · " + orText(v.PatientName, "no patient chosen")
	if v.Context != "" {
		s += " · " + v.Context
	}
	return s
}

func (p *testNotePicker) onSend() {
	i := p.choice.SelectedIndex()
	if i < 0 || i >= len(p.visits) {
		p.say("Choose a signed visit to send.")
		return
	}
	p.send.Disable()
	p.say("")
	p.progress.Show()
	p.progress.Start()
	id, kind := p.visits[i].ID, p.kind
	ctx := p.req.start(p.a.m.ctx)
	core := p.a.m.shell.core
	run(p.a.m.shell.b, ctx, func(ctx context.Context) (app.JobID, error) {
		return core.TestPush(ctx, kind, id)
	}, p.onSent)
}

func (p *testNotePicker) onSent(_ app.JobID, err error) {
	p.req.stop()
	p.progress.Stop()
	p.progress.Hide()
	p.send.Enable()
	if err != nil {
		p.say(p.a.m.explain(err))
		return
	}
	p.close()
	p.a.m.setStatus("The test note is on its way to "+app.EHRName(p.kind)+".", widget.MediumImportance)
	// What was sent appears on the card; it is brought into view then.
	p.a.follow = p.kind
	p.a.load()
}

const pickerWidth = 560

// say shows msg under the choice ("" hides it).
func (p *testNotePicker) say(msg string) {
	setError(p.errText, msg)
	fitDialog(p.dlg, pickerWidth)
}

func (p *testNotePicker) close() { p.dlg.Hide() }

func (p *testNotePicker) closed() {
	p.req.stop()
	if p.a.picker == p {
		p.a.picker = nil
	}
	p.a.m.escape, p.prevEscape = p.prevEscape, nil
}

package ui

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
)

// The push settings' choices in the seed's words.
var (
	pushWhens   = []app.PushWhen{app.PushOnSign, app.PushOnUnsign, app.PushOnBoth}
	pushWhats   = []ehr.Content{ehr.NoteWithCodes, ehr.NoteOnly}
	pushUpdates = []ehr.Update{ehr.Append, ehr.Replace}
)

// pushSettingsDialog chooses when a connection pushes, what it sends and
// how it treats a note pushed before. Replace is offered only where the
// EHR can replace a document (not NexHealth).
type pushSettingsDialog struct {
	a    *externalApps
	kind ehr.Kind
	dlg  *dialog.CustomDialog

	when, what, update *widget.RadioGroup
	updates            []ehr.Update // the update choices offered
	errText            *widget.Label
	save, cancel       *widget.Button

	prevEscape func()
	busy       bool
	req        inflight
}

func newPushSettingsDialog(a *externalApps, conn app.Connection) *pushSettingsDialog {
	d := &pushSettingsDialog{a: a, kind: conn.Kind}
	labels := func(n int, label func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = label(i)
		}
		return out
	}
	d.when = widget.NewRadioGroup(labels(len(pushWhens), func(i int) string { return pushWhens[i].Label() }), nil)
	d.what = widget.NewRadioGroup(labels(len(pushWhats), func(i int) string { return app.ContentLabel(pushWhats[i]) }), nil)
	for _, u := range pushUpdates {
		if u == ehr.Replace && !conn.CanReplace {
			continue
		}
		d.updates = append(d.updates, u)
	}
	d.update = widget.NewRadioGroup(labels(len(d.updates), func(i int) string { return app.UpdateLabel(d.updates[i]) }), nil)
	for _, r := range []*widget.RadioGroup{d.when, d.what, d.update} {
		r.Required = true
	}
	s := conn.Settings
	if s == (app.PushSettings{}) {
		s = app.DefaultPushSettings()
	}
	d.when.SetSelected(s.When.Label())
	d.what.SetSelected(app.ContentLabel(s.What))
	d.update.SetSelected(app.UpdateLabel(s.Update))

	bold := fyne.TextStyle{Bold: true}
	content := container.NewVBox(
		widget.NewLabelWithStyle("When to push", fyne.TextAlignLeading, bold), d.when,
		widget.NewLabelWithStyle("What to send", fyne.TextAlignLeading, bold), d.what,
		widget.NewLabelWithStyle("Update behavior", fyne.TextAlignLeading, bold), d.update,
	)
	if !conn.CanReplace {
		note := captionLabel(app.EHRName(conn.Kind) + " cannot replace a document, so each version is added beside the last.")
		note.Wrapping = fyne.TextWrapWord
		content.Add(note)
	} else {
		note := captionLabel("Append keeps the history in the destination chart.")
		note.Wrapping = fyne.TextWrapWord
		content.Add(note)
	}
	d.errText = errorLabel()
	content.Add(d.errText)

	d.cancel = widget.NewButton("Cancel", d.close)
	d.save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), d.onSave)
	d.save.Importance = widget.HighImportance
	d.dlg = dialog.NewCustomWithoutButtons("Push settings — "+app.EHRName(conn.Kind), content, a.m.win)
	d.dlg.SetButtons([]fyne.CanvasObject{d.cancel, d.save})
	d.dlg.SetOnClosed(d.closed)
	fitDialog(d.dlg, pushWidth)
	d.dlg.Show()
	d.prevEscape, a.m.escape = a.m.escape, d.close
	return d
}

const pushWidth = 460

// settings are the choices the dialog shows.
func (d *pushSettingsDialog) settings() app.PushSettings {
	var s app.PushSettings
	for _, w := range pushWhens {
		if w.Label() == d.when.Selected {
			s.When = w
		}
	}
	for _, c := range pushWhats {
		if app.ContentLabel(c) == d.what.Selected {
			s.What = c
		}
	}
	for _, u := range d.updates {
		if app.UpdateLabel(u) == d.update.Selected {
			s.Update = u
		}
	}
	return s
}

func (d *pushSettingsDialog) onSave() {
	if d.busy {
		return
	}
	d.busy = true
	enable(d.save, false)
	setError(d.errText, "")
	fitDialog(d.dlg, pushWidth)
	s, kind := d.settings(), d.kind
	ctx := d.req.start(d.a.m.ctx)
	core := d.a.m.shell.core
	run(d.a.m.shell.b, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.SetPushSettings(ctx, kind, s)
	}, func(_ struct{}, err error) {
		d.req.stop()
		d.busy = false
		enable(d.save, true)
		if err != nil {
			setError(d.errText, d.a.m.explain(err))
			fitDialog(d.dlg, pushWidth)
			return
		}
		d.close()
		d.a.m.setStatus("Saved the push settings for "+app.EHRName(kind)+": "+s.String()+".", widget.SuccessImportance)
		d.a.load()
	})
}

func (d *pushSettingsDialog) close() { d.dlg.Hide() }

func (d *pushSettingsDialog) closed() {
	d.req.stop()
	if d.a.settings == d {
		d.a.settings = nil
	}
	d.a.m.escape, d.prevEscape = d.prevEscape, nil
}

package ui

import (
	"context"
	"errors"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// genders are the choices the form offers, shown → sent. The API takes any
// string; these are the ones the Nextvisit web app uses.
var genders = []struct{ label, value string }{
	{"Not specified", ""},
	{"Female", "female"},
	{"Male", "male"},
	{"Other", "other"},
}

// patientForm is the New patient dialog. It stays open until the patient is
// kept (by the server, or on this computer while the server cannot be
// reached), showing the server's field errors under the fields.
type patientForm struct {
	p   *patientsScreen
	dlg *dialog.CustomDialog

	first, middle, last, dob, notes *escEntry
	gender                          *widget.Select
	fieldErrs                       map[string]*widget.Label // by API field name
	errText                         *widget.Label
	progress                        *widget.ProgressBarInfinite
	save, cancel                    *widget.Button

	busy bool
	req  inflight
}

func newPatientForm(p *patientsScreen) *patientForm {
	f := &patientForm{p: p, fieldErrs: map[string]*widget.Label{}}

	f.first = f.entry("First name")
	f.middle = f.entry("Middle name (optional)")
	f.last = f.entry("Last name")
	f.dob = f.entry("YYYY-MM-DD")
	f.notes = f.entry("Anything the team should know (optional)")
	f.notes.MultiLine = true
	f.notes.Wrapping = fyne.TextWrapWord
	f.notes.SetMinRowsVisible(3)
	f.notes.OnSubmitted = nil // Enter makes a new line here

	labels := make([]string, len(genders))
	for i, g := range genders {
		labels[i] = g.label
	}
	f.gender = widget.NewSelect(labels, nil)
	f.gender.SetSelectedIndex(0)

	f.errText = errorLabel()
	f.progress = widget.NewProgressBarInfinite()
	f.progress.Stop()
	f.progress.Hide()

	grid := container.New(layout.NewFormLayout(),
		widget.NewLabel("First name"), f.field("first_name", f.first),
		widget.NewLabel("Middle name"), f.field("middle_name", f.middle),
		widget.NewLabel("Last name"), f.field("last_name", f.last),
		widget.NewLabel("Date of birth"), f.field("date_of_birth", f.dob),
		widget.NewLabel("Gender"), f.field("gender", f.gender),
		widget.NewLabel("Notes"), f.field("notes", f.notes),
	)

	f.cancel = widget.NewButton("Cancel", f.close)
	f.save = widget.NewButtonWithIcon("Create patient", theme.ConfirmIcon(), f.onSave)
	f.save.Importance = widget.HighImportance

	f.dlg = dialog.NewCustomWithoutButtons("New patient",
		container.NewVBox(f.errText, grid, f.progress), p.m.win)
	f.dlg.SetButtons([]fyne.CanvasObject{f.cancel, f.save})
	f.dlg.SetOnClosed(f.closed)
	f.dlg.Resize(fyne.NewSize(520, 0))
	f.dlg.Show()
	p.m.escape = f.close
	p.m.win.Canvas().Focus(f.first)
	return f
}

func (f *patientForm) entry(placeholder string) *escEntry {
	e := newEscEntry(placeholder)
	e.onEscape = f.close
	e.OnSubmitted = f.onSubmitted
	return e
}

// field puts w above the label that shows the server's complaint about it.
func (f *patientForm) field(name string, w fyne.CanvasObject) fyne.CanvasObject {
	l := errorLabel()
	f.fieldErrs[name] = l
	return container.NewVBox(w, l)
}

func (f *patientForm) onSubmitted(string) { f.onSave() }

func (f *patientForm) onSave() {
	if f.busy {
		return
	}
	f.clearErrors()
	np := app.NewPatient{
		FirstName:   strings.TrimSpace(f.first.Text),
		MiddleName:  strings.TrimSpace(f.middle.Text),
		LastName:    strings.TrimSpace(f.last.Text),
		DateOfBirth: strings.TrimSpace(f.dob.Text),
		Notes:       strings.TrimSpace(f.notes.Text),
	}
	if i := f.gender.SelectedIndex(); i >= 0 {
		np.Gender = genders[i].value
	}
	if !f.check(np) {
		return
	}
	f.setBusy(true)
	ctx := f.req.start(f.p.m.ctx)
	core := f.p.m.shell.core
	run(f.p.m.shell.b, ctx, func(ctx context.Context) (app.AddedPatient, error) {
		return core.CreatePatient(ctx, np)
	}, f.onCreated)
}

// onCreated closes the form once the patient is kept, on the server or, when
// it cannot be reached, on this computer until the outbox sends it.
func (f *patientForm) onCreated(added app.AddedPatient, err error) {
	f.req.stop()
	f.setBusy(false)
	if err != nil {
		f.showError(err)
		return
	}
	f.close()
	f.p.created(added)
}

// check catches what the form can see for itself, so the message lands
// under the field at once; the server judges the rest (lengths, date
// ranges) and its answer is shown the same way.
func (f *patientForm) check(np app.NewPatient) bool {
	ok := true
	if np.FirstName == "" {
		setError(f.fieldErrs["first_name"], "Enter the first name.")
		ok = false
	}
	if np.LastName == "" {
		setError(f.fieldErrs["last_name"], "Enter the last name.")
		ok = false
	}
	if np.DateOfBirth != "" {
		if _, err := time.Parse(time.DateOnly, np.DateOfBirth); err != nil {
			setError(f.fieldErrs["date_of_birth"], "Write the date as YYYY-MM-DD, e.g. 1985-03-15, or leave it empty.")
			ok = false
		}
	}
	if !ok {
		f.focusFirstError()
	}
	return ok
}

// showError puts each field's messages under that field; what belongs to no
// field goes at the top of the form.
func (f *patientForm) showError(err error) {
	var ve *api.ValidationError
	if !errors.As(err, &ve) {
		setError(f.errText, f.p.m.explain(err))
		return
	}
	var other []string
	for field, msgs := range ve.Fields {
		if l, ok := f.fieldErrs[field]; ok {
			setError(l, strings.Join(msgs, " "))
		} else {
			other = append(other, msgs...)
		}
	}
	if len(other) > 0 || len(ve.Fields) == 0 {
		msg := strings.Join(other, " ")
		if msg == "" {
			msg = ve.Message
		}
		setError(f.errText, msg)
	}
	f.focusFirstError()
}

func (f *patientForm) focusFirstError() {
	for _, it := range []struct {
		name string
		w    fyne.Focusable
	}{{"first_name", f.first}, {"middle_name", f.middle}, {"last_name", f.last}, {"date_of_birth", f.dob}, {"notes", f.notes}} {
		if f.fieldErrs[it.name].Visible() {
			f.p.m.win.Canvas().Focus(it.w)
			return
		}
	}
}

func (f *patientForm) clearErrors() {
	setError(f.errText, "")
	for _, l := range f.fieldErrs {
		setError(l, "")
	}
}

func (f *patientForm) setBusy(busy bool) {
	f.busy = busy
	enable(f.save, !busy)
	if busy {
		f.save.SetText("Creating…")
		f.progress.Show()
		f.progress.Start()
	} else {
		f.save.SetText("Create patient")
		f.progress.Stop()
		f.progress.Hide()
	}
}

// close dismisses the dialog; a save still in flight is abandoned (its
// answer would have nowhere to go).
func (f *patientForm) close() { f.dlg.Hide() }

// closed runs however the dialog went away.
func (f *patientForm) closed() {
	f.req.stop()
	if f.p.form == f {
		f.p.form = nil
	}
	f.p.m.escape = nil
}

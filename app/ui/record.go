package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// recordScreen is where a visit starts. Capture is not built yet, so it
// offers what works today (choosing the patient and the template) and says
// plainly that recording comes later, with no buttons that pretend.
type recordScreen struct {
	m *mainWindow

	patient      *patientPicker
	chosen       *widget.Label
	template     *widget.Select
	templateInfo *widget.Label
	loading      *widget.ProgressBarInfinite
	failure      *errorPanel
	box          fyne.CanvasObject

	templates []api.Template
	loaded    bool
	req       inflight
}

func newRecordScreen(m *mainWindow) *recordScreen {
	r := &recordScreen{m: m}
	r.patient = newPatientPicker(m, "", "Type a patient's name", r.onPatient)
	r.chosen = widget.NewLabel("No patient chosen yet.")
	r.template = widget.NewSelect(nil, r.onTemplate)
	r.template.PlaceHolder = "Choose a template"
	r.template.Disable()
	r.templateInfo = widget.NewLabel("")
	r.templateInfo.Wrapping = fyne.TextWrapWord
	r.loading = widget.NewProgressBarInfinite()
	r.loading.Stop()
	r.loading.Hide()
	r.failure = newErrorPanel(r.load)

	note := widget.NewLabel("Recording arrives with the capture feature. Until then, notes recorded elsewhere " +
		"are under Notes, and patients can be found and added under Patients.")
	note.Wrapping = fyne.TextWrapWord

	form := container.New(layout.NewFormLayout(),
		widget.NewLabel("Patient"), container.NewVBox(r.patient.entry, r.chosen),
		widget.NewLabel("Template"), container.NewVBox(r.template, r.templateInfo),
	)
	r.box = container.NewVBox(heading("Record a visit"), form, r.loading, r.failure.box, widget.NewSeparator(),
		container.NewBorder(nil, nil, container.NewVBox(widget.NewIcon(theme.InfoIcon())), nil, note))
	return r
}

func (r *recordScreen) view() fyne.CanvasObject { return r.box }

func (r *recordScreen) shown() {
	r.patient.load()
	if !r.loaded && r.req.cancel == nil {
		r.load()
	}
}

func (r *recordScreen) hidden() {
	r.patient.stop()
	if r.req.cancel != nil {
		r.req.stop()
		r.setLoading(false)
	}
}

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
	r.templates = ts
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	r.template.SetOptions(names)
	enable(r.template, len(ts) > 0)
	if len(ts) == 0 {
		r.templateInfo.SetText("This account has no templates yet.")
	}
}

func (r *recordScreen) setLoading(on bool) {
	if on {
		r.failure.hide()
		r.loading.Show()
		r.loading.Start()
	} else {
		r.loading.Stop()
		r.loading.Hide()
	}
}

// onTemplate describes the chosen template, so the clinician knows what the
// draft will look like.
func (r *recordScreen) onTemplate(string) {
	i := r.template.SelectedIndex()
	if i < 0 || i >= len(r.templates) {
		r.templateInfo.SetText("")
		return
	}
	t := r.templates[i]
	// The description usually names the sections already; they are only
	// listed when there is no description.
	info := deref(t.Description, "")
	if s := deref(t.Sections, nil); info == "" && len(s) > 0 {
		info = "Sections: " + strings.Join(s, ", ") + "."
	}
	r.templateInfo.SetText(info)
}

package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/sync/api"
)

// noteDetail shows one progress note, read-only, inside the Notes screen.
type noteDetail struct {
	n *notesScreen

	back, refresh *widget.Button
	title         *widget.Label
	patient       *widget.Label
	template      *widget.Label
	created       *widget.Label
	status        *widget.Label
	transcription *widget.Label
	analysis      *widget.RichText
	codes         *widget.Label
	codesBox      *fyne.Container
	loading       *widget.ProgressBarInfinite
	failure       *errorPanel
	box           fyne.CanvasObject

	note api.ProgressNote
	open bool
	req  inflight
}

func newNoteDetail(n *notesScreen) *noteDetail {
	d := &noteDetail{n: n}
	d.back = widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), n.closeDetail)
	d.refresh = widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), d.load)
	d.title = heading("")
	d.title.Wrapping = fyne.TextWrapWord
	d.patient = widget.NewLabel("")
	d.template = widget.NewLabel("")
	d.created = widget.NewLabel("")
	d.status = newStatusChip()

	d.transcription = widget.NewLabel("")
	d.transcription.Wrapping = fyne.TextWrapWord
	d.transcription.Selectable = true
	d.analysis = widget.NewRichText()
	d.analysis.Wrapping = fyne.TextWrapWord
	d.codes = widget.NewLabel("")
	d.codes.Wrapping = fyne.TextWrapWord
	d.codes.Selectable = true

	d.loading = widget.NewProgressBarInfinite()
	d.loading.Stop()
	d.loading.Hide()
	d.failure = newErrorPanel(d.load)

	facts := container.New(layout.NewFormLayout(),
		widget.NewLabel("Patient"), d.patient,
		widget.NewLabel("Template"), d.template,
		widget.NewLabel("Created"), d.created,
		widget.NewLabel("Status"), d.status,
	)
	d.codesBox = container.NewVBox(section("Codes"), d.codes)
	body := container.NewVBox(
		d.title, facts, d.loading, d.failure.box,
		section("Note"), d.analysis,
		d.codesBox,
		section("Transcription"), d.transcription,
	)
	d.box = container.NewBorder(container.NewHBox(d.back, layout.NewSpacer(), d.refresh), nil, nil, nil,
		container.NewVScroll(body))
	return d
}

func section(title string) fyne.CanvasObject {
	return container.NewVBox(widget.NewSeparator(),
		widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
}

// show fills the view with what the list already knows, then fetches the
// whole note: list answers may leave out the long texts.
func (d *noteDetail) show(note api.ProgressNote) {
	d.open = true
	d.fill(note)
	d.load()
}

func (d *noteDetail) close() {
	d.open = false
	d.req.stop()
	d.setLoading(false)
}

func (d *noteDetail) load() {
	ctx := d.req.start(d.n.m.ctx)
	d.setLoading(true)
	core, id := d.n.m.shell.core, d.note.Id
	run(d.n.m.shell.b, ctx, func(ctx context.Context) (api.ProgressNote, error) {
		return core.Note(ctx, id)
	}, d.onLoaded)
}

func (d *noteDetail) onLoaded(note api.ProgressNote, err error) {
	d.req.stop()
	d.setLoading(false)
	if err != nil {
		d.failure.show(d.n.m.explain(err))
		return
	}
	d.fill(note)
}

func (d *noteDetail) setLoading(on bool) {
	showLoading(on, d.loading, d.failure)
	enable(d.refresh, !on)
}

func (d *noteDetail) fill(note api.ProgressNote) {
	d.note = note
	d.title.SetText(note.Name)
	d.patient.SetText(notePatient(note))
	d.template.SetText("—")
	if note.Template != nil {
		d.template.SetText(note.Template.Name)
	}
	d.created.SetText(formatTime(note.CreatedAt))
	setStatusChip(d.status, note)

	analysis := deref(note.Analysis, "")
	if strings.TrimSpace(analysis) == "" {
		analysis = "*No note text yet.*"
	}
	d.analysis.ParseMarkdown(analysis)
	transcription := deref(note.Transcription, "")
	if strings.TrimSpace(transcription) == "" {
		transcription = "No transcription yet."
	}
	d.transcription.SetText(transcription)

	if codes := formatCodes(note); codes != "" {
		d.codes.SetText(codes)
		d.codesBox.Show()
	} else {
		d.codesBox.Hide()
	}
}

// formatCodes lists the note's billing codes (with the model's confidence,
// where given) and screeners, one per line.
func formatCodes(note api.ProgressNote) string {
	var b strings.Builder
	line := func(kind string, c api.Code) {
		fmt.Fprintf(&b, "%s %s", kind, c.Code)
		if c.Description != nil && *c.Description != "" {
			fmt.Fprintf(&b, " — %s", *c.Description)
		}
		if c.Confidence != nil {
			fmt.Fprintf(&b, " (confidence %.0f %%)", *c.Confidence*100)
		}
		b.WriteByte('\n')
	}
	if note.Codes != nil {
		for _, c := range deref(note.Codes.Icd10, nil) {
			line("ICD-10", c)
		}
		for _, c := range deref(note.Codes.Cpt, nil) {
			line("CPT", c)
		}
	}
	for _, s := range deref(note.Screeners, nil) {
		fmt.Fprintf(&b, "%s", s.Name)
		if s.Score != nil {
			fmt.Fprintf(&b, ": %d", *s.Score)
		}
		if s.Severity != nil && *s.Severity != "" {
			fmt.Fprintf(&b, " (%s)", *s.Severity)
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

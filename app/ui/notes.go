package ui

import (
	"context"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// notesPerPage fits a page in the default window without scrolling.
const notesPerPage = 10

const (
	allPatients = "All patients"
	sortLatest  = "Latest first"
	sortOldest  = "Oldest first"
)

// notesScreen lists progress notes, filtered by patient and sorted, and
// opens one in a detail view.
type notesScreen struct {
	m *mainWindow

	patient  *patientPicker
	sort     *widget.Select
	refresh  *widget.Button
	list     *widget.List
	empty    *widget.Label
	loading  *widget.ProgressBarInfinite
	failure  *errorPanel
	pager    *pager
	listArea *fyne.Container
	listView fyne.CanvasObject
	detail   *noteDetail
	box      *fyne.Container // listView or detail.box

	items  []api.ProgressNote
	filter app.NoteFilter
	loaded bool
	req    inflight
}

func newNotesScreen(m *mainWindow) *notesScreen {
	n := &notesScreen{m: m, filter: app.NoteFilter{SortBy: "latest", Page: 1, PerPage: notesPerPage}}

	n.patient = newPatientPicker(m, allPatients, "Type a patient's name", n.onPatient)
	n.sort = widget.NewSelect([]string{sortLatest, sortOldest}, nil)
	n.sort.SetSelected(sortLatest)
	n.sort.OnChanged = n.onSort
	n.refresh = widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), n.load)

	n.list = widget.NewList(n.length, n.createRow, n.updateRow)
	n.list.OnSelected = n.onSelected
	n.empty = widget.NewLabel("")
	n.empty.Wrapping = fyne.TextWrapWord
	n.empty.Hide()
	n.loading = widget.NewProgressBarInfinite()
	n.loading.Stop()
	n.loading.Hide()
	n.failure = newErrorPanel(n.load)
	n.pager = newPager("note", "notes", n.onPrev, n.onNext)

	bold := fyne.TextStyle{Bold: true}
	header := container.NewGridWithColumns(4,
		widget.NewLabelWithStyle("Note", fyne.TextAlignLeading, bold),
		widget.NewLabelWithStyle("Patient", fyne.TextAlignLeading, bold),
		widget.NewLabelWithStyle("Created", fyne.TextAlignLeading, bold),
		widget.NewLabelWithStyle("Status", fyne.TextAlignLeading, bold),
	)
	n.listArea = container.NewBorder(header, nil, nil, nil, n.list)
	filters := container.NewBorder(nil, nil, widget.NewLabel("Patient"),
		container.NewHBox(widget.NewLabel("Sort"), n.sort, n.refresh), n.patient.entry)
	top := container.NewVBox(heading("Notes"), filters, n.loading, n.failure.box, n.empty)
	n.listView = container.NewBorder(top, container.NewCenter(n.pager.box), nil, nil, n.listArea)

	n.detail = newNoteDetail(n)
	n.box = container.NewStack(n.listView)
	return n
}

func (n *notesScreen) view() fyne.CanvasObject { return n.box }

func (n *notesScreen) shown() {
	n.patient.load()
	if !n.loaded && n.req.cancel == nil {
		n.load()
	}
	if n.detail.open {
		n.m.escape = n.closeDetail
	}
}

func (n *notesScreen) hidden() {
	n.patient.stop()
	n.detail.req.stop()
	if n.req.cancel != nil {
		n.req.stop()
		n.setLoading(false)
		n.loaded = false
	}
}

// showPatient switches to this screen filtered to p's notes.
func (n *notesScreen) showPatient(p api.Patient) {
	n.closeDetail()
	n.patient.set(p) // reloads through onPatient
	n.m.showScreen(navNotes)
}

func (n *notesScreen) onPatient(p api.Patient, ok bool) {
	n.filter.PatientID = 0
	if ok {
		n.filter.PatientID = p.Id
	}
	n.filter.Page = 1
	n.load()
}

func (n *notesScreen) onSort(s string) {
	n.filter.SortBy = "latest"
	if s == sortOldest {
		n.filter.SortBy = "oldest"
	}
	n.filter.Page = 1
	n.load()
}

func (n *notesScreen) onPrev() {
	if n.filter.Page > 1 {
		n.filter.Page--
		n.load()
	}
}

func (n *notesScreen) onNext() {
	n.filter.Page++
	n.load()
}

func (n *notesScreen) load() {
	ctx := n.req.start(n.m.ctx)
	n.setLoading(true)
	core, f := n.m.shell.core, n.filter
	run(n.m.shell.b, ctx, func(ctx context.Context) (api.Page[api.ProgressNote], error) {
		return core.Notes(ctx, f)
	}, n.onLoaded)
}

func (n *notesScreen) onLoaded(pg api.Page[api.ProgressNote], err error) {
	n.req.stop()
	n.setLoading(false)
	if err != nil {
		n.failure.show(n.m.explain(err))
		n.listArea.Hide()
		return
	}
	n.loaded = true
	n.items = pg.Items
	n.pager.set(pg.Meta)
	n.filter.Page = n.pager.page
	n.list.UnselectAll()
	n.list.Refresh()
	n.list.ScrollToTop()
	n.listArea.Show()
	switch {
	case len(n.items) > 0:
		n.empty.Hide()
	case n.filter.PatientID != 0:
		n.empty.SetText("No notes for this patient yet.")
		n.empty.Show()
	default:
		n.empty.SetText("No progress notes yet. Notes appear here once a visit has been recorded and drafted.")
		n.empty.Show()
	}
}

func (n *notesScreen) setLoading(on bool) {
	showLoading(on, n.loading, n.failure)
	n.pager.setEnabled(!on)
	enable(n.refresh, !on)
}

func (n *notesScreen) length() int { return len(n.items) }

func (n *notesScreen) createRow() fyne.CanvasObject {
	name := widget.NewLabel("")
	name.Truncation = fyne.TextTruncateEllipsis
	patient := widget.NewLabel("")
	patient.Truncation = fyne.TextTruncateEllipsis
	return container.NewGridWithColumns(4, name, patient, widget.NewLabel(""), newStatusChip())
}

func (n *notesScreen) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	note := n.items[id]
	cells := o.(*fyne.Container).Objects
	cells[0].(*widget.Label).SetText(note.Name)
	cells[1].(*widget.Label).SetText(notePatient(note))
	cells[2].(*widget.Label).SetText(formatTime(note.CreatedAt))
	setStatusChip(cells[3].(*widget.Label), note)
}

func (n *notesScreen) onSelected(id widget.ListItemID) {
	n.list.Unselect(id)
	if id < len(n.items) {
		n.openDetail(n.items[id])
	}
}

func (n *notesScreen) openDetail(note api.ProgressNote) {
	n.detail.show(note)
	n.box.Objects = []fyne.CanvasObject{n.detail.box}
	n.box.Refresh()
	n.m.escape = n.closeDetail
}

func (n *notesScreen) closeDetail() {
	if !n.detail.open {
		return
	}
	n.detail.close()
	n.box.Objects = []fyne.CanvasObject{n.listView}
	n.box.Refresh()
	n.m.escape = nil
}

// newStatusChip is the coloured status word in a note row.
func newStatusChip() *widget.Label {
	l := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// setStatusChip colours the status by what it asks of the clinician:
// waiting, ready to review, done, or needs attention.
func setStatusChip(l *widget.Label, note api.ProgressNote) {
	status := app.NoteStatus(note)
	switch {
	case strings.HasPrefix(status, "Failed"):
		l.Importance = widget.DangerImportance
	case status == "Ready":
		l.Importance = widget.SuccessImportance
	case status == "Signed":
		l.Importance = widget.HighImportance
	default:
		l.Importance = widget.WarningImportance
	}
	l.SetText(status)
}

func notePatient(n api.ProgressNote) string {
	if n.Patient == nil {
		return "—"
	}
	return app.PatientName(*n.Patient)
}

// formatTime shows a server time in the clinician's time zone.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04")
}

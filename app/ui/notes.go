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

// notesScreen lists progress notes, filtered by patient and sorted: first
// the visits kept on this computer (including those whose note is still
// queued), then the server's other notes. A visit opens in the Note screen
// (visitView), a server note in a read-only detail view.
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
	visit    *visitView
	box      *fyne.Container // listView, detail.box or visit.box

	local  []app.Visit        // on page 1: the visits on this computer
	items  []api.ProgressNote // the server's notes that are not one of those
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
	n.visit = newVisitView(n)
	n.box = container.NewStack(n.listView)
	return n
}

func (n *notesScreen) view() fyne.CanvasObject { return n.box }

func (n *notesScreen) shown() {
	n.patient.load()
	// Visits end and change while the screen is away; the list is read
	// again each time it comes into view.
	if n.req.cancel == nil {
		n.load()
	}
	switch {
	case n.visit.open:
		n.m.escape = n.closeVisit
		n.visit.resume()
	case n.detail.open:
		n.m.escape = n.closeDetail
	}
}

func (n *notesScreen) hidden() {
	n.patient.stop()
	n.detail.req.stop()
	if n.visit.open {
		n.visit.pause()
	}
	if n.req.cancel != nil {
		n.req.stop()
		n.setLoading(false)
		n.loaded = false
	}
}

// showPatient switches to this screen filtered to p's notes.
func (n *notesScreen) showPatient(p api.Patient) {
	n.closeDetail()
	n.closeVisit()
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
	run(n.m.shell.b, ctx, func(ctx context.Context) (app.NotesPage, error) {
		return core.NotesWithLocal(ctx, f)
	}, n.onLoaded)
}

func (n *notesScreen) onLoaded(pg app.NotesPage, err error) {
	n.req.stop()
	n.setLoading(false)
	if err != nil && !pg.Offline {
		n.failure.show(n.m.explain(err))
		n.listArea.Hide()
		return
	}
	if err != nil {
		// Offline: the visits on this computer are all there is; they are
		// listed, with why the server's notes are missing.
		n.failure.show(app.Explain(err))
	}
	n.loaded = true
	n.local = pg.Local
	n.items = pg.Server.Items
	n.pager.set(pg.Server.Meta)
	n.filter.Page = n.pager.page
	n.list.UnselectAll()
	n.list.Refresh()
	n.list.ScrollToTop()
	n.listArea.Show()
	switch {
	case len(n.items)+len(n.local) > 0:
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

func (n *notesScreen) length() int { return len(n.local) + len(n.items) }

func (n *notesScreen) createRow() fyne.CanvasObject {
	name := widget.NewLabel("")
	name.Truncation = fyne.TextTruncateEllipsis
	patient := widget.NewLabel("")
	patient.Truncation = fyne.TextTruncateEllipsis
	return container.NewGridWithColumns(4, name, patient, widget.NewLabel(""), newStatusChip())
}

func (n *notesScreen) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	cells := o.(*fyne.Container).Objects
	if id < len(n.local) {
		v := n.local[id]
		cells[0].(*widget.Label).SetText(visitTitle(v))
		cells[1].(*widget.Label).SetText(visitPatient(v))
		cells[2].(*widget.Label).SetText(formatTime(v.Created))
		setVisitChip(cells[3].(*widget.Label), v.Status)
		return
	}
	id -= len(n.local)
	if id >= len(n.items) {
		return
	}
	note := n.items[id]
	cells[0].(*widget.Label).SetText(note.Name)
	cells[1].(*widget.Label).SetText(notePatient(note))
	cells[2].(*widget.Label).SetText(formatTime(note.CreatedAt))
	setStatusChip(cells[3].(*widget.Label), note)
}

func (n *notesScreen) onSelected(id widget.ListItemID) {
	n.list.Unselect(id)
	switch {
	case id < len(n.local):
		n.openVisit(n.local[id].ID)
	case id-len(n.local) < len(n.items):
		n.openDetail(n.items[id-len(n.local)])
	}
}

// openVisit shows the Note screen of encounter id.
func (n *notesScreen) openVisit(id string) {
	n.closeDetail()
	n.visit.show(id)
	n.box.Objects = []fyne.CanvasObject{n.visit.box}
	n.box.Refresh()
	n.m.escape = n.closeVisit
}

// closeVisit goes back to the list, read again for the visit's new status.
func (n *notesScreen) closeVisit() {
	if !n.visit.open {
		return
	}
	n.visit.close()
	n.box.Objects = []fyne.CanvasObject{n.listView}
	n.box.Refresh()
	n.m.escape = nil
	n.load()
}

func (n *notesScreen) openDetail(note api.ProgressNote) {
	n.closeVisit()
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

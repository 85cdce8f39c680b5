package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/ehr"
)

// searchDelay is how long typing must pause before a search goes out.
const searchDelay = 300 * time.Millisecond

// patientsPerPage fits a page in the default window without scrolling.
const patientsPerPage = 10

// patientsScreen lists, searches and creates patients.
type patientsScreen struct {
	m *mainWindow

	search    *widget.Entry
	add       *widget.Button
	list      *widget.List
	empty     *widget.Label
	loading   *widget.ProgressBarInfinite
	failure   *errorPanel
	pager     *pager
	listArea  *fyne.Container
	box       fyne.CanvasObject
	form      *patientForm  // the open New patient dialog, or nil
	notice    *widget.Label // a patient kept on this computer only
	noticeBox *fyne.Container

	items    []api.Patient
	sources  map[int64][]ehr.Kind // the EHRs whose roster holds each patient
	query    string               // the search the list shows
	page     int
	perPage  int
	loaded   bool
	req      inflight
	srcReq   inflight // the read of sources alone
	debounce *debouncer
}

func newPatientsScreen(m *mainWindow) *patientsScreen {
	p := &patientsScreen{m: m, page: 1, perPage: patientsPerPage, debounce: newDebouncer(m.shell.b, searchDelay)}

	p.search = widget.NewEntry()
	p.search.SetPlaceHolder("Search patients by name")
	p.search.OnChanged = p.onSearchChanged
	p.search.OnSubmitted = p.onSearchSubmitted
	p.search.ActionItem = widget.NewIcon(theme.SearchIcon())

	p.add = widget.NewButtonWithIcon("New patient", theme.ContentAddIcon(), p.onNew)
	p.add.Importance = widget.HighImportance

	p.list = widget.NewList(p.length, p.createRow, p.updateRow)
	p.list.OnSelected = p.onSelected
	p.empty = widget.NewLabel("")
	p.empty.Hide()
	p.loading = widget.NewProgressBarInfinite()
	p.loading.Stop()
	p.loading.Hide()
	p.failure = newErrorPanel(p.load)
	p.pager = newPager("patient", "patients", p.onPrev, p.onNext)
	p.notice = widget.NewLabel("")
	p.notice.Wrapping = fyne.TextWrapWord
	showQueue := widget.NewButtonWithIcon("Show queue", theme.UploadIcon(), p.onShowQueue)
	p.noticeBox = container.NewBorder(nil, nil, widget.NewIcon(theme.InfoIcon()), showQueue, p.notice)
	p.noticeBox.Hide()

	header := container.NewGridWithColumns(4,
		widget.NewLabelWithStyle("Name", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabelWithStyle("Date of birth", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabelWithStyle("Gender", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabelWithStyle("EHR", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
	)
	p.listArea = container.NewBorder(header, nil, nil, nil, p.list)
	top := container.NewVBox(
		heading("Patients"),
		container.NewBorder(nil, nil, nil, p.add, p.search),
		p.noticeBox, p.loading, p.failure.box, p.empty,
	)
	p.box = container.NewBorder(top, container.NewCenter(p.pager.box), nil, nil, p.listArea)
	return p
}

func (p *patientsScreen) view() fyne.CanvasObject { return p.box }

func (p *patientsScreen) shown() {
	if !p.loaded {
		p.load()
	} else {
		// A roster read while the screen was away may have marked
		// patients as in an EHR.
		p.loadSources()
	}
	p.m.win.Canvas().Focus(p.search)
}

// loadSources reads again which EHRs hold each patient, keeping the page.
func (p *patientsScreen) loadSources() {
	core := p.m.shell.core
	run(p.m.shell.b, p.srcReq.start(p.m.ctx), func(ctx context.Context) (map[int64][]ehr.Kind, error) {
		return core.PatientSources(ctx)
	}, func(sources map[int64][]ehr.Kind, err error) {
		p.srcReq.stop()
		if err != nil {
			p.m.shell.log.Warn("could not read the patients' EHR sources", "error", err)
			return
		}
		p.sources = sources
		p.list.Refresh()
	})
}

func (p *patientsScreen) hidden() {
	p.debounce.cancel()
	p.srcReq.stop()
	p.noticeBox.Hide() // said once; the Queue screen follows the patient from here
	if p.req.cancel != nil {
		// The load was cut short; the next visit starts it again.
		p.req.stop()
		p.setLoading(false)
		p.loaded = false
	}
	if p.form != nil {
		p.form.close()
	}
}

func (p *patientsScreen) onSearchChanged(string) { p.debounce.call(p.applySearch) }

func (p *patientsScreen) onSearchSubmitted(string) {
	p.debounce.cancel()
	p.applySearch()
}

func (p *patientsScreen) applySearch() {
	q := strings.TrimSpace(p.search.Text)
	if q == p.query && p.loaded {
		return
	}
	p.query, p.page = q, 1
	p.load()
}

func (p *patientsScreen) onPrev() {
	if p.page > 1 {
		p.page--
		p.load()
	}
}

func (p *patientsScreen) onNext() {
	p.page++
	p.load()
}

// load fetches the page the screen is set to, replacing any fetch under way.
func (p *patientsScreen) load() {
	ctx := p.req.start(p.m.ctx)
	p.setLoading(true)
	core, query, page, perPage := p.m.shell.core, p.query, p.page, p.perPage
	log := p.m.shell.log
	run(p.m.shell.b, ctx, func(ctx context.Context) (patientsPage, error) {
		pg, err := core.Patients(ctx, query, page, perPage)
		if err != nil && !errors.Is(err, app.ErrOffline) {
			return patientsPage{page: pg}, err
		}
		// Which EHRs hold each patient is a mark beside the name; the
		// list is worth showing without it.
		sources, serr := core.PatientSources(ctx)
		if serr != nil && ctx.Err() == nil {
			log.Warn("could not read the patients' EHR sources", "error", serr)
		}
		return patientsPage{page: pg, sources: sources}, err
	}, p.onLoaded)
}

// patientsPage is one read of the list: a page of patients and the EHRs
// whose roster holds them.
type patientsPage struct {
	page    api.Page[api.Patient]
	sources map[int64][]ehr.Kind
}

func (p *patientsScreen) onLoaded(r patientsPage, err error) {
	p.req.stop()
	p.setLoading(false)
	pg := r.page
	p.sources = r.sources
	if err != nil && !errors.Is(err, app.ErrOffline) {
		p.failure.show(p.m.explain(err))
		p.listArea.Hide()
		return
	}
	if err != nil {
		// Offline: the core answered from the patients kept on this
		// computer. Show them, and say so, with Retry for when the
		// network is back.
		p.failure.show(p.m.explain(err))
	}
	p.loaded = true
	p.items = pg.Items
	p.pager.set(pg.Meta)
	p.page = p.pager.page
	p.list.UnselectAll()
	p.list.Refresh()
	p.list.ScrollToTop()
	p.listArea.Show()
	switch {
	case len(p.items) > 0:
		p.empty.Hide()
	case p.query != "":
		p.empty.SetText(fmt.Sprintf("No patients match “%s”. Check the spelling, or add them with New patient.", p.query))
		p.empty.Show()
	default:
		p.empty.SetText("No patients yet. Add one with New patient.")
		p.empty.Show()
	}
}

func (p *patientsScreen) setLoading(on bool) {
	showLoading(on, p.loading, p.failure)
	p.pager.setEnabled(!on)
}

func (p *patientsScreen) length() int { return len(p.items) }

func (p *patientsScreen) createRow() fyne.CanvasObject {
	name := widget.NewLabel("")
	name.Truncation = fyne.TextTruncateEllipsis
	ehrs := widget.NewLabel("")
	ehrs.Truncation = fyne.TextTruncateEllipsis
	return container.NewGridWithColumns(4, name, widget.NewLabel(""), widget.NewLabel(""), ehrs)
}

func (p *patientsScreen) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	pt := p.items[id]
	cells := o.(*fyne.Container).Objects
	cells[0].(*widget.Label).SetText(rosterName(pt))
	cells[1].(*widget.Label).SetText(dateOfBirth(pt))
	cells[2].(*widget.Label).SetText(orDash(pt.Gender))
	cells[3].(*widget.Label).SetText(sourcesText(p.sources[pt.Id]))
}

// sourcesText names the EHRs a patient came from, "Osmind · Kalix", or a
// dash for a patient no connected EHR holds.
func sourcesText(kinds []ehr.Kind) string {
	if len(kinds) == 0 {
		return "—"
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = app.EHRName(k)
	}
	return strings.Join(names, " · ")
}

// onSelected opens the patient's notes: the list is a way in, not a dead end.
func (p *patientsScreen) onSelected(id widget.ListItemID) {
	p.list.Unselect(id)
	if id < len(p.items) {
		p.m.notes.showPatient(p.items[id])
	}
}

// pendingNotice tells the clinician that pt is kept here, not lost.
func pendingNotice(pt api.Patient) string {
	return "Kept on this computer — " + app.PatientName(pt) + " will be added to Nextvisit when the connection returns."
}

// localMark follows the name of a patient the server does not have yet.
const localMark = " (not yet sent)"

// rosterName is pt's name as lists show it, marked while pt is only on this
// computer.
func rosterName(pt api.Patient) string {
	if app.IsLocal(pt) {
		return app.PatientName(pt) + localMark
	}
	return app.PatientName(pt)
}

func (p *patientsScreen) onNew() {
	if p.form == nil {
		p.form = newPatientForm(p)
	}
}

func (p *patientsScreen) onShowQueue() { p.m.showScreen(navQueue) }

// created is called by the form once the new patient is kept: the list
// searches for them, so they are in view. A patient kept on this computer
// only is not a failure (the outbox sends them later), so it gets a notice,
// not an error.
func (p *patientsScreen) created(added app.AddedPatient) {
	pt := added.Patient
	if added.Pending {
		msg := pendingNotice(pt)
		p.m.setStatus(msg, widget.MediumImportance)
		p.notice.SetText(msg)
		p.noticeBox.Show()
	} else {
		p.noticeBox.Hide()
		p.m.setStatus("Added "+app.PatientName(pt)+".", widget.SuccessImportance)
	}
	p.search.SetText(pt.LastName)
	p.debounce.cancel()
	p.query, p.page = strings.TrimSpace(pt.LastName), 1
	p.load()
}

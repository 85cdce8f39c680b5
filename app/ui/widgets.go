package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/sync/api"
)

// errorLabel is a wrapping label in the theme's danger colour, hidden while
// it has nothing to say.
func errorLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	return l
}

// setError shows msg in l, or hides l when msg is empty.
func setError(l *widget.Label, msg string) {
	l.SetText(msg)
	if msg == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

// errorPanel shows a failed load in place of the thing that failed to load,
// with a Retry button, so the clinician is never left looking at an empty
// list without knowing why.
type errorPanel struct {
	message *widget.Label
	retry   *widget.Button
	box     *fyne.Container
}

func newErrorPanel(retry func()) *errorPanel {
	p := &errorPanel{message: errorLabel()}
	p.message.Show()
	p.retry = widget.NewButtonWithIcon("Retry", theme.ViewRefreshIcon(), retry)
	p.box = container.NewVBox(p.message, container.NewHBox(p.retry))
	p.box.Hide()
	return p
}

func (p *errorPanel) show(msg string) {
	p.message.SetText(msg)
	p.box.Show()
}

func (p *errorPanel) hide() { p.box.Hide() }

// pager is the Prev / "Page 2 of 3 · 27 patients" / Next row under a list.
type pager struct {
	one, many  string // "patient", "patients"
	prev, next *widget.Button
	label      *widget.Label
	box        *fyne.Container

	page, last int
}

func newPager(one, many string, prev, next func()) *pager {
	p := &pager{one: one, many: many, label: widget.NewLabel("")}
	p.prev = widget.NewButtonWithIcon("Prev", theme.NavigateBackIcon(), prev)
	p.next = widget.NewButtonWithIcon("Next", theme.NavigateNextIcon(), next)
	p.next.IconPlacement = widget.ButtonIconTrailingText
	p.box = container.NewHBox(p.prev, p.label, p.next)
	p.set(api.PaginationMeta{})
	return p
}

// set shows the position a page answer reports. The API leaves every meta
// field optional, so missing ones read as page 1 of 1.
func (p *pager) set(m api.PaginationMeta) {
	p.page, p.last = deref(m.CurrentPage, 1), deref(m.LastPage, 1)
	if p.last < 1 {
		p.last = 1 // an empty result is still "page 1 of 1"
	}
	text := fmt.Sprintf("Page %d of %d", p.page, p.last)
	if m.Total != nil { // answers kept offline have no total
		noun := p.many
		if *m.Total == 1 {
			noun = p.one
		}
		text += fmt.Sprintf(" · %d %s", *m.Total, noun)
	}
	p.label.SetText(text)
	p.setEnabled(true)
}

// setEnabled turns both buttons off while a page is loading and back on,
// as far as the position allows, when it has arrived.
func (p *pager) setEnabled(on bool) {
	enable(p.prev, on && p.page > 1)
	enable(p.next, on && p.page < p.last)
}

func enable(w fyne.Disableable, on bool) {
	if on {
		w.Enable()
	} else {
		w.Disable()
	}
}

func deref[T any](p *T, zero T) T {
	if p == nil {
		return zero
	}
	return *p
}

// escEntry is an Entry that reports Escape, so a dialog can close on it even
// while one of its fields has the keyboard focus (the focused widget gets
// every key before the window does).
type escEntry struct {
	widget.Entry
	onEscape func()
}

func newEscEntry(placeholder string) *escEntry {
	e := &escEntry{}
	e.PlaceHolder = placeholder
	e.ExtendBaseWidget(e)
	return e
}

func (e *escEntry) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape && e.onEscape != nil {
		e.onEscape()
		return
	}
	e.Entry.TypedKey(k)
}

// heading is a large bold title at the top of a screen.
func heading(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.SizeName = theme.SizeNameSubHeadingText
	l.TextStyle = fyne.TextStyle{Bold: true}
	return l
}

// dateOfBirth formats a patient's date of birth, or a dash when unknown.
func dateOfBirth(p api.Patient) string {
	if p.DateOfBirth == nil {
		return "—"
	}
	return p.DateOfBirth.Time.Format("2006-01-02")
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "—"
	}
	return *s
}

// showLoading runs or stops a screen's progress bar; starting a load also hides the last failure, since a
// retry is under way.
func showLoading(on bool, bar *widget.ProgressBarInfinite, failure *errorPanel) {
	if !on {
		bar.Stop()
		bar.Hide()
		return
	}
	failure.hide()
	bar.Show()
	bar.Start()
}

package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// warningList shows what is wrong with the recording under way, in place
// under the meter: one line per kind of trouble, replaced when the same
// kind reports again and removed when it is resolved.
type warningList struct {
	box   *fyne.Container
	rows  map[string]*widget.Label // by kind
	order []string                 // kinds in the order they appeared
}

func newWarningList() *warningList {
	w := &warningList{box: container.NewVBox(), rows: map[string]*widget.Label{}}
	w.box.Hide()
	return w
}

// apply shows the warning ev raises, or removes the one it takes back.
// A change of microphone is news rather than a problem, but it is shown
// too (in plain colour): the clinician should know which one is recording.
func (w *warningList) apply(ev app.RecordingEvent) {
	if ev.Clears != "" {
		w.remove(string(ev.Clears))
	}
	switch {
	case ev.Warning:
		if ev.Kind == app.EventDeviceLost {
			w.remove(string(app.EventDeviceChanged)) // that news is out of date
		}
		w.set(string(ev.Kind), ev.Message, widget.WarningImportance)
	case ev.Kind == app.EventDeviceChanged && ev.Message != "":
		w.set(string(ev.Kind), ev.Message, widget.MediumImportance)
	}
}

func (w *warningList) has(kind app.RecordingEventKind) bool {
	_, ok := w.rows[string(kind)]
	return ok
}

func (w *warningList) set(kind, msg string, imp widget.Importance) {
	if l, ok := w.rows[kind]; ok {
		l.Importance = imp
		l.SetText(msg)
		return
	}
	l := widget.NewLabel(msg)
	l.Wrapping = fyne.TextWrapWord
	l.Importance = imp
	w.rows[kind] = l
	w.order = append(w.order, kind)
	w.rebuild()
}

func (w *warningList) remove(kind string) {
	if _, ok := w.rows[kind]; !ok {
		return
	}
	delete(w.rows, kind)
	for i, k := range w.order {
		if k == kind {
			w.order = append(w.order[:i], w.order[i+1:]...)
			break
		}
	}
	w.rebuild()
}

func (w *warningList) clear() {
	clear(w.rows)
	w.order = nil
	w.rebuild()
}

func (w *warningList) rebuild() {
	objs := make([]fyne.CanvasObject, 0, len(w.order))
	for _, k := range w.order {
		l, icon := w.rows[k], theme.WarningIcon()
		if l.Importance != widget.WarningImportance {
			icon = theme.InfoIcon()
		}
		objs = append(objs, container.NewBorder(nil, nil, widget.NewIcon(icon), nil, l))
	}
	w.box.Objects = objs
	w.box.Refresh()
	visible(w.box, len(objs) > 0)
}

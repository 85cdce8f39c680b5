package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// pickerResults is how many matches the drop-down offers at a time.
const pickerResults = 20

// patientPicker is a type-ahead patient chooser: typing searches the server
// (debounced) and fills the drop-down with the matches. The chosen patient is
// the option whose text is in the box; any other text means none.
type patientPicker struct {
	m     *mainWindow
	entry *widget.SelectEntry
	all   string // the option meaning "no particular patient", or ""
	// picked is told whenever the choice changes; ok is false for none.
	picked func(p api.Patient, ok bool)

	byLabel  map[string]api.Patient
	options  []string // what the drop-down offers
	query    string   // the search those options answer
	chosen   int64    // 0 when none
	loaded   bool
	req      inflight
	debounce *debouncer
}

func newPatientPicker(m *mainWindow, all, placeholder string, picked func(api.Patient, bool)) *patientPicker {
	pp := &patientPicker{m: m, all: all, picked: picked, byLabel: map[string]api.Patient{},
		debounce: newDebouncer(m.shell.b, searchDelay)}
	pp.entry = widget.NewSelectEntry(nil)
	pp.entry.SetPlaceHolder(placeholder)
	if all != "" {
		pp.entry.SetOptions([]string{all})
	}
	pp.entry.OnChanged = pp.onChanged
	return pp
}

// load fills the drop-down with the first patients, once.
func (pp *patientPicker) load() {
	if !pp.loaded {
		pp.search("")
	}
}

func (pp *patientPicker) stop() {
	pp.debounce.cancel()
	pp.req.stop()
}

func (pp *patientPicker) onChanged(text string) {
	text = strings.TrimSpace(text)
	if p, ok := pp.byLabel[text]; ok {
		pp.choose(p, true)
		return
	}
	pp.choose(api.Patient{}, false)
	if text == pp.all {
		text = ""
	}
	pp.debounce.call(func() { pp.search(text) })
}

func (pp *patientPicker) choose(p api.Patient, ok bool) {
	if p.Id == pp.chosen {
		return
	}
	pp.chosen = p.Id
	pp.picked(p, ok)
}

// set puts p in the box as the choice, as if picked from the drop-down.
func (pp *patientPicker) set(p api.Patient) {
	label := pickerLabel(p)
	pp.byLabel[label] = p
	pp.entry.SetText(label) // onChanged finds it and chooses it
}

// clear empties the box, which means no patient.
func (pp *patientPicker) clear() { pp.entry.SetText("") }

func (pp *patientPicker) search(text string) {
	ctx := pp.req.start(pp.m.ctx)
	core := pp.m.shell.core
	run(pp.m.shell.b, ctx, func(ctx context.Context) (api.Page[api.Patient], error) {
		return core.Patients(ctx, text, 1, pickerResults)
	}, func(pg api.Page[api.Patient], err error) { pp.onResults(text, pg, err) })
}

func (pp *patientPicker) onResults(text string, pg api.Page[api.Patient], err error) {
	pp.req.stop()
	if err != nil && !errors.Is(err, app.ErrOffline) { // offline still offers the kept patients
		pp.m.explain(err)
		return
	}
	pp.query = text
	pp.loaded = true
	opts := make([]string, 0, len(pg.Items)+1)
	if pp.all != "" {
		opts = append(opts, pp.all)
	}
	for _, p := range pg.Items {
		label := pickerLabel(p)
		if other, ok := pp.byLabel[label]; ok && other.Id != p.Id {
			label = fmt.Sprintf("%s · #%d", label, p.Id) // namesakes born the same day
		}
		pp.byLabel[label] = p
		opts = append(opts, label)
	}
	pp.options = opts
	pp.entry.SetOptions(opts)
}

// pickerLabel names a patient unambiguously enough to choose from a list,
// marked while the patient is only on this computer.
func pickerLabel(p api.Patient) string {
	label := app.PatientName(p)
	if p.DateOfBirth != nil {
		label += " · " + dateOfBirth(p)
	}
	if app.IsLocal(p) {
		label += localMark
	}
	return label
}

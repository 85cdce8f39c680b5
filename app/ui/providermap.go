package ui

import (
	"context"
	"fmt"
	"image/color"
	"os"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/mapping"
)

// notMapped is the provider choice that leaves a clinician unmapped.
const notMapped = "Not mapped"

// providerMapView maps every clinician to an EHR provider, in place of
// the External Apps cards: the suggestion and its score beside each, a
// Confirm per row, Confirm all suggested, and the mapping as CSV.
type providerMapView struct {
	a    *externalApps
	kind ehr.Kind

	back       *widget.Button
	confirmAll *widget.Button
	export     *widget.Button
	importCSV  *widget.Button
	loading    *widget.ProgressBarInfinite
	failure    *errorPanel
	msg        *widget.Label
	rowErrs    *fyne.Container // an imported file's bad rows
	empty      *widget.Label
	rows       *fyne.Container
	box        fyne.CanvasObject

	pm      app.ProviderMap
	options []string // the selects' choices: notMapped, then each provider
	views   []*providerRowView
	loaded  bool
	req     inflight
	act     inflight
}

// providerRowView is one clinician's row.
type providerRowView struct {
	v       *providerMapView
	row     app.ProviderRow
	choice  *widget.Select
	suggest *widget.Label
	state   *widget.Label
	confirm *widget.Button
	box     fyne.CanvasObject
}

func newProviderMapView(a *externalApps, kind ehr.Kind) *providerMapView {
	v := &providerMapView{a: a, kind: kind}
	name := app.EHRName(kind)
	v.back = widget.NewButtonWithIcon("External Apps", theme.NavigateBackIcon(), a.closeProviders)
	v.confirmAll = widget.NewButtonWithIcon("Confirm all suggested", theme.ConfirmIcon(), v.onConfirmAll)
	v.confirmAll.Importance = widget.HighImportance
	v.export = widget.NewButtonWithIcon("Export CSV…", theme.DownloadIcon(), v.onExport)
	v.importCSV = widget.NewButtonWithIcon("Import CSV…", theme.UploadIcon(), v.onImport)
	v.loading = widget.NewProgressBarInfinite()
	v.loading.Stop()
	v.loading.Hide()
	v.failure = newErrorPanel(v.load)
	v.msg = widget.NewLabel("")
	v.msg.Wrapping = fyne.TextWrapWord
	v.msg.Hide()
	v.rowErrs = container.New(layout.NewCustomPaddedVBoxLayout(0))
	v.empty = widget.NewLabel("")
	v.empty.Wrapping = fyne.TextWrapWord
	v.empty.Hide()
	v.rows = container.NewVBox()

	intro := widget.NewLabel("Every clinician who signs notes needs their " + name + " provider, so the note " +
		"arrives under the right name in the chart. Scribe suggests matches by email, then by how alike the " +
		"names are (1.00 is identical); check each and confirm.")
	intro.Wrapping = fyne.TextWrapWord
	bold := fyne.TextStyle{Bold: true}
	header := container.NewBorder(nil, nil, nil, actionColumn(),
		container.NewGridWithColumns(3,
			widget.NewLabelWithStyle("Clinician", fyne.TextAlignLeading, bold),
			widget.NewLabelWithStyle(name+" provider", fyne.TextAlignLeading, bold),
			widget.NewLabelWithStyle("Suggestion", fyne.TextAlignLeading, bold)))
	top := container.NewVBox(
		container.NewBorder(nil, nil, v.back, nil, heading("Providers — "+name)),
		intro,
		container.NewHBox(v.confirmAll, v.export, v.importCSV),
		v.loading, v.failure.box, v.msg, v.rowErrs, v.empty,
		widget.NewSeparator(), header)
	v.box = container.NewBorder(top, nil, nil, nil, container.NewVScroll(v.rows))
	return v
}

func (v *providerMapView) shown() {
	if !v.loaded {
		v.load()
	}
}

func (v *providerMapView) hidden() {
	v.req.stop()
	v.act.stop()
	showLoading(false, v.loading, v.failure)
	v.loaded = false
}

func (v *providerMapView) load() {
	ctx := v.req.start(v.a.m.ctx)
	showLoading(true, v.loading, v.failure)
	core, kind := v.a.m.shell.core, v.kind
	run(v.a.m.shell.b, ctx, func(ctx context.Context) (app.ProviderMap, error) {
		return core.ProviderMap(ctx, kind)
	}, v.onLoaded)
}

func (v *providerMapView) onLoaded(pm app.ProviderMap, err error) {
	v.req.stop()
	showLoading(false, v.loading, v.failure)
	if err != nil {
		v.failure.show(v.a.m.explain(err))
		return
	}
	v.loaded = true
	v.pm = pm
	v.options = []string{notMapped}
	for _, p := range pm.Providers {
		v.options = append(v.options, providerLabel(p))
	}
	v.rows.RemoveAll()
	v.views = v.views[:0]
	for _, r := range pm.Rows {
		rv := newProviderRowView(v, r)
		v.views = append(v.views, rv)
		v.rows.Add(rv.box)
	}
	v.rows.Refresh()
	switch {
	case len(pm.Rows) == 0:
		v.empty.SetText("Scribe does not know your team's clinicians yet. Check the connection to Nextvisit and come back.")
		v.empty.Show()
	case len(pm.Providers) == 0:
		v.empty.SetText(app.EHRName(v.kind) + " listed no providers. Add them there, then come back.")
		v.empty.Show()
	default:
		v.empty.Hide()
	}
	enable(v.confirmAll, slices.ContainsFunc(pm.Rows, func(r app.ProviderRow) bool {
		return !r.Confirmed && r.Suggestion != nil
	}))
}

func providerLabel(p ehr.Provider) string {
	if p.Email == "" {
		return p.Name
	}
	return p.Name + " <" + p.Email + ">"
}

// providerIndex is the select's index of provider id ("" is notMapped).
func (v *providerMapView) providerIndex(id string) int {
	if id == "" {
		return 0
	}
	i := slices.IndexFunc(v.pm.Providers, func(p ehr.Provider) bool { return p.ID == id })
	if i < 0 {
		return 0
	}
	return i + 1
}

func (v *providerMapView) provider(id string) (ehr.Provider, bool) {
	i := slices.IndexFunc(v.pm.Providers, func(p ehr.Provider) bool { return p.ID == id })
	if i < 0 {
		return ehr.Provider{}, false
	}
	return v.pm.Providers[i], true
}

// suggestionText is a suggestion as the row shows it: who and why, "by
// email" or the names' likeness, "name 0.86".
func (v *providerMapView) suggestionText(s *mapping.Suggestion) string {
	if s == nil {
		return "No likely match"
	}
	who := s.ProviderID
	if p, ok := v.provider(s.ProviderID); ok {
		who = p.Name
	}
	if s.By == mapping.ByEmail {
		return who + " · by email"
	}
	return fmt.Sprintf("%s · name %.2f", who, s.Score)
}

func newProviderRowView(v *providerMapView, r app.ProviderRow) *providerRowView {
	rv := &providerRowView{v: v, row: r}
	who := widget.NewLabel(r.Clinician.Name)
	who.Truncation = fyne.TextTruncateEllipsis
	email := captionLabel(r.Clinician.Email)
	email.Truncation = fyne.TextTruncateEllipsis
	rv.choice = widget.NewSelect(v.options, nil)
	rv.suggest = widget.NewLabel(v.suggestionText(r.Suggestion))
	rv.suggest.Truncation = fyne.TextTruncateEllipsis
	if r.Suggestion == nil || r.Confirmed {
		rv.suggest.Importance = widget.LowImportance
	}
	if r.Confirmed {
		rv.suggest.SetText("—")
	}
	rv.state = widget.NewLabelWithStyle("", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	rv.confirm = widget.NewButtonWithIcon("Confirm", theme.ConfirmIcon(), rv.onConfirm)

	chosen := r.ProviderID
	if !r.Confirmed && chosen == "" && r.Suggestion != nil {
		chosen = r.Suggestion.ProviderID
	}
	rv.choice.SetSelectedIndex(v.providerIndex(chosen))
	rv.choice.OnChanged = func(string) { rv.update() }
	rv.update()

	action := actionColumn(container.NewCenter(rv.confirm), container.NewCenter(rv.state))
	rv.box = container.NewBorder(nil, nil, nil, action, container.NewGridWithColumns(3,
		container.New(layout.NewCustomPaddedVBoxLayout(0), who, email),
		container.NewVBox(layout.NewSpacer(), rv.choice, layout.NewSpacer()),
		container.NewVBox(layout.NewSpacer(), rv.suggest, layout.NewSpacer())))
	return rv
}

// mapActionWidth is the width of the rows' last column (Confirm, or the
// row's state), the same in the header so the columns line up.
const mapActionWidth = 130

func actionColumn(objs ...fyne.CanvasObject) *fyne.Container {
	strut := canvas.NewRectangle(color.Transparent)
	strut.SetMinSize(fyne.NewSize(mapActionWidth, 0))
	return container.NewStack(append([]fyne.CanvasObject{strut}, objs...)...)
}

// chosen is the provider id the select shows ("" for notMapped).
func (rv *providerRowView) chosen() string {
	i := rv.choice.SelectedIndex()
	if i <= 0 || i > len(rv.v.pm.Providers) {
		return ""
	}
	return rv.v.pm.Providers[i-1].ID
}

// update shows Confirm while the row's choice is not the confirmed mapping,
// and the row's state otherwise.
func (rv *providerRowView) update() {
	if rv.row.Confirmed && rv.chosen() == rv.row.ProviderID {
		rv.confirm.Hide()
		if rv.row.ProviderID == "" {
			rv.state.Importance = widget.LowImportance
			rv.state.SetText("Not mapped")
		} else {
			rv.state.Importance = widget.SuccessImportance
			rv.state.SetText("Confirmed")
		}
		rv.state.Show()
		return
	}
	rv.state.Hide()
	rv.confirm.Show()
}

func (rv *providerRowView) onConfirm() {
	v, clinician, provider := rv.v, rv.row.Clinician, rv.chosen()
	v.run(func(ctx context.Context, core *app.Core) (string, error) {
		if err := core.MapProvider(ctx, v.kind, clinician.ID, provider); err != nil {
			return "", err
		}
		if provider == "" {
			return clinician.Name + " is not mapped in " + app.EHRName(v.kind) + ".", nil
		}
		return "Mapped " + clinician.Name + ".", nil
	})
}

func (v *providerMapView) onConfirmAll() {
	kind := v.kind
	v.run(func(ctx context.Context, core *app.Core) (string, error) {
		n, err := core.ConfirmSuggestions(ctx, kind)
		if err != nil {
			return "", err
		}
		return "Confirmed " + plural(n, "suggestion", "suggestions") + ".", nil
	})
}

// run does one change to the mapping, says how it went and reads the
// mapping again.
func (v *providerMapView) run(work func(ctx context.Context, core *app.Core) (string, error)) {
	v.setBusy(true)
	v.rowErrs.RemoveAll()
	ctx := v.act.start(v.a.m.ctx)
	core := v.a.m.shell.core
	run(v.a.m.shell.b, ctx, func(ctx context.Context) (string, error) {
		return work(ctx, core)
	}, func(msg string, err error) {
		v.act.stop()
		v.setBusy(false)
		v.say(msg, err)
		v.load()
	})
}

func (v *providerMapView) say(msg string, err error) {
	if err != nil {
		v.msg.Importance = widget.DangerImportance
		msg = v.a.m.explain(err)
	} else {
		v.msg.Importance = widget.SuccessImportance
	}
	v.msg.SetText(msg)
	v.msg.Show()
}

func (v *providerMapView) setBusy(busy bool) {
	for _, b := range []*widget.Button{v.confirmAll, v.export, v.importCSV} {
		enable(b, !busy)
	}
	for _, rv := range v.views {
		enable(rv.confirm, !busy)
		enable(rv.choice, !busy)
	}
}

func (v *providerMapView) onExport() {
	kind := v.kind
	v.a.files.save("scribe-providers-"+string(kind)+".csv", func(path string, err error) {
		if err != nil {
			v.say("", err)
			return
		}
		v.run(func(ctx context.Context, core *app.Core) (string, error) {
			if err := exportProviders(ctx, core, kind, path); err != nil {
				return "", err
			}
			return "Saved the mapping to " + path + ".", nil
		})
	})
}

// exportProviders writes kind's mapping to a new file at path.
func exportProviders(ctx context.Context, core *app.Core, kind ehr.Kind, path string) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create the CSV file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write the CSV file: %w", cerr)
		}
	}()
	return core.ExportProviders(ctx, kind, f)
}

// importResult is what an import did.
type importResult struct {
	applied int
	rowErrs []mapping.RowError
}

func (v *providerMapView) onImport() {
	kind := v.kind
	v.a.files.open([]string{".csv"}, func(path string, err error) {
		if err != nil {
			v.say("", err)
			return
		}
		v.setBusy(true)
		v.rowErrs.RemoveAll()
		ctx := v.act.start(v.a.m.ctx)
		core := v.a.m.shell.core
		run(v.a.m.shell.b, ctx, func(ctx context.Context) (importResult, error) {
			f, err := os.Open(path)
			if err != nil {
				return importResult{}, fmt.Errorf("open the CSV file: %w", err)
			}
			defer f.Close()
			n, rowErrs, err := core.ImportProviders(ctx, kind, f)
			return importResult{applied: n, rowErrs: rowErrs}, err
		}, v.onImported)
	})
}

func (v *providerMapView) onImported(r importResult, err error) {
	v.act.stop()
	v.setBusy(false)
	if err != nil {
		v.say("", err)
		return
	}
	msg := "Imported " + plural(r.applied, "row", "rows") + "."
	if len(r.rowErrs) > 0 {
		if len(r.rowErrs) == 1 {
			msg += " 1 row was left out; fix it in the file and import it again:"
		} else {
			msg += fmt.Sprintf(" %d rows were left out; fix them in the file and import it again:", len(r.rowErrs))
		}
		v.msg.Importance = widget.WarningImportance
	} else {
		v.msg.Importance = widget.SuccessImportance
	}
	v.msg.SetText(msg)
	v.msg.Show()
	v.rowErrs.RemoveAll()
	for _, e := range r.rowErrs {
		l := widget.NewLabel(fmt.Sprintf("Line %d: %s", e.Line, e.Msg))
		l.Importance = widget.DangerImportance
		l.Wrapping = fyne.TextWrapWord
		v.rowErrs.Add(l)
	}
	v.load()
}

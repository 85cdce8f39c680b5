package ui

import (
	"context"
	"fmt"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// recoverAtStart repairs the journals of recordings a crash (or power
// loss) interrupted, then offers every recovered recording in the main
// window's banner. It runs once per start, before anybody signs in: the
// audio is on this computer and needs no server.
func (s *Shell) recoverAtStart() {
	core := s.core
	run(s.b, s.ctx, func(ctx context.Context) ([]app.Encounter, error) {
		recovered, rerr := core.RecoverEncounters(ctx)
		// Recordings recovered at an earlier start and not queued for
		// their note since (nobody signed in) are offered again: the
		// banner is how they are found.
		all, err := core.Encounters(ctx)
		if err != nil {
			return nil, err
		}
		var out []app.Encounter
		for _, e := range recovered {
			if e.State == app.StateRecovered {
				out = append(out, e)
			}
		}
		for _, e := range all {
			if e.State == app.StateRecovered && !slices.ContainsFunc(out, func(o app.Encounter) bool { return o.ID == e.ID }) {
				out = append(out, e)
			}
		}
		return out, rerr
	}, s.onRecovered)
}

func (s *Shell) onRecovered(list []app.Encounter, err error) {
	if err != nil {
		s.log.Error("recover interrupted recordings", "error", err)
	}
	s.recovered, s.recoverErr = list, err
	if s.main != nil {
		s.main.banner.set(list, err)
	}
}

// recoveredBanner sits across the top of the main window while there are
// recovered recordings: it says how many, and offers Review (a list, each
// with Export…), Export… when there is just one, and Dismiss, which hides
// the banner for this run and keeps the recordings.
type recoveredBanner struct {
	m     *mainWindow
	files fileDialogs

	message          *widget.Label
	problem          *widget.Label
	result           *widget.Label
	review, exportBt *widget.Button
	dismiss          *widget.Button
	box              *fyne.Container

	list   []app.Encounter
	dialog dialog.Dialog // the Review list while open
	rows   []*recoveredRow
}

func newRecoveredBanner(m *mainWindow) *recoveredBanner {
	b := &recoveredBanner{m: m, files: fyneFiles{win: m.win}}
	b.message = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	b.message.Wrapping = fyne.TextWrapWord
	b.problem = errorLabel()
	b.result = widget.NewLabel("")
	b.result.Wrapping = fyne.TextWrapWord
	b.result.Hide()
	b.review = widget.NewButtonWithIcon("Review", theme.ListIcon(), b.onReview)
	b.exportBt = widget.NewButtonWithIcon("Export…", theme.DocumentSaveIcon(), b.onExportOne)
	b.dismiss = widget.NewButtonWithIcon("Dismiss", theme.CancelIcon(), b.onDismiss)
	b.box = container.NewVBox(
		container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()),
			container.NewHBox(b.review, b.exportBt, b.dismiss), b.message),
		b.problem, b.result, widget.NewSeparator())
	b.box.Hide()
	return b
}

// set shows list (and err, when recovery failed for some), or hides the
// banner when there is nothing to say.
func (b *recoveredBanner) set(list []app.Encounter, err error) {
	b.list = list
	if len(list) == 0 && err == nil {
		b.box.Hide()
		return
	}
	switch len(list) {
	case 0:
		b.message.SetText("Scribe could not check for interrupted recordings.")
	case 1:
		b.message.SetText("1 recording was interrupted and has been recovered. It is saved on this computer.")
	default:
		b.message.SetText(fmt.Sprintf("%d recordings were interrupted and have been recovered. "+
			"They are saved on this computer.", len(list)))
	}
	msg := ""
	if err != nil {
		msg = "Some recordings could not be repaired: " + app.Explain(err)
	}
	setError(b.problem, msg)
	visible(b.review, len(list) > 0)
	visible(b.exportBt, len(list) == 1)
	b.box.Show()
}

func (b *recoveredBanner) onDismiss() {
	b.box.Hide()
	b.m.shell.recovered, b.m.shell.recoverErr = nil, nil
}

func (b *recoveredBanner) onExportOne() {
	if len(b.list) != 1 {
		return
	}
	b.exportTo(b.list[0], func(err error, path string) { b.showResult(b.result, err, path) })
}

func (b *recoveredBanner) exportTo(e app.Encounter, done func(err error, path string)) {
	b.files.save(exportName(e), func(path string, err error) {
		if err != nil {
			done(err, "")
			return
		}
		exportEncounter(b.m, e.ID, path, done)
	})
}

func (b *recoveredBanner) showResult(l *widget.Label, err error, path string) {
	l.Show()
	if err != nil {
		l.Importance = widget.DangerImportance
		l.SetText("Export failed: " + app.Explain(err))
		return
	}
	l.Importance = widget.SuccessImportance
	l.SetText("Exported to " + path + ".")
}

// recoveredRow is one recording in the Review list.
type recoveredRow struct {
	enc    app.Encounter
	export *widget.Button
	result *widget.Label
}

func (b *recoveredBanner) onReview() {
	b.rows = b.rows[:0]
	items := container.NewVBox()
	for _, e := range b.list {
		row := &recoveredRow{enc: e, result: widget.NewLabel("")}
		row.result.Wrapping = fyne.TextWrapWord
		row.result.Hide()
		row.export = widget.NewButtonWithIcon("Export…", theme.DocumentSaveIcon(), func() {
			b.exportTo(row.enc, func(err error, path string) { b.showResult(row.result, err, path) })
		})
		b.rows = append(b.rows, row)
		items.Add(container.NewBorder(nil, nil, nil, row.export, widget.NewLabel(describeRecovered(e))))
		items.Add(row.result)
	}
	note := widget.NewLabel("Each recording holds the audio up to about a second before it was interrupted.")
	note.Wrapping = fyne.TextWrapWord
	content := container.NewBorder(note, nil, nil, nil, container.NewVScroll(items))
	b.dialog = dialog.NewCustom("Recovered recordings", "Close", content, b.m.win)
	b.dialog.SetOnClosed(func() { b.dialog = nil; b.m.escape = nil })
	b.dialog.Resize(fyne.NewSize(640, 400))
	b.m.escape = b.dialog.Hide
	b.dialog.Show()
}

// describeRecovered is one line about a recovered recording: when it
// started, how long it is, for which patient.
func describeRecovered(e app.Encounter) string {
	who := "no patient chosen"
	if e.PatientID != 0 {
		who = fmt.Sprintf("patient #%d", e.PatientID)
	}
	return fmt.Sprintf("Started %s · %s long · %s", e.Created.Local().Format("Mon 2 Jan 2006 15:04"),
		clock(e.Duration), who)
}

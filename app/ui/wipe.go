package ui

import (
	"context"
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// localData is the Note screen's "Delete local data…" and what it says of
// a visit's data already deleted ("Audio deleted on … (retention)").
type localData struct {
	v       *visitView
	status  *widget.Label
	button  *widget.Button
	errText *widget.Label
	box     *fyne.Container
	confirm *dialog.ConfirmDialog // open confirmation, or nil
	busy    bool
	req     inflight
}

func newLocalData(v *visitView) *localData {
	l := &localData{v: v}
	l.status = widget.NewLabel("Audio, transcript and draft are kept on this computer.")
	l.status.Wrapping = fyne.TextWrapWord
	l.button = widget.NewButtonWithIcon("Delete local data…", theme.DeleteIcon(), l.onDelete)
	l.errText = errorLabel()
	l.box = container.NewVBox(l.status, l.errText, container.NewHBox(l.button))
	return l
}

// refresh reads what of the visit's data is gone; render calls it.
func (l *localData) refresh() {
	ctx := l.req.start(l.v.n.m.ctx)
	core, id := l.v.n.m.shell.core, l.v.id
	type gone struct {
		d  app.LocalDeletion
		ok bool
	}
	run(l.v.n.m.shell.b, ctx, func(ctx context.Context) (gone, error) {
		d, ok, err := core.LocalDeletion(ctx, id)
		return gone{d, ok}, err
	}, func(g gone, err error) {
		l.req.stop()
		if err != nil || l.v.id != id {
			return
		}
		if g.ok {
			l.status.SetText(g.d.String() + ".")
			if g.d.Text && l.v.draft.Text == "" {
				// Typing into the emptied entry would replace the note at
				// the server with the new text alone.
				l.v.draft.Disable()
				l.v.draft.SetPlaceHolder("The draft was deleted from this computer; the note is at the server.")
			}
		} else {
			l.status.SetText("Audio, transcript and draft are kept on this computer.")
		}
		enable(l.button, !l.busy && !(g.ok && g.d.Text))
	})
}

// onDelete asks first: what is deleted here cannot come back.
func (l *localData) onDelete() {
	if l.busy || l.confirm != nil || !l.v.open {
		return
	}
	m := l.v.n.m
	l.confirm = dialog.NewConfirm("Delete this visit's local data?",
		"The recording, transcript and draft are deleted from this computer and cannot be recovered.\n"+
			"The note stays at the server, and the visit stays listed.", l.onConfirm, m.win)
	l.confirm.SetConfirmText("Delete")
	l.confirm.SetDismissText("Keep")
	l.confirm.SetConfirmImportance(widget.DangerImportance)
	prev := m.escape
	l.confirm.SetOnClosed(func() {
		l.confirm = nil
		m.escape = prev
	})
	m.escape = l.confirm.Hide
	l.confirm.Show()
}

func (l *localData) onConfirm(ok bool) {
	if !ok {
		return
	}
	l.busy = true
	enable(l.button, false)
	setError(l.errText, "")
	m := l.v.n.m
	core, id := m.shell.core, l.v.id
	run(m.shell.b, context.WithoutCancel(m.ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.DeleteLocalData(ctx, id)
	}, func(_ struct{}, err error) {
		l.busy = false
		if l.v.id != id {
			return
		}
		if err != nil {
			// Refused (recording, jobs still needing it): say which and
			// what to do.
			setError(l.errText, m.explain(err))
		}
		l.refresh()
		if l.v.open {
			l.v.load()
		}
	})
}

// wipeControl is Settings' "Sign out and wipe this laptop…".
type wipeControl struct {
	s       *settingsScreen
	button  *widget.Button
	confirm *dialog.ConfirmDialog // open confirmation, or nil
	done    *dialog.CustomDialog  // the notice after the wipe, before quitting
}

func newWipeControl(s *settingsScreen) *wipeControl {
	w := &wipeControl{s: s}
	w.button = widget.NewButtonWithIcon("Sign out and wipe this laptop…", theme.DeleteIcon(), w.onWipe)
	w.button.Importance = widget.DangerImportance
	return w
}

func (w *wipeControl) onWipe() {
	s := w.s
	if s.busy || s.confirm != nil || w.confirm != nil {
		return
	}
	w.confirm = dialog.NewConfirm("Sign out and wipe this laptop?",
		"This signs you out and deletes everything Scribe keeps on this computer: recordings, transcripts,\n"+
			"drafts and logs, and every sign-in token and EHR credential. Notes at the server stay there.\n"+
			"It cannot be undone. Scribe quits afterwards.", w.onConfirm, s.m.win)
	w.confirm.SetConfirmText("Wipe this laptop")
	w.confirm.SetDismissText("Cancel")
	w.confirm.SetConfirmImportance(widget.DangerImportance)
	prev := s.m.escape
	w.confirm.SetOnClosed(func() {
		w.confirm = nil
		s.m.escape = prev
	})
	s.m.escape = w.confirm.Hide
	w.confirm.Show()
}

func (w *wipeControl) onConfirm(ok bool) {
	if !ok {
		return
	}
	s := w.s
	s.setBusy(true)
	enable(w.button, false)
	setError(s.errText, "")
	s.m.setStatus("Wiping this laptop…", widget.MediumImportance)
	core := s.m.shell.core
	// Not the window's context: closing the window mid-wipe must not
	// leave half of it done.
	run(s.m.shell.b, context.WithoutCancel(s.m.ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.WipeAndSignOut(ctx)
	}, w.onWiped)
}

func (w *wipeControl) onWiped(_ struct{}, err error) {
	s := w.s
	s.setBusy(false)
	if errors.Is(err, app.ErrInUse) {
		// Refused before anything was touched (a recording under way).
		enable(w.button, true)
		setError(s.errText, s.m.explain(err))
		return
	}
	if err != nil {
		// Part of it failed after the Core closed: say what is left.
		setError(s.errText, s.m.explain(err))
		return
	}
	// The profile is gone and the Core closed: nothing is left to show.
	ok := widget.NewButton("Quit", func() { s.m.shell.fa.Quit() })
	w.done = dialog.NewCustomWithoutButtons("This laptop was wiped",
		container.NewVBox(widget.NewLabel("You are signed out, and Scribe's data was deleted from this computer."), ok), s.m.win)
	w.done.Show()
}

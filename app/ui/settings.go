package ui

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// settingsScreen shows who is signed in where, and signs out.
type settingsScreen struct {
	m *mainWindow

	name, email, server *widget.Label
	signOut             *widget.Button
	progress            *widget.ProgressBarInfinite
	errText             *widget.Label
	confirm             *dialog.ConfirmDialog // open confirmation, or nil
	prevEscape          func()                // what Escape did before it opened
	box                 fyne.CanvasObject

	busy bool
	req  inflight
}

func newSettingsScreen(m *mainWindow) *settingsScreen {
	s := &settingsScreen{m: m}
	s.name = widget.NewLabel(m.user.Name)
	s.email = widget.NewLabel(m.user.Email)
	s.server = widget.NewLabel(m.shell.core.Server())
	s.server.Selectable = true
	s.server.Truncation = fyne.TextTruncateEllipsis
	s.signOut = widget.NewButtonWithIcon("Sign out", theme.LogoutIcon(), s.onSignOut)
	s.progress = widget.NewProgressBarInfinite()
	s.progress.Stop()
	s.progress.Hide()
	s.errText = errorLabel()

	account := container.New(layout.NewFormLayout(),
		widget.NewLabel("Name"), s.name,
		widget.NewLabel("Email"), s.email,
		widget.NewLabel("Server"), s.server,
	)
	s.box = container.NewVBox(heading("Settings"),
		widget.NewLabelWithStyle("Account", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		account, s.errText, s.progress, container.NewHBox(s.signOut))
	return s
}

func (s *settingsScreen) view() fyne.CanvasObject { return s.box }
func (s *settingsScreen) shown()                  {}
func (s *settingsScreen) hidden()                 {}

// onSignOut asks first: signing out means typing the password again.
func (s *settingsScreen) onSignOut() {
	if s.busy || s.confirm != nil {
		return
	}
	s.confirm = dialog.NewConfirm("Sign out?",
		"You will need your password to sign in again.", s.onConfirm, s.m.win)
	s.confirm.SetConfirmText("Sign out")
	s.confirm.SetDismissText("Stay signed in")
	s.confirm.SetConfirmImportance(widget.DangerImportance)
	s.confirm.SetOnClosed(s.confirmClosed)
	s.prevEscape, s.m.escape = s.m.escape, s.confirm.Hide
	s.confirm.Show()
}

func (s *settingsScreen) confirmClosed() {
	s.confirm = nil
	s.m.escape, s.prevEscape = s.prevEscape, nil
}

func (s *settingsScreen) onConfirm(ok bool) {
	if !ok {
		return
	}
	s.setBusy(true)
	setError(s.errText, "")
	s.m.setStatus("Signing out…", widget.MediumImportance)
	ctx := s.req.start(s.m.ctx)
	core := s.m.shell.core
	run(s.m.shell.b, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.SignOut(ctx)
	}, s.onSignedOut)
}

func (s *settingsScreen) onSignedOut(_ struct{}, err error) {
	s.req.stop()
	s.setBusy(false)
	if err != nil {
		// SignOut forgets the local token even when the server cannot be
		// told; an error here means the token may still be on this
		// computer, so stay and say so rather than pretend.
		setError(s.errText, s.m.explain(err))
		return
	}
	s.m.shell.showSignIn("You have signed out.")
}

func (s *settingsScreen) setBusy(busy bool) {
	s.busy = busy
	enable(s.signOut, !busy)
	if busy {
		s.progress.Show()
		s.progress.Start()
	} else {
		s.progress.Stop()
		s.progress.Hide()
	}
}

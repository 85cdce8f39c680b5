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
	tabs                *container.AppTabs    // Account | Tools and AI
	home                fyne.CanvasObject     // the heading and the tabs
	apps                *externalApps         // Tools and AI → External Apps
	appsOpen            bool
	box                 *fyne.Container // home, or the External Apps panel
	lock                *lockSettings   // idle lock and consent rows (lock.go)
	wipe                *wipeControl    // Sign out and wipe this laptop (wipe.go)

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
	s.lock = newLockSettings(m)
	s.wipe = newWipeControl(s)
	accountTab := container.NewVBox(account, s.lock.box, s.errText, s.progress, container.NewHBox(s.signOut, s.wipe.button))

	// Tools and AI lists the tools Scribe works with; External Apps is the
	// EHR connectors (the seed's Settings → Tools and AI → External Apps).
	s.apps = newExternalApps(m, s.closeExternalApps)
	openApps := widget.NewButtonWithIcon("External Apps", theme.ComputerIcon(), s.openExternalApps)
	openApps.Alignment = widget.ButtonAlignLeading
	appsAbout := widget.NewLabel("Connect your EHR (Osmind, Kalix, SimplePractice, NexHealth), map providers " +
		"and choose what signed notes send.")
	appsAbout.Wrapping = fyne.TextWrapWord
	toolsTab := container.NewVBox(container.NewBorder(nil, nil, openApps, nil, appsAbout))

	s.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Account", theme.AccountIcon(), accountTab),
		container.NewTabItemWithIcon("Tools and AI", theme.ComputerIcon(), toolsTab),
	)
	s.home = container.NewBorder(heading("Settings"), nil, nil, nil, s.tabs)
	s.box = container.NewStack(s.home)
	return s
}

func (s *settingsScreen) view() fyne.CanvasObject { return s.box }

func (s *settingsScreen) shown() {
	if s.appsOpen {
		s.apps.shown()
	}
}

func (s *settingsScreen) hidden() {
	if s.appsOpen {
		s.apps.hidden()
	}
}

// openExternalApps shows the External Apps panel in place of the tabs.
func (s *settingsScreen) openExternalApps() {
	s.tabs.SelectIndex(1)
	s.appsOpen = true
	s.box.Objects = []fyne.CanvasObject{s.apps.view()}
	s.box.Refresh()
	s.apps.shown()
}

// closeExternalApps goes back to Tools and AI (the panel has stopped its
// work already).
func (s *settingsScreen) closeExternalApps() {
	s.appsOpen = false
	s.box.Objects = []fyne.CanvasObject{s.home}
	s.box.Refresh()
}

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

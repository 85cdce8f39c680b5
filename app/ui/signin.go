package ui

import (
	"context"
	"errors"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// customServer is the server choice that reveals a URL entry.
const customServer = "Custom…"

// signInTimeout bounds one sign-in attempt, so a server that accepts the
// connection and never answers cannot leave the button disabled for good.
const signInTimeout = 45 * time.Second

// signInWindow asks for the server, email and password.
type signInWindow struct {
	shell  *Shell
	win    fyne.Window
	ctx    context.Context
	cancel context.CancelFunc

	servers   []app.Server // in the order the select shows them, without Custom…
	server    *widget.Select
	customURL *widget.Entry
	email     *widget.Entry
	password  *widget.Entry
	submit    *widget.Button
	progress  *widget.ProgressBarInfinite
	notice    *widget.Label
	errText   *widget.Label
	busy      bool
}

func newSignInWindow(s *Shell) *signInWindow {
	w := &signInWindow{shell: s, win: s.fa.NewWindow("Scribe — Sign in")}
	w.ctx, w.cancel = context.WithCancel(s.ctx)
	w.win.SetOnClosed(w.cancel)

	w.servers = append(app.KnownServers(), s.opts.Servers...)
	names := make([]string, 0, len(w.servers)+1)
	for _, sv := range w.servers {
		names = append(names, sv.Name)
	}
	w.server = widget.NewSelect(append(names, customServer), nil)
	w.server.PlaceHolder = "Choose a server"

	w.customURL = widget.NewEntry()
	w.customURL.SetPlaceHolder("https://example.org/api")
	w.customURL.OnSubmitted = w.onSubmitted
	w.customURL.Hide()

	w.email = widget.NewEntry()
	w.email.SetPlaceHolder("you@clinic.example")
	w.email.OnSubmitted = w.onSubmitted

	w.password = widget.NewPasswordEntry()
	w.password.SetPlaceHolder("Password")
	w.password.OnSubmitted = w.onSubmitted

	w.submit = widget.NewButtonWithIcon("Sign in", theme.LoginIcon(), w.onSignIn)
	w.submit.Importance = widget.HighImportance

	w.progress = widget.NewProgressBarInfinite()
	w.progress.Stop()
	w.progress.Hide()
	w.notice = widget.NewLabel("")
	w.notice.Wrapping = fyne.TextWrapWord
	w.notice.Hide()
	w.errText = errorLabel()

	w.prefill()
	// Wired after prefill: onServer moves the focus, which needs the content.
	w.server.OnChanged = w.onServer

	form := container.New(layout.NewFormLayout(),
		widget.NewLabel("Server"), container.NewVBox(w.server, w.customURL),
		widget.NewLabel("Email"), w.email,
		widget.NewLabel("Password"), w.password,
	)
	title := heading("Sign in to Nextvisit")
	body := container.NewVBox(title, w.notice, form, w.errText, w.progress, w.submit)
	w.win.SetContent(container.NewPadded(body))
	w.win.Resize(fyne.NewSize(480, 320))
	w.win.CenterOnScreen()
	w.win.Canvas().Focus(w.firstEmpty())
	return w
}

// prefill restores the last server and email, so the usual sign-in is just
// the password.
func (w *signInWindow) prefill() {
	last := w.shell.core.Server()
	switch {
	case last == "":
		w.server.SetSelectedIndex(0)
	case w.serverIndex(last) >= 0:
		w.server.SetSelectedIndex(w.serverIndex(last))
	default:
		w.server.SetSelected(customServer)
		w.customURL.SetText(last)
		w.customURL.Show()
	}
	w.email.SetText(w.shell.core.LastEmail())
}

func (w *signInWindow) serverIndex(url string) int {
	for i, sv := range w.servers {
		if strings.TrimRight(sv.URL, "/") == strings.TrimRight(url, "/") {
			return i
		}
	}
	return -1
}

// firstEmpty is where the cursor belongs when the window opens.
func (w *signInWindow) firstEmpty() fyne.Focusable {
	switch {
	case w.customURL.Visible() && w.customURL.Text == "":
		return w.customURL
	case w.email.Text == "":
		return w.email
	default:
		return w.password
	}
}

func (w *signInWindow) onServer(name string) {
	if name == customServer {
		w.customURL.Show()
		w.win.Canvas().Focus(w.customURL)
	} else {
		w.customURL.Hide()
	}
	setError(w.errText, "")
}

func (w *signInWindow) setNotice(msg string) {
	w.notice.SetText(msg)
	if msg == "" {
		w.notice.Hide()
	} else {
		w.notice.Show()
	}
}

// serverURL is the base URL the current choice stands for.
func (w *signInWindow) serverURL() string {
	if w.server.Selected == customServer {
		return strings.TrimSpace(w.customURL.Text)
	}
	if i := w.server.SelectedIndex(); i >= 0 && i < len(w.servers) {
		return w.servers[i].URL
	}
	return ""
}

func (w *signInWindow) onSubmitted(string) { w.onSignIn() }

func (w *signInWindow) onSignIn() {
	if w.busy {
		return
	}
	serverURL, email, password := w.serverURL(), strings.TrimSpace(w.email.Text), w.password.Text
	var missing string
	var field fyne.Focusable
	switch {
	case w.server.Selected == customServer && serverURL == "":
		missing, field = "Enter the server's URL, e.g. https://nextvisit.app/api.", w.customURL
	case serverURL == "":
		missing, field = "Choose a server.", w.server
	case email == "":
		missing, field = "Enter the email address of your Nextvisit account.", w.email
	case password == "":
		missing, field = "Enter your password.", w.password
	}
	if missing != "" {
		setError(w.errText, missing)
		w.win.Canvas().Focus(field)
		return
	}
	setError(w.errText, "")
	w.setNotice("")
	w.setBusy(true)
	core := w.shell.core
	run(w.shell.b, w.ctx, func(ctx context.Context) (api.User, error) {
		ctx, cancel := context.WithTimeout(ctx, signInTimeout)
		defer cancel()
		return core.SignIn(ctx, serverURL, email, password)
	}, w.signedIn)
}

func (w *signInWindow) signedIn(u api.User, err error) {
	w.setBusy(false)
	if err != nil {
		w.shell.log.Info("sign-in failed", "error", err)
		setError(w.errText, app.Explain(err))
		if errors.Is(err, api.ErrUnauthorized) {
			w.password.SetText("") // refused: it is typed again anyway
		}
		w.win.Canvas().Focus(w.password)
		return
	}
	w.password.SetText("")
	w.shell.showMain(u)
}

func (w *signInWindow) setBusy(busy bool) {
	w.busy = busy
	for _, d := range []fyne.Disableable{w.submit, w.server, w.customURL, w.email, w.password} {
		enable(d, !busy)
	}
	if busy {
		w.submit.SetText("Signing in…")
		w.progress.Show()
		w.progress.Start()
	} else {
		w.submit.SetText("Sign in")
		w.progress.Stop()
		w.progress.Hide()
	}
}

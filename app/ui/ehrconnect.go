package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
)

// How a connection is made (app.Connection.Auth).
const (
	authOAuth  = "oauth"
	authToken  = "token"
	authAPIKey = "api-key"
)

// authOf is how conn connects; a connection read before Core said falls
// back to what its kind always uses.
func authOf(conn app.Connection) string {
	if conn.Auth != "" {
		return conn.Auth
	}
	switch conn.Kind {
	case ehr.SimplePractice:
		return authToken
	case ehr.NexHealth:
		return authAPIKey
	}
	return authOAuth
}

// connectDialog connects one EHR: through the browser (Osmind, Kalix), with
// a pasted API token (SimplePractice) or with an API key, subdomain and
// location (NexHealth). It stays open until the connection is made or the
// admin gives up, showing Core's words when the EHR refuses.
type connectDialog struct {
	a    *externalApps
	kind ehr.Kind
	auth string
	dlg  *dialog.CustomDialog

	address                     *escEntry
	token                       *escEntry // SimplePractice
	apiKey, subdomain, location *escEntry // NexHealth
	errText                     *widget.Label
	waiting                     *widget.Label // "Continue in your browser…"
	progress                    *widget.ProgressBarInfinite
	connect, cancel             *widget.Button

	prevEscape func()
	busy       bool
	req        inflight
}

func newConnectDialog(a *externalApps, conn app.Connection) *connectDialog {
	d := &connectDialog{a: a, kind: conn.Kind, auth: authOf(conn)}
	name := app.EHRName(conn.Kind)

	intro := widget.NewLabel("")
	intro.Wrapping = fyne.TextWrapWord
	form := container.New(layout.NewFormLayout())
	switch d.auth {
	case authToken:
		intro.SetText("Generate an API token in your " + name + " account settings, under API or Integrations " +
			"(the exact place moves around), copy it and paste it here.")
		d.token = d.secretEntry("Paste the API token")
		form.Add(widget.NewLabel("API token"))
		form.Add(d.token)
	case authAPIKey:
		intro.SetText("Enter the API key " + name + " gave you, your institution's subdomain and the location " +
			"Scribe sends notes to. One connection serves one location.")
		d.apiKey = d.secretEntry("The API key")
		d.subdomain = d.entry("e.g. riverside-bh")
		d.location = d.entry("e.g. 2101")
		form.Add(widget.NewLabel("API key"))
		form.Add(d.apiKey)
		form.Add(widget.NewLabel("Subdomain"))
		form.Add(d.subdomain)
		form.Add(widget.NewLabel("Location ID"))
		form.Add(d.location)
	default:
		intro.SetText("Connect opens " + name + " in your browser. Sign in with your " + name +
			" administrator account and allow Nextvisit to read the patient roster and write notes; " +
			"then come back here.")
	}
	d.address = d.entry("https://…")
	d.address.SetText(a.m.shell.core.EHRDefaultURL(conn.Kind))
	if conn.BaseURL != "" {
		d.address.SetText(conn.BaseURL)
	}
	form.Add(widget.NewLabel("Address"))
	form.Add(d.address)

	d.errText = errorLabel()
	d.waiting = widget.NewLabel("")
	d.waiting.Wrapping = fyne.TextWrapWord
	d.waiting.Hide()
	d.progress = widget.NewProgressBarInfinite()
	d.progress.Stop()
	d.progress.Hide()

	d.cancel = widget.NewButton("Cancel", d.onCancel)
	d.connect = widget.NewButtonWithIcon("Connect", theme.LoginIcon(), d.onConnect)
	d.connect.Importance = widget.HighImportance

	d.dlg = dialog.NewCustomWithoutButtons("Connect "+name,
		container.NewVBox(intro, form, d.errText, d.waiting, d.progress), a.m.win)
	d.dlg.SetButtons([]fyne.CanvasObject{d.cancel, d.connect})
	d.dlg.SetOnClosed(d.closed)
	fitDialog(d.dlg, connectWidth)
	d.dlg.Show()
	d.prevEscape, a.m.escape = a.m.escape, d.close
	switch {
	case d.token != nil:
		a.m.win.Canvas().Focus(d.token)
	case d.apiKey != nil:
		a.m.win.Canvas().Focus(d.apiKey)
	}
	return d
}

func (d *connectDialog) entry(placeholder string) *escEntry {
	e := newEscEntry(placeholder)
	e.onEscape = d.close
	e.OnSubmitted = func(string) { d.onConnect() }
	return e
}

// secretEntry hides what is typed: tokens and keys are passwords.
func (d *connectDialog) secretEntry(placeholder string) *escEntry {
	e := d.entry(placeholder)
	e.Password = true
	return e
}

// request is what the form holds, or the first thing missing from it.
func (d *connectDialog) request() (app.ConnectRequest, string) {
	req := app.ConnectRequest{Kind: d.kind, BaseURL: strings.TrimSpace(d.address.Text)}
	switch d.auth {
	case authToken:
		req.Token = strings.TrimSpace(d.token.Text)
		if req.Token == "" {
			return req, "Paste the API token from " + app.EHRName(d.kind) + "."
		}
	case authAPIKey:
		req.APIKey = strings.TrimSpace(d.apiKey.Text)
		req.Subdomain = strings.TrimSpace(d.subdomain.Text)
		req.LocationID = strings.TrimSpace(d.location.Text)
		switch {
		case req.APIKey == "":
			return req, "Enter the API key."
		case req.Subdomain == "":
			return req, "Enter the subdomain, the part before .nexhealth.com."
		case req.LocationID == "":
			return req, "Enter the location ID Scribe sends notes to."
		}
	}
	return req, ""
}

func (d *connectDialog) onConnect() {
	if d.busy {
		return
	}
	req, missing := d.request()
	if missing != "" {
		d.say(missing)
		return
	}
	d.say("")
	d.setBusy(true)
	ctx := d.req.start(d.a.m.ctx)
	core := d.a.m.shell.core
	run(d.a.m.shell.b, ctx, func(ctx context.Context) (app.Connection, error) {
		return core.ConnectEHR(ctx, req)
	}, d.onConnected)
}

func (d *connectDialog) onConnected(conn app.Connection, err error) {
	d.req.stop()
	d.setBusy(false)
	if err != nil {
		d.say(d.a.m.explain(err))
		return
	}
	d.close()
	d.a.took(conn)
	msg := "Connected to " + app.EHRName(conn.Kind) + "."
	if conn.State == app.ConnTest {
		msg += " Send one test note before automatic pushes start."
	}
	d.a.m.setStatus(msg, widget.SuccessImportance)
}

// onCancel stops a connection under way (the browser's wait ends with it),
// or closes the dialog.
func (d *connectDialog) onCancel() {
	if !d.busy {
		d.close()
		return
	}
	d.req.stop()
	d.setBusy(false)
	d.say("Cancelled; nothing was connected.")
}

func (d *connectDialog) setBusy(busy bool) {
	d.busy = busy
	enable(d.connect, !busy)
	for _, e := range []*escEntry{d.address, d.token, d.apiKey, d.subdomain, d.location} {
		if e != nil {
			enable(e, !busy)
		}
	}
	defer fitDialog(d.dlg, connectWidth)
	if !busy {
		d.progress.Stop()
		d.progress.Hide()
		d.waiting.Hide()
		return
	}
	name := app.EHRName(d.kind)
	switch d.auth {
	case authOAuth:
		d.waiting.SetText("Continue in your browser… Sign in to " + name + " and allow access; " +
			"Scribe finishes the connection when the browser comes back. Cancel stops waiting.")
	default:
		d.waiting.SetText("Checking the credentials with " + name + "…")
	}
	d.waiting.Show()
	d.progress.Show()
	d.progress.Start()
}

// say shows msg under the form ("" hides it).
func (d *connectDialog) say(msg string) {
	setError(d.errText, msg)
	fitDialog(d.dlg, connectWidth)
}

// close dismisses the dialog; a connection under way is abandoned.
func (d *connectDialog) close() { d.dlg.Hide() }

func (d *connectDialog) closed() {
	d.req.stop()
	d.busy = false
	if d.a.connect == d {
		d.a.connect = nil
	}
	d.a.m.escape, d.prevEscape = d.prevEscape, nil
}

// confirmDisconnect asks before c's connection is dropped: its credentials
// are forgotten and its queued pushes cancelled.
func confirmDisconnect(c *ehrCard) {
	name := app.EHRName(c.kind)
	d := dialog.NewConfirm("Disconnect "+name+"?",
		"Scribe forgets the "+name+" credentials and cancels notes still waiting to go there "+
			"(they stay signed here).\nThe provider mapping is kept for when you connect again.",
		func(ok bool) {
			if !ok {
				return
			}
			kind := c.kind
			c.act(func(ctx context.Context, core *app.Core) error {
				return core.DisconnectEHR(ctx, kind)
			}, "Disconnected from "+name+".")
		}, c.a.m.win)
	d.SetConfirmText("Disconnect")
	d.SetDismissText("Keep connected")
	d.SetConfirmImportance(widget.DangerImportance)
	showDialog(c.a.m, d)
}

// connectWidth is the Connect dialog's width: room for an address.
const connectWidth = 560

// fitDialog sizes d to width and the height of what it holds now: a
// message shown after it opened makes it taller, not crowded.
func fitDialog(d dialog.Dialog, width float32) {
	d.Resize(fyne.NewSize(width, 0))
}

// showDialog shows d with Escape closing it, and gives Escape back to
// whatever had it when d closes.
func showDialog(m *mainWindow, d dialog.Dialog) {
	prev := m.escape
	d.SetOnClosed(func() { m.escape = prev })
	m.escape = d.Hide
	d.Show()
}

// showInfo shows content in a dialog with a Close button.
func showInfo(m *mainWindow, title string, content fyne.CanvasObject) {
	showDialog(m, dialog.NewCustom(title, "Close", content, m.win))
}

package ui

import (
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// fillSignIn chooses server (a name in the select), and types email and
// password into an empty form.
func fillSignIn(t *testing.T, w *signInWindow, server, email, password string) {
	t.Helper()
	w.server.SetSelected(server)
	if w.server.Selected != server {
		t.Fatalf("server select has no %q; options %q", server, w.server.Options)
	}
	w.email.SetText("")
	test.Type(w.email, email)
	test.Type(w.password, password)
}

func TestSignInOpensMainWindow(t *testing.T) {
	h := newHarness(t, false)
	w := h.shell.signIn
	if w == nil || h.shell.main != nil {
		t.Fatal("with nobody signed in, the sign-in window should be the one shown")
	}
	if got, want := w.server.Options, []string{"Production", "Beta", "Sandbox", customServer}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("server choices = %q, want %q", got, want)
	}
	fillSignIn(t, w, "Sandbox", sandbox.SampleEmail, sandbox.SamplePassword)
	press(w.password, fyne.KeyReturn) // Enter submits

	if w.submit.Disabled() != true || !w.progress.Visible() {
		t.Error("while signing in, the button should be disabled and the progress bar showing")
	}
	h.waitFor("the main window", func() bool { return h.shell.main != nil })

	u, ok := h.core.User()
	if !ok || u.Name == "" {
		t.Fatalf("core.User() = %+v, %v after signing in", u, ok)
	}
	m := h.main()
	if m.win.Title() != "Scribe" {
		t.Errorf("main window title = %q, want Scribe", m.win.Title())
	}
	if m.name.Text != u.Name {
		t.Errorf("main window shows user %q, want %q", m.name.Text, u.Name)
	}
	if sz := m.win.Canvas().Size(); sz.Width < 1000 || sz.Height < 700 {
		t.Errorf("main window size = %v, want about 1100x720", sz)
	}
	if h.shell.signIn != nil || h.windowOpen(w.win) {
		t.Error("the sign-in window should close once the main window is open")
	}
	if h.core.Server() != h.url || h.core.LastEmail() != sandbox.SampleEmail {
		t.Errorf("core remembers server %q email %q, want %q %q", h.core.Server(), h.core.LastEmail(), h.url, sandbox.SampleEmail)
	}
}

func TestSignInWrongPasswordStaysWithMessage(t *testing.T) {
	h := newHarness(t, false)
	w := h.shell.signIn
	fillSignIn(t, w, "Sandbox", sandbox.SampleEmail, "not-the-password")
	test.Tap(w.submit)
	h.waitFor("the sign-in to finish", func() bool { return !w.busy })

	// What the window must say is what the core's error explains to.
	_, err := h.core.SignIn(h.ctx(), h.url, sandbox.SampleEmail, "not-the-password")
	if !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("core.SignIn with a wrong password: %v, want ErrUnauthorized", err)
	}
	if got, want := labelText(w.errText), app.Explain(err); got != want || got == "" {
		t.Errorf("error shown = %q, want %q", got, want)
	}
	if h.shell.main != nil || h.shell.signIn != w || !h.windowOpen(w.win) {
		t.Error("a failed sign-in must leave the sign-in window open and open no main window")
	}
	if w.submit.Disabled() || w.progress.Visible() {
		t.Error("after a failure the button should be enabled and the progress bar gone")
	}
	if w.password.Text != "" || w.win.Canvas().Focused() != w.password {
		t.Error("a refused password should be cleared, with the cursor there to type it again")
	}
	if w.email.Text != sandbox.SampleEmail {
		t.Errorf("email = %q; it should be kept", w.email.Text)
	}
	if _, ok := h.core.User(); ok {
		t.Error("core has a user after a failed sign-in")
	}
}

func TestSignInBadServerShowsMessage(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"not a URL", "not a url"},
		{"no scheme", "127.0.0.1:9/api"},
		{"unreachable", "http://127.0.0.1:1/api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, false)
			w := h.shell.signIn
			fillSignIn(t, w, customServer, sandbox.SampleEmail, sandbox.SamplePassword)
			if !w.customURL.Visible() {
				t.Fatal("choosing Custom… should reveal the URL entry")
			}
			test.Type(w.customURL, tc.url)
			press(w.customURL, fyne.KeyReturn)
			h.waitFor("the sign-in to finish", func() bool { return !w.busy })

			_, err := h.core.SignIn(h.ctx(), tc.url, sandbox.SampleEmail, sandbox.SamplePassword)
			if err == nil {
				t.Fatalf("core.SignIn(%q) succeeded", tc.url)
			}
			if got, want := labelText(w.errText), app.Explain(err); got != want || got == "" {
				t.Errorf("error shown = %q, want %q", got, want)
			}
			if h.shell.main != nil {
				t.Error("main window opened after a failed sign-in")
			}
		})
	}
}

func TestSignInAsksForWhatIsMissing(t *testing.T) {
	h := newHarness(t, false)
	w := h.shell.signIn
	fillSignIn(t, w, "Sandbox", sandbox.SampleEmail, "")
	test.Tap(w.submit)
	if w.busy || !strings.Contains(labelText(w.errText), "password") {
		t.Errorf("empty password: busy=%v, message %q; want no request and a message about the password", w.busy, labelText(w.errText))
	}
	if w.win.Canvas().Focused() != w.password {
		t.Error("the cursor should be put in the missing field")
	}

	w.server.SetSelected(customServer)
	test.Type(w.password, "x")
	test.Tap(w.submit)
	if w.busy || !strings.Contains(labelText(w.errText), "URL") {
		t.Errorf("empty custom URL: busy=%v, message %q; want no request and a message about the URL", w.busy, labelText(w.errText))
	}
}

func TestSignInPrefillsLastServerAndEmail(t *testing.T) {
	h := newHarness(t, true)
	// Signing out leaves the server and email behind for next time.
	m := h.main()
	m.settings.onSignOut()
	m.settings.confirm.Confirm()
	h.waitFor("the sign-in window", func() bool { return h.shell.signIn != nil })
	w := h.shell.signIn
	if w.server.Selected != "Sandbox" {
		t.Errorf("server = %q, want the one used last (Sandbox)", w.server.Selected)
	}
	if w.email.Text != sandbox.SampleEmail {
		t.Errorf("email = %q, want %q", w.email.Text, sandbox.SampleEmail)
	}
	if w.password.Text != "" {
		t.Error("the password must never be prefilled")
	}
	if w.win.Canvas().Focused() != w.password {
		t.Error("with server and email known, the cursor should start in the password")
	}
	if labelText(w.notice) != "You have signed out." {
		t.Errorf("notice = %q, want the sign-out confirmation", labelText(w.notice))
	}
}

// The sign-in window's layout, for a first run (nothing to prefill).
func TestSignInWindowMarkup(t *testing.T) {
	h := newHarness(t, false)
	test.AssertRendersToMarkup(t, "signin.xml", h.shell.signIn.win.Canvas())
}

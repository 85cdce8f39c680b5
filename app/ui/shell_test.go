package ui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

func TestResumedSessionOpensMainWindow(t *testing.T) {
	h := newHarness(t, true)
	if h.shell.signIn != nil {
		t.Error("with a signed-in core, no sign-in window should open")
	}
	m := h.main()
	if m.current != navRecord {
		t.Errorf("first screen = %d, want Record", m.current)
	}
	u, _ := h.core.User()
	if m.name.Text != u.Name || u.Name == "" {
		t.Errorf("sidebar shows %q, want %q", m.name.Text, u.Name)
	}
	if m.nav.Length() != 5 {
		t.Errorf("sidebar has %d entries, want 5", m.nav.Length())
	}
}

func TestShortcutsSwitchScreens(t *testing.T) {
	h := newHarness(t, true)
	m := h.main()
	var goMenu *fyne.Menu
	for _, menu := range m.win.MainMenu().Items {
		if menu.Label == "Go" {
			goMenu = menu
		}
	}
	if goMenu == nil {
		t.Fatal("no Go menu")
	}
	for i, want := range []struct {
		label  string
		key    fyne.KeyName
		screen int
	}{{"Record", fyne.Key1, navRecord}, {"Notes", fyne.Key2, navNotes}, {"Patients", fyne.Key3, navPatients}, {"Settings", fyne.Key4, navSettings}, {"Queue", fyne.Key5, navQueue}} {
		item := goMenu.Items[i]
		sc, ok := item.Shortcut.(*desktop.CustomShortcut)
		if item.Label != want.label || !ok || sc.KeyName != want.key || sc.Modifier != fyne.KeyModifierShortcutDefault {
			t.Errorf("Go menu item %d = %q %v, want %q on Ctrl/Cmd+%s", i, item.Label, item.Shortcut, want.label, want.key)
		}
	}
	// Go backwards so every step is a change.
	for i := len(goMenu.Items) - 1; i >= 0; i-- {
		goMenu.Items[i].Action()
		if m.current != i || m.content.Objects[0] != m.items[i].screen.view() {
			t.Errorf("after %s: current screen %d", goMenu.Items[i].Label, m.current)
		}
	}
}

func TestRecordScreenOffersPatientsAndTemplates(t *testing.T) {
	h := newHarness(t, true)
	r := h.main().record
	h.waitFor("templates and patients", func() bool {
		return r.loaded && r.patient.loaded && !r.loading.Visible()
	})
	want, err := h.core.Templates(h.ctx())
	if err != nil || len(want) == 0 {
		t.Fatalf("core.Templates: %v, %d", err, len(want))
	}
	names := make([]string, len(want))
	for i, tp := range want {
		names[i] = tp.Name
	}
	if !slices.Equal(r.template.Options, names) || r.template.Disabled() {
		t.Errorf("template choices %q (disabled %v), want %q", r.template.Options, r.template.Disabled(), names)
	}
	r.template.SetSelectedIndex(0)
	if desc := deref(want[0].Description, ""); desc != "" && !strings.Contains(r.templateInfo.Text, desc) {
		t.Errorf("template info %q does not describe %q", r.templateInfo.Text, desc)
	}

	// Type-ahead: a surname fragment narrows the drop-down to matches.
	first, err := h.core.Patients(h.ctx(), "", 1, 1)
	if err != nil || len(first.Items) == 0 {
		t.Fatalf("core.Patients: %v", err)
	}
	pt := first.Items[0]
	frag := strings.ToLower(pt.LastName)
	test.Type(r.patient.entry, frag)
	label := pickerLabel(pt)
	h.waitFor("matching patients in the drop-down", func() bool { return r.patient.query == frag })
	if !slices.Contains(r.patient.options, label) {
		t.Errorf("drop-down for %q offers %q, not %q", frag, r.patient.options, label)
	}
	for _, o := range r.patient.options {
		if !strings.Contains(strings.ToLower(o), frag) {
			t.Errorf("drop-down offers %q for %q", o, frag)
		}
	}
	r.patient.entry.SetText(label) // what choosing the option does
	if !strings.Contains(r.chosen.Text, app.PatientName(pt)) {
		t.Errorf("after choosing: %q", r.chosen.Text)
	}
}

func TestSignOutReturnsToSignIn(t *testing.T) {
	h := newHarness(t, true)
	m := h.main()
	m.showScreen(navSettings)
	s := m.settings
	u, _ := h.core.User()
	if s.name.Text != u.Name || s.email.Text != u.Email || s.server.Text != h.url {
		t.Errorf("settings shows %q %q %q, want %q %q %q", s.name.Text, s.email.Text, s.server.Text, u.Name, u.Email, h.url)
	}

	// Declining keeps everything as it was.
	test.Tap(s.signOut)
	if s.confirm == nil {
		t.Fatal("Sign out should ask first")
	}
	s.confirm.Hide()
	if _, ok := h.core.User(); !ok || h.shell.main != m {
		t.Fatal("declining the confirmation signed out anyway")
	}

	test.Tap(s.signOut)
	s.confirm.Confirm()
	h.waitFor("the sign-in window", func() bool { return h.shell.signIn != nil })
	if h.shell.main != nil || h.windowOpen(m.win) {
		t.Error("the main window should close on sign-out")
	}
	if _, ok := h.core.User(); ok {
		t.Error("core still has a user after sign-out")
	}
	if m.ctx.Err() == nil {
		t.Error("closing the main window should cancel its work")
	}
	// The token is gone at the server too: the sandbox no longer accepts it.
	if _, err := h.core.Resume(h.ctx()); err == nil {
		t.Error("Resume succeeded after sign-out")
	}
}

func TestExpiredSessionReturnsToSignIn(t *testing.T) {
	h := newHarness(t, true)
	m := h.main()
	// Another device signs this token out; the next request is refused.
	c := h.client()
	toks, err := c.Tokens(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	// Revoke the core's token; this client's own goes last.
	slices.SortFunc(toks, func(a, b api.TokenInfo) int {
		return cmpBool(deref(a.Current, false), deref(b.Current, false))
	})
	for _, tk := range toks {
		if err := c.RevokeToken(h.ctx(), tk.Id); err != nil {
			t.Fatal(err)
		}
	}
	m.showScreen(navPatients)
	h.waitFor("the sign-in window", func() bool { return h.shell.signIn != nil })
	if h.shell.main != nil || h.windowOpen(m.win) {
		t.Error("the main window should close when the session ends")
	}
	if _, err := h.core.Patients(h.ctx(), "", 1, 1); !errors.Is(err, app.ErrSignedOut) {
		t.Fatalf("core.Patients after the token was refused: %v, want ErrSignedOut", err)
	}
	// The notice explains the refusal the window met.
	refused := fmt.Errorf("list patients: %w", api.ErrUnauthorized)
	if got, want := labelText(h.shell.signIn.notice), app.Explain(refused); got != want || got == "" {
		t.Errorf("sign-in notice %q, want %q", got, want)
	}
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

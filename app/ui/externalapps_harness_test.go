package ui

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	"github.com/nextvisit/scribe/sync/sandbox"
	sboauth "github.com/nextvisit/scribe/sync/sandbox/ehr/oauthehr"
)

// ehrBrowser stands in for the system browser when an OAuth EHR is
// connected: it signs in as the EHR's sample administrator and allows
// access, as ehrtest.Browser does. With stall set it opens nothing, as a
// browser the admin walked away from, so the app waits until cancelled.
type ehrBrowser struct {
	t      *testing.T
	stall  atomic.Bool
	opened chan string // each authorization URL shown
}

func (b *ehrBrowser) open(ctx context.Context, authURL string) error {
	select {
	case b.opened <- authURL:
	default:
		b.t.Errorf("the app opened the browser more often than the test expected")
	}
	if b.stall.Load() {
		return nil
	}
	name := "Osmind"
	if strings.Contains(authURL, "/kalix") {
		name = "Kalix"
	}
	br := &ehrtest.Browser{Email: sboauth.AdminEmail(name), Password: sboauth.AdminPassword}
	return br.Open(b.t)(ctx, authURL)
}

// ehrHarness is a signed-in harness whose core shows OAuth pages to the
// browser stand-in, and whose CSV dialogs answer with the test's paths.
type ehrHarness struct {
	*harness
	browser *ehrBrowser
	files   *pickedFiles
}

func newEHRHarness(t *testing.T) *ehrHarness {
	t.Helper()
	ctx := t.Context()
	sb, err := sandbox.New(ctx, sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	url, err := sb.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	profile := t.TempDir()
	secrets, err := platform.NewFileVault(profile)
	if err != nil {
		t.Fatalf("file vault: %v", err)
	}
	br := &ehrBrowser{t: t, opened: make(chan string, 8)}
	core, err := app.Open(ctx, app.Config{ProfileDir: profile, Secrets: secrets, EHRBrowser: br.open})
	if err != nil {
		t.Fatalf("open core: %v", err)
	}
	t.Cleanup(func() { _ = core.Close() })
	if _, err := core.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	fa := test.NewTempApp(t)
	q := newUIQueue()
	h := &harness{t: t, fa: fa, core: core, q: q, sandbox: sb, url: url}
	h.shell = newShell(fa, core, Options{Servers: []app.Server{{Name: "Sandbox", URL: url}}}, q.post)
	t.Cleanup(h.shell.stop)
	h.shell.show()
	files := &pickedFiles{}
	h.main().settings.apps.files = files
	return &ehrHarness{harness: h, browser: br, files: files}
}

// openApps goes Settings → Tools and AI → External Apps, as the admin
// would, and waits for the cards.
func (h *ehrHarness) openApps() *externalApps {
	h.t.Helper()
	m := h.main()
	m.showScreen(navSettings)
	s := m.settings
	if n := len(s.tabs.Items); n != 2 || s.tabs.Items[0].Text != "Account" || s.tabs.Items[1].Text != "Tools and AI" {
		h.t.Fatalf("Settings has %d sections; want Account | Tools and AI", n)
	}
	s.tabs.SelectIndex(1)
	b := findButton(s.tabs.Items[1].Content, "External Apps")
	if b == nil {
		h.t.Fatal("Tools and AI lists no External Apps")
	}
	test.Tap(b)
	a := s.apps
	if s.box.Objects[0] != a.view() {
		h.t.Fatal("External Apps did not open")
	}
	h.waitFor("the External Apps cards", func() bool { return a.loaded })
	return a
}

// waitConn waits, through the panel's own refresh, for kind's card to
// show a connection that satisfies cond.
func (h *ehrHarness) waitConn(a *externalApps, kind ehr.Kind, what string, cond func(app.Connection) bool) app.Connection {
	h.t.Helper()
	h.waitFor(what, func() bool { return cond(a.cards[kind].conn) })
	return a.cards[kind].conn
}

// waitCore waits for a condition on the core that no screen follows,
// woken by changed's signal rather than a clock.
func (h *ehrHarness) waitCore(what string, changed func() <-chan struct{}, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		ch := changed()
		h.q.drain()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-h.q.ready:
		case <-deadline.C:
			h.t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
	}
}

// connectWithToken connects SimplePractice through its card and dialog.
func (h *ehrHarness) connectWithToken(a *externalApps, token string) {
	h.t.Helper()
	test.Tap(a.cards[ehr.SimplePractice].connect)
	d := a.connect
	if d == nil || d.token == nil {
		h.t.Fatal("Connect opened no token dialog for SimplePractice")
	}
	d.token.SetText(token)
	test.Tap(d.connect)
}

// escape presses Escape on the main window (no widget has the focus).
func (h *ehrHarness) escape() {
	h.main().win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape})
}

// capture saves the main window as /tmp/ehr-ui-<name>.png, for a person
// to look at.
func (h *ehrHarness) capture(name string) {
	h.t.Helper()
	h.q.drain()
	c := h.main().win.Canvas()
	for _, o := range append([]fyne.CanvasObject{c.Content()}, c.Overlays().List()...) {
		relayout(o)
	}
	img := c.Capture()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("ehr-ui-%s.png", name))
	f, err := os.Create(path)
	if err != nil {
		h.t.Fatalf("capture: %v", err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		h.t.Fatalf("capture: %v", err)
	}
	h.t.Logf("captured %s", path)
}

// relayout lays out o's tree again from the top, as the desktop driver does
// before each frame when something inside changed its minimum size (a
// label shown, a button hidden). The test driver does not, so without
// this a capture shows widgets where they were before the change.
func relayout(o fyne.CanvasObject) {
	if !o.Visible() {
		return
	}
	switch w := o.(type) {
	case *fyne.Container:
		if w.Layout != nil {
			w.Layout.Layout(w.Objects, w.Size())
		}
		for _, c := range w.Objects {
			relayout(c)
		}
	case fyne.Widget:
		r := test.WidgetRenderer(w)
		r.Layout(w.Size())
		for _, c := range r.Objects() {
			relayout(c)
		}
	}
}

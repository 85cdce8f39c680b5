package ui

import (
	"context"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// uiQueue stands in for the Fyne event loop: the bridge posts to it from
// background goroutines and the test goroutine runs what was posted, so
// widgets are only ever touched from one goroutine, as in the app.
type uiQueue struct {
	mu    sync.Mutex
	fns   []func()
	ready chan struct{}
}

func newUIQueue() *uiQueue { return &uiQueue{ready: make(chan struct{}, 1)} }

func (q *uiQueue) post(fn func()) {
	q.mu.Lock()
	q.fns = append(q.fns, fn)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// drain runs everything posted so far, including what those runs post.
func (q *uiQueue) drain() {
	for {
		q.mu.Lock()
		fns := q.fns
		q.fns = nil
		q.mu.Unlock()
		if len(fns) == 0 {
			return
		}
		for _, fn := range fns {
			fn()
		}
	}
}

// harness is a Scribe shell on the Fyne test driver, on a real app.Core,
// talking HTTP to a real sandbox.
type harness struct {
	t       *testing.T
	fa      fyne.App
	core    *app.Core
	shell   *Shell
	q       *uiQueue
	sandbox *sandbox.Server
	url     string  // the sandbox's API base URL
	link    *outage // the network switch, when the harness has one
}

const waitTimeout = 20 * time.Second

// newHarness starts a sandbox and a core on fresh folders. With signedIn,
// the core signs in as the sample clinician before the shell shows, as
// after a resumed session.
func newHarness(t *testing.T, signedIn bool) *harness {
	t.Helper()
	ctx := t.Context()
	cfg := sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 20 * time.Millisecond}
	sb, err := sandbox.New(ctx, cfg)
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
	core, err := app.Open(ctx, app.Config{ProfileDir: profile, Secrets: secrets})
	if err != nil {
		t.Fatalf("open core: %v", err)
	}
	t.Cleanup(func() { _ = core.Close() })
	if signedIn {
		if _, err := core.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
			t.Fatalf("sign in: %v", err)
		}
	}

	fa := test.NewTempApp(t)
	q := newUIQueue()
	h := &harness{t: t, fa: fa, core: core, q: q, sandbox: sb, url: url}
	h.shell = newShell(fa, core, Options{Servers: []app.Server{{Name: "Sandbox", URL: url}}}, q.post)
	// Runs before the core and sandbox close (cleanups run last first).
	t.Cleanup(h.shell.stop)
	h.shell.show()
	return h
}

// waitFor runs the UI queue until cond holds, failing the test after
// waitTimeout. It sleeps on the queue's signal, not on a clock: every
// change a test waits for arrives through the queue.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		h.q.drain()
		if cond() {
			return
		}
		select {
		case <-h.q.ready:
		case <-deadline.C:
			h.t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
	}
}

// main returns the main window, failing if it is not open.
func (h *harness) main() *mainWindow {
	h.t.Helper()
	if h.shell.main == nil {
		h.t.Fatal("main window is not open")
	}
	return h.shell.main
}

// client is an API client signed in as the sample clinician, for setting
// up data the way another device would.
func (h *harness) client() *api.Client {
	h.t.Helper()
	c, err := api.New(h.url, api.Options{})
	if err != nil {
		h.t.Fatalf("api client: %v", err)
	}
	tok, err := c.Login(h.t.Context(), sandbox.SampleEmail, sandbox.SamplePassword, "ui-test")
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	return c.WithToken(tok.Token)
}

// press sends key to the focusable w, as the keyboard would.
func press(w fyne.Focusable, key fyne.KeyName) {
	w.TypedKey(&fyne.KeyEvent{Name: key})
}

// windowOpen reports whether w is among the driver's open windows.
func (h *harness) windowOpen(w fyne.Window) bool {
	for _, o := range h.fa.Driver().AllWindows() {
		if o == w {
			return true
		}
	}
	return false
}

// labelText is the text of a visible label, or "" when it is hidden.
func labelText(l *widget.Label) string {
	if !l.Visible() {
		return ""
	}
	return l.Text
}

// ctx is for calls the test makes itself.
func (h *harness) ctx() context.Context { return h.t.Context() }

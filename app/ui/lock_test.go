package ui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// manualClock is a lockClock that moves only when the test says.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	at   time.Time
	f    func()
	done bool
}

var _ lockClock = (*manualClock)(nil)

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.done
		t.done = true
		return was
	}
}

// advance moves the clock by d in steps of a few seconds, firing the
// timers that fall due and running on the UI queue what they post, as the
// real clock and event loop would.
func (c *manualClock) advance(h *harness, d time.Duration) {
	const step = 5 * time.Second
	for d > 0 {
		s := min(step, d)
		d -= s
		c.mu.Lock()
		c.now = c.now.Add(s)
		var due []func()
		for _, t := range c.timers {
			if !t.done && !t.at.After(c.now) {
				t.done = true
				due = append(due, t.f)
			}
		}
		c.timers = slices.DeleteFunc(c.timers, func(t *manualTimer) bool { return t.done })
		c.mu.Unlock()
		for _, f := range due {
			f()
		}
		h.q.drain()
	}
}

// lockedWindow reports whether m's lock screen covers it: the lock screen
// on top, the screens hidden, and the screens' menu gone.
func lockedWindow(t *testing.T, m *mainWindow) bool {
	t.Helper()
	top := m.win.Canvas().Overlays().Top()
	covered := top == m.lock.cover
	hidden := !m.win.Content().Visible()
	goMenu := false
	for _, mn := range m.win.MainMenu().Items {
		goMenu = goMenu || mn.Label == "Go"
	}
	if covered != m.lock.locked || hidden != m.lock.locked || goMenu == m.lock.locked {
		t.Fatalf("half locked: locked %v, lock screen on top %v, content hidden %v, Go menu %v",
			m.lock.locked, covered, hidden, goMenu)
	}
	return m.lock.locked
}

// unlockWith types password on the lock screen and presses Enter.
func unlockWith(h *harness, password string) {
	l := h.main().lock
	test.Type(l.password, password)
	press(l.password, fyne.KeyReturn)
}

func TestIdleLockLocksAfterIdleTime(t *testing.T) {
	h := newHarness(t, true)
	m := h.main()
	clk := newManualClock()
	m.lock.useClock(clk)
	if got := h.core.IdleLock(); got != 10*time.Minute {
		t.Fatalf("idle time %v; want the default 10 minutes", got)
	}

	clk.advance(h, 9*time.Minute)
	if lockedWindow(t, m) {
		t.Fatal("locked after 9 idle minutes of 10")
	}
	// The pointer moving over the window is activity.
	catcher := m.win.Content().(*fyne.Container).Objects[0].(desktop.Hoverable)
	catcher.MouseMoved(&desktop.MouseEvent{})
	clk.advance(h, 9*time.Minute)
	if lockedWindow(t, m) {
		t.Fatal("locked 9 minutes after the mouse moved")
	}
	// So is typing in an entry, which only the entry sees.
	ctxEntry := m.record.context
	m.win.Canvas().Focus(ctxEntry)
	for range 15 {
		test.Type(ctxEntry, "a")
		clk.advance(h, time.Minute)
	}
	if lockedWindow(t, m) {
		t.Fatal("locked while the clinician was typing")
	}
	m.win.Canvas().Unfocus()
	clk.advance(h, 10*time.Minute+time.Minute)
	if !lockedWindow(t, m) {
		t.Fatal("not locked after more than 10 idle minutes")
	}
	if m.win.Canvas().Focused() != m.lock.password {
		t.Error("the password entry does not have the focus on the lock screen")
	}
	if m.lock.recording.Visible() {
		t.Error("the lock screen says a recording continues; none is under way")
	}

	// A wrong password leaves it locked and says so.
	unlockWith(h, "not the password")
	h.waitFor("the wrong password message", func() bool { return labelText(m.lock.message) != "" })
	if !strings.Contains(m.lock.message.Text, "Wrong password") || !lockedWindow(t, m) {
		t.Fatalf("after a wrong password: %q, locked %v", m.lock.message.Text, m.lock.locked)
	}
	if m.lock.password.Text != "" {
		t.Error("the wrong password stays in the entry")
	}
	// An empty password is not even checked.
	test.Tap(m.lock.unlockBtn)
	if m.lock.busy || !strings.Contains(m.lock.message.Text, "Type your") {
		t.Errorf("Unlock with no password: busy %v, message %q", m.lock.busy, m.lock.message.Text)
	}

	// The right one, with the Unlock button, opens the window where it was.
	test.Type(m.lock.password, sandbox.SamplePassword)
	test.Tap(m.lock.unlockBtn)
	h.waitFor("the window to unlock", func() bool { return !m.lock.locked })
	if lockedWindow(t, m) || m.current != navRecord || m.lock.password.Text != "" {
		t.Fatalf("after unlocking: locked %v, screen %d, password left %q", m.lock.locked, m.current, m.lock.password.Text)
	}
	// And the idle time counts again from the unlock.
	clk.advance(h, 9*time.Minute)
	if lockedWindow(t, m) {
		t.Fatal("locked again 9 minutes after unlocking")
	}
	clk.advance(h, 2*time.Minute)
	if !lockedWindow(t, m) {
		t.Fatal("not locked again 11 idle minutes after unlocking")
	}
}

func TestIdleLockCtrlLAndSettings(t *testing.T) {
	h := newHarness(t, true)
	m := h.main()
	clk := newManualClock()
	m.lock.useClock(clk)

	// Settings → Account: a shorter idle time, kept in the profile.
	m.showScreen(navSettings)
	s := m.settings.lock
	if s.idle.Selected != "10 minutes" || !s.consent.Checked {
		t.Fatalf("settings show idle %q, consent %v; want 10 minutes, on", s.idle.Selected, s.consent.Checked)
	}
	s.idle.SetSelected("2 minutes")
	h.waitFor("the idle time to be saved", func() bool { return h.core.IdleLock() == 2*time.Minute })
	clk.advance(h, time.Minute+30*time.Second)
	if lockedWindow(t, m) {
		t.Fatal("locked before 2 idle minutes")
	}
	clk.advance(h, time.Minute)
	if !lockedWindow(t, m) {
		t.Fatal("not locked after the chosen 2 idle minutes")
	}
	unlockWith(h, sandbox.SamplePassword)
	h.waitFor("the window to unlock", func() bool { return !m.lock.locked })
	if m.current != navSettings {
		t.Errorf("unlocked onto screen %d; want Settings where it was", m.current)
	}

	// Ctrl+L locks at once; while locked the screens' shortcuts are gone.
	pressShortcut(t, m.win, lockKey)
	if !lockedWindow(t, m) {
		t.Fatal("Ctrl+L did not lock")
	}
	for _, mn := range m.win.MainMenu().Items {
		for _, it := range mn.Items {
			if it.Shortcut != nil {
				t.Errorf("while locked the menu still offers %q (%s)", it.Label, it.Shortcut.ShortcutName())
			}
		}
	}
	unlockWith(h, sandbox.SamplePassword)
	h.waitFor("the window to unlock", func() bool { return !m.lock.locked })
	if lockedWindow(t, m) {
		t.Fatal("still locked")
	}
	pressShortcut(t, m.win, lockKey) // the menu is back
	if !lockedWindow(t, m) {
		t.Fatal("Ctrl+L did not lock a second time")
	}
}

// quietMic is a microphone that opens and never delivers audio: enough for
// a recording to be under way.
type quietMic struct{}

var (
	_ capture.Backend = quietMic{}
	_ capture.Stream  = quietMic{}
)

var quietDevice = capture.Device{Name: "Quiet test microphone", Default: true, Channels: 1, SampleRate: 48000}

func (quietMic) Devices(ctx context.Context) ([]capture.Device, error) {
	return []capture.Device{quietDevice}, ctx.Err()
}

func (quietMic) Open(ctx context.Context, _ string, _ capture.Format) (capture.Stream, error) {
	return quietMic{}, ctx.Err()
}

func (quietMic) Device() capture.Device     { return quietDevice }
func (quietMic) Format() capture.Format     { return capture.Format{SampleRate: 48000, Channels: 1} }
func (quietMic) Start() error               { return nil }
func (quietMic) Read([]float32) int         { return 0 }
func (quietMic) Counters() capture.Counters { return capture.Counters{} }
func (quietMic) Close() error               { return nil }

// Locking covers a recording without touching it, and says it continues.
func TestIdleLockKeepsRecording(t *testing.T) {
	h, _ := newRecordHarness(t, recordSetup{audio: quietMic{}})
	m := h.main()
	r := m.record
	clk := newManualClock()
	m.lock.useClock(clk)
	waitForMicrophones(h, r)
	test.Tap(r.record)
	waitForState(h, r, "recording", recRecording)
	rec := r.rec

	clk.advance(h, 11*time.Minute)
	if !lockedWindow(t, m) {
		t.Fatal("not locked after 11 idle minutes while recording")
	}
	if !m.lock.recording.Visible() {
		t.Error("the lock screen does not say the recording continues")
	}
	if r.state != recRecording || r.rec != rec {
		t.Fatalf("locking changed the recording: state %d", r.state)
	}
	unlockWith(h, sandbox.SamplePassword)
	h.waitFor("the window to unlock", func() bool { return !m.lock.locked })
	if r.state != recRecording || r.rec != rec {
		t.Fatalf("unlocking changed the recording: state %d", r.state)
	}
	if err := rec.Pause(); err != nil {
		t.Errorf("the recording cannot be paused after the lock: %v", err)
	}
}

// With the consent question turned off in Settings, Record no longer asks
// for it; turned on again, it does.
func TestConsentSettingHidesGate(t *testing.T) {
	h, _ := newRecordHarness(t, recordSetup{audio: quietMic{}})
	m := h.main()
	r := m.record
	h.waitFor("the microphone list", func() bool { return r.devLoaded && len(r.devices) > 0 })
	if !r.consent.Visible() || !r.record.Disabled() {
		t.Fatalf("by default: consent shown %v, Record on %v", r.consent.Visible(), !r.record.Disabled())
	}

	m.showScreen(navSettings)
	test.Tap(m.settings.lock.consent)
	h.waitFor("the consent setting to be saved", func() bool { return !h.core.ConsentRequired() })
	m.showScreen(navRecord)
	if r.consent.Visible() || r.consentLabel.Visible() || r.record.Disabled() {
		t.Fatalf("consent off: consent shown %v, Record on %v", r.consent.Visible(), !r.record.Disabled())
	}

	m.showScreen(navSettings)
	test.Tap(m.settings.lock.consent)
	h.waitFor("the consent setting to be saved", func() bool { return h.core.ConsentRequired() })
	m.showScreen(navRecord)
	if !r.consent.Visible() || r.consent.Checked || !r.record.Disabled() {
		t.Fatalf("consent on again: shown %v, ticked %v, Record on %v",
			r.consent.Visible(), r.consent.Checked, !r.record.Disabled())
	}
}

// A window locked when Scribe quit opens locked: quitting is no way round
// the lock.
func TestIdleLockSurvivesRestart(t *testing.T) {
	h := newHarness(t, true)
	m := h.main()
	pressShortcut(t, m.win, lockKey)
	h.waitFor("the lock to be kept", h.core.Locked)
	h.shell.stop()

	again := newShell(h.fa, h.core, Options{}, h.q.post)
	t.Cleanup(again.stop)
	again.show()
	h.shell = again
	m = h.main()
	if !lockedWindow(t, m) {
		t.Fatal("the window locked before the restart opens unlocked")
	}
	unlockWith(h, sandbox.SamplePassword)
	h.waitFor("the window to unlock", func() bool { return !m.lock.locked })
	if lockedWindow(t, m) || h.core.Locked() {
		t.Fatal("still locked after the right password")
	}
}

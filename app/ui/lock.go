package ui

import (
	"context"
	"fmt"
	"image/color"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// lockKey locks the window at once (Account → Lock now).
var lockKey = &desktop.CustomShortcut{KeyName: fyne.KeyL, Modifier: fyne.KeyModifierShortcutDefault}

// idlePoll is how often the idle lock looks at the focused entry for typing
// it cannot otherwise see (keys go to the focused widget, not the window),
// so typing is noticed to within this much.
const idlePoll = 30 * time.Second

// lockClock is the idle lock's time: the system's in the app, a manual one
// in tests, which therefore do not wait ten minutes.
type lockClock interface {
	Now() time.Time
	// AfterFunc calls f once after d, on any goroutine; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// idleLock covers the main window after the profile's idle time without
// keyboard or mouse activity, or at Ctrl+L, until the account password is
// typed (checked offline by app.Core.Unlock). It only covers: a recording
// under way goes on underneath, and every screen keeps its state.
//
// Activity is seen three ways, since Fyne has no window-wide input hook:
// pointer movement over the window (the catcher under the content), keys
// typed while nothing has focus (the canvas's handlers), and, polled every
// idlePoll, a change of the focused widget or of the focused entry's text
// or cursor.
type idleLock struct {
	m     *mainWindow
	clock lockClock

	last   time.Time   // latest activity seen
	stop   func() bool // the pending check; nil when none
	gen    uint64      // tells a stale timer from the current one
	seen   fyne.Focusable
	typed  string // what the focused entry looked like at the last poll
	locked bool
	menu   *fyne.MainMenu // the window's menu, put back at unlock

	cover     *fyne.Container // the lock screen, an overlay over the whole canvas
	password  *widget.Entry
	unlockBtn *widget.Button
	message   *widget.Label
	recording *widget.Label
	busy      bool
	req       inflight
}

func newIdleLock(m *mainWindow) *idleLock {
	l := &idleLock{m: m, clock: systemClock{}}
	l.password = widget.NewPasswordEntry()
	l.password.SetPlaceHolder("Password")
	l.password.OnSubmitted = func(string) { l.onUnlock() }
	l.unlockBtn = widget.NewButtonWithIcon("Unlock", theme.LoginIcon(), l.onUnlock)
	l.unlockBtn.Importance = widget.HighImportance
	l.message = errorLabel()
	l.recording = widget.NewLabelWithStyle("Recording continues", fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
	l.recording.Hide()
	who := widget.NewLabelWithStyle("Locked · signed in as "+m.user.Name, fyne.TextAlignCenter, fyne.TextStyle{})
	who.Wrapping = fyne.TextWrapWord
	signOut := widget.NewButton("Not you? Sign out…", func() { m.settings.onSignOut() })
	signOut.Importance = widget.LowImportance
	title := widget.NewLabelWithStyle("Scribe", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameHeadingText
	width := canvas.NewRectangle(color.Transparent)
	width.SetMinSize(fyne.NewSize(320, 0))
	form := container.NewVBox(width, title, who, l.recording, l.password, l.unlockBtn, l.message, signOut)
	// Opaque, so nothing of the screens underneath shows through.
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameBackground))
	l.cover = container.NewStack(bg, container.NewCenter(form))
	return l
}

// wrap puts the activity catcher under the window's content and takes over
// the canvas's key handlers, passing keys on to what they did before while
// unlocked.
func (l *idleLock) wrap(content fyne.CanvasObject) fyne.CanvasObject {
	// While locked the keys stop here: Escape would otherwise close
	// whatever is open under the lock screen.
	c := l.m.win.Canvas()
	prevKey, prevRune := c.OnTypedKey(), c.OnTypedRune()
	c.SetOnTypedKey(func(k *fyne.KeyEvent) {
		l.touch()
		if !l.locked && prevKey != nil {
			prevKey(k)
		}
	})
	c.SetOnTypedRune(func(r rune) {
		l.touch()
		if !l.locked && prevRune != nil {
			prevRune(r)
		}
	})
	return container.NewStack(newActivityCatcher(l.touch), content)
}

// start begins watching for idleness (the window has just opened, or was
// unlocked). A window left locked when Scribe quit opens locked.
func (l *idleLock) start() {
	if l.m.shell.core.Locked() {
		l.lock()
		return
	}
	l.last = l.clock.Now()
	l.schedule(min(idlePoll, l.m.shell.core.IdleLock()))
}

// stopTimer cancels the pending check (the window is closing).
func (l *idleLock) stopTimer() {
	l.gen++
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
}

// useClock replaces the clock and starts again from its now (tests).
func (l *idleLock) useClock(c lockClock) {
	l.stopTimer()
	l.clock = c
	if !l.locked {
		l.start()
	}
}

func (l *idleLock) schedule(d time.Duration) {
	l.stopTimer()
	gen := l.gen
	b := l.m.shell.b
	l.stop = l.clock.AfterFunc(d, func() {
		b.do(func() {
			if gen == l.gen && l.m.ctx.Err() == nil {
				l.check()
			}
		})
	})
}

// touch records activity now.
func (l *idleLock) touch() {
	if !l.locked {
		l.last = l.clock.Now()
	}
}

// check runs on the UI goroutine when a check is due: it looks for typing,
// then locks or schedules the next check.
func (l *idleLock) check() {
	l.stop = nil
	if l.locked {
		return
	}
	l.pollFocus()
	idle := l.m.shell.core.IdleLock()
	left := idle - l.clock.Now().Sub(l.last)
	if left <= 0 {
		l.lock()
		return
	}
	l.schedule(min(left, idlePoll))
}

// pollFocus counts a change of focus, or of the focused entry, as activity.
func (l *idleLock) pollFocus() {
	f := l.m.win.Canvas().Focused()
	typed := ""
	if e, ok := f.(*widget.Entry); ok {
		// Length and cursor, not the text itself: the lock keeps no copy
		// of what the clinician writes.
		typed = fmt.Sprintf("%d/%d/%d", len(e.Text), e.CursorRow, e.CursorColumn)
	}
	if f != l.seen || typed != l.typed {
		l.seen, l.typed = f, typed
		l.last = l.clock.Now()
	}
}

// lock covers the window now. What was under way goes on.
func (l *idleLock) lock() {
	if l.locked {
		return
	}
	l.stopTimer()
	l.locked = true
	m := l.m
	m.shell.log.Info("window locked")
	// Kept in the profile: quitting and starting Scribe again must not
	// open the lock. Not cancelled with the window, which may be closing.
	core := m.shell.core
	run(m.shell.b, context.WithoutCancel(m.ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.Lock(ctx)
	}, func(_ struct{}, err error) {
		if err != nil {
			m.shell.log.Warn("cannot keep the lock in the profile", "error", err)
		}
	})
	// The menu's shortcuts would otherwise still reach the screens.
	l.menu = m.win.MainMenu()
	m.win.SetMainMenu(l.lockedMenu())
	state := m.record.state
	visible(l.recording, state == recRecording || state == recPaused || state == recStarting || state == recEnding)
	l.password.SetText("")
	setError(l.message, "")
	enable(l.unlockBtn, true)
	c := m.win.Canvas()
	m.win.Content().Hide()
	l.cover.Resize(c.Size())
	c.Overlays().Add(l.cover)
	c.Focus(l.password)
}

// lockedMenu is all the window offers while locked.
func (l *idleLock) lockedMenu() *fyne.MainMenu {
	return fyne.NewMainMenu(fyne.NewMenu("Account", fyne.NewMenuItem("Sign out…", l.m.settings.onSignOut)))
}

func (l *idleLock) onUnlock() {
	if !l.locked || l.busy {
		return
	}
	pw := l.password.Text
	if pw == "" {
		setError(l.message, "Type your Nextvisit password to unlock.")
		return
	}
	l.busy = true
	enable(l.unlockBtn, false)
	setError(l.message, "")
	core := l.m.shell.core
	run(l.m.shell.b, l.req.start(l.m.ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.Unlock(ctx, pw)
	}, l.onUnlocked)
}

func (l *idleLock) onUnlocked(_ struct{}, err error) {
	l.req.stop()
	l.busy = false
	enable(l.unlockBtn, true)
	if err != nil {
		l.password.SetText("")
		setError(l.message, app.Explain(err))
		l.m.win.Canvas().Focus(l.password)
		return
	}
	l.unlock()
}

// unlock takes the cover away and starts watching for idleness again.
func (l *idleLock) unlock() {
	m := l.m
	l.locked = false
	l.password.SetText("")
	c := m.win.Canvas()
	c.Overlays().Remove(l.cover)
	m.win.Content().Show()
	m.win.SetMainMenu(l.menu)
	l.menu = nil
	m.shell.log.Info("window unlocked")
	l.start()
}

// activityCatcher lies under the window's content and sees the pointer
// move wherever no widget above it takes the movement, which is most of
// the window; it takes no clicks or keys from anything.
type activityCatcher struct {
	widget.BaseWidget
	seen func()
}

var _ desktop.Hoverable = (*activityCatcher)(nil)

func newActivityCatcher(seen func()) *activityCatcher {
	a := &activityCatcher{seen: seen}
	a.ExtendBaseWidget(a)
	return a
}

func (a *activityCatcher) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(canvas.NewRectangle(color.Transparent))
}

func (a *activityCatcher) MouseIn(*desktop.MouseEvent)    { a.seen() }
func (a *activityCatcher) MouseMoved(*desktop.MouseEvent) { a.seen() }
func (a *activityCatcher) MouseOut()                      {}

// idleChoices are the idle times Settings offers, in minutes.
var idleChoices = []int{1, 2, 5, 10, 15, 20, 30, 60, 120}

// lockSettings are the rows of Settings → Account for the idle lock and
// the consent question.
type lockSettings struct {
	m       *mainWindow
	idle    *widget.Select
	minutes []int // behind idle's options
	consent *widget.Check
	errText *widget.Label
	box     fyne.CanvasObject
}

func newLockSettings(m *mainWindow) *lockSettings {
	core := m.shell.core
	s := &lockSettings{m: m, errText: errorLabel()}
	cur := int(core.IdleLock() / time.Minute)
	s.minutes = idleChoices
	if !slices.Contains(s.minutes, cur) { // set outside Settings (Config.IdleLock)
		s.minutes = append(slices.Clone(s.minutes), cur)
		slices.Sort(s.minutes)
	}
	opts := make([]string, len(s.minutes))
	for i, n := range s.minutes {
		opts[i] = idleText(n)
	}
	s.idle = widget.NewSelect(opts, nil)
	s.idle.SetSelected(idleText(cur))
	s.idle.OnChanged = func(string) { s.onIdle() }
	s.consent = widget.NewCheck("Ask for the patient's consent before recording", nil)
	s.consent.SetChecked(core.ConsentRequired())
	s.consent.OnChanged = s.onConsent
	s.box = container.NewVBox(
		container.NewHBox(widget.NewLabel("Lock after"), s.idle, widget.NewLabel("idle")),
		s.consent, s.errText)
	return s
}

func idleText(minutes int) string {
	if minutes == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", minutes)
}

func (s *lockSettings) onIdle() {
	i := s.idle.SelectedIndex()
	if i < 0 {
		return
	}
	d := time.Duration(s.minutes[i]) * time.Minute
	core := s.m.shell.core
	run(s.m.shell.b, s.m.ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.SetIdleLock(ctx, d)
	}, s.saved)
}

func (s *lockSettings) onConsent(on bool) {
	core := s.m.shell.core
	run(s.m.shell.b, s.m.ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, core.SetConsentRequired(ctx, on)
	}, s.saved)
}

func (s *lockSettings) saved(_ struct{}, err error) {
	if err != nil {
		setError(s.errText, app.Explain(err))
		return
	}
	setError(s.errText, "")
}

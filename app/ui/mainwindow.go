package ui

import (
	"context"
	"errors"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// screen is one page of the main window, chosen in the sidebar.
type screen interface {
	view() fyne.CanvasObject
	// shown is called each time the screen comes into view; it loads what
	// it has not loaded yet.
	shown()
	// hidden is called when another screen takes its place; it cancels
	// work in flight, whose results nobody would see.
	hidden()
}

var (
	_ screen = (*recordScreen)(nil)
	_ screen = (*notesScreen)(nil)
	_ screen = (*patientsScreen)(nil)
	_ screen = (*settingsScreen)(nil)
	_ screen = (*queueScreen)(nil)
)

// Sidebar positions; Ctrl+1 … Ctrl+5 follow this order.
const (
	navRecord = iota
	navNotes
	navPatients
	navSettings
	navQueue
)

type navItem struct {
	title  string
	icon   fyne.Resource
	key    fyne.KeyName
	screen screen
}

// mainWindow is the signed-in window: sidebar, the current screen, status line.
type mainWindow struct {
	shell  *Shell
	win    fyne.Window
	ctx    context.Context
	cancel context.CancelFunc
	user   api.User

	record   *recordScreen
	banner   *recoveredBanner
	notes    *notesScreen
	patients *patientsScreen
	settings *settingsScreen
	queue    *queueScreen
	lock     *idleLock

	items   []navItem
	nav     *widget.List
	current int
	content *fyne.Container
	name    *widget.Label
	status  *widget.Label

	// escape closes whatever the Escape key should close right now (an open
	// dialog, the note detail); nil when nothing.
	escape func()
}

func newMainWindow(s *Shell, u api.User) *mainWindow {
	m := &mainWindow{shell: s, user: u, win: s.fa.NewWindow("Scribe"), current: -1}
	m.ctx, m.cancel = context.WithCancel(s.ctx)
	m.win.SetOnClosed(m.closed)

	m.record = newRecordScreen(m)
	m.banner = newRecoveredBanner(m)
	m.banner.set(s.recovered, s.recoverErr)
	m.notes = newNotesScreen(m)
	m.patients = newPatientsScreen(m)
	m.settings = newSettingsScreen(m)
	m.queue = newQueueScreen(m)
	m.items = []navItem{
		navRecord:   {"Record", theme.MediaRecordIcon(), fyne.Key1, m.record},
		navNotes:    {"Notes", theme.DocumentIcon(), fyne.Key2, m.notes},
		navPatients: {"Patients", theme.AccountIcon(), fyne.Key3, m.patients},
		navSettings: {"Settings", theme.SettingsIcon(), fyne.Key4, m.settings},
		navQueue:    {"Queue", theme.UploadIcon(), fyne.Key5, m.queue},
	}

	m.nav = widget.NewList(m.navLength, m.navCreate, m.navUpdate)
	m.nav.OnSelected = m.onNav

	m.name = widget.NewLabelWithStyle(u.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	m.name.Truncation = fyne.TextTruncateEllipsis
	who := container.NewBorder(nil, nil, widget.NewIcon(theme.AccountIcon()), nil, m.name)
	// The sidebar keeps a fixed width; a transparent strut sets it.
	strut := canvas.NewRectangle(color.Transparent)
	strut.SetMinSize(fyne.NewSize(200, 0))
	sidebar := container.NewStack(strut, container.NewBorder(
		container.NewVBox(who, widget.NewSeparator()), nil, nil, nil, m.nav))

	m.status = widget.NewLabel("")
	m.status.Truncation = fyne.TextTruncateEllipsis
	m.content = container.NewStack()
	statusBar := container.NewVBox(widget.NewSeparator(), m.status)
	body := container.NewBorder(m.banner.box, statusBar,
		container.NewHBox(sidebar, widget.NewSeparator()), nil,
		container.NewPadded(m.content))

	m.win.Canvas().SetOnTypedKey(m.onKey)
	m.lock = newIdleLock(m)
	m.win.SetContent(m.lock.wrap(body))
	m.win.SetMainMenu(m.menu())
	m.win.Resize(fyne.NewSize(1100, 720))
	m.win.CenterOnScreen()
	m.setStatus("Signed in as "+u.Name+" on "+s.core.Server(), widget.MediumImportance)
	m.nav.Select(navRecord)
	m.lock.start()
	return m
}

// menu carries the Ctrl+1 … Ctrl+5 shortcuts and the recording ones. Menu shortcuts run before the
// focused widget sees the key, so they work while typing in a search box,
// which shortcuts added to the canvas would not.
func (m *mainWindow) menu() *fyne.MainMenu {
	goItems := make([]*fyne.MenuItem, len(m.items))
	for i, it := range m.items {
		item := fyne.NewMenuItem(it.title, func() { m.nav.Select(i) })
		item.Icon = it.icon
		item.Shortcut = &desktop.CustomShortcut{KeyName: it.key, Modifier: fyne.KeyModifierShortcutDefault}
		goItems[i] = item
	}
	signOut := fyne.NewMenuItem("Sign out…", m.settings.onSignOut)
	lockNow := fyne.NewMenuItem("Lock now", m.lock.lock)
	lockNow.Shortcut = lockKey
	return fyne.NewMainMenu(
		fyne.NewMenu("Account", lockNow, signOut),
		fyne.NewMenu("Go", goItems...),
		fyne.NewMenu("Recording", m.record.menuItems()...),
		fyne.NewMenu("Note", m.noteMenuItems()...),
	)
}

// signKey signs the note open in the Note screen (after the confirmation).
var signKey = &desktop.CustomShortcut{KeyName: fyne.KeyS, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}

func (m *mainWindow) noteMenuItems() []*fyne.MenuItem {
	sign := fyne.NewMenuItem("Sign…", func() {
		if m.current == navNotes && m.notes.visit.open {
			m.notes.visit.onSign()
		}
	})
	sign.Icon, sign.Shortcut = theme.ConfirmIcon(), signKey
	return []*fyne.MenuItem{sign}
}

// closed ends what the window started: an open recording is ended so its
// journal closes cleanly, a note's pending edit is saved, then all other
// work is cancelled.
func (m *mainWindow) closed() {
	m.record.closing()
	m.lock.stopTimer()
	// An edit of a note still waiting for its debounced save is saved now.
	m.notes.visit.flush()
	m.cancel()
}

func (m *mainWindow) navLength() int { return len(m.items) }

func (m *mainWindow) navCreate() fyne.CanvasObject {
	return container.NewBorder(nil, nil, widget.NewIcon(theme.MediaRecordIcon()), nil, widget.NewLabel("Settings"))
}

func (m *mainWindow) navUpdate(id widget.ListItemID, o fyne.CanvasObject) {
	row := o.(*fyne.Container)
	row.Objects[0].(*widget.Label).SetText(m.items[id].title)
	row.Objects[1].(*widget.Icon).SetResource(m.items[id].icon)
}

func (m *mainWindow) onNav(id widget.ListItemID) { m.showScreen(id) }

// showScreen swaps the content area to screen id.
func (m *mainWindow) showScreen(id int) {
	if id == m.current || id < 0 || id >= len(m.items) {
		return
	}
	if m.current >= 0 {
		m.items[m.current].screen.hidden()
	}
	m.current = id
	m.escape = nil
	next := m.items[id].screen
	m.content.Objects = []fyne.CanvasObject{next.view()}
	m.content.Refresh()
	next.shown()
	if m.nav.Length() > 0 {
		m.nav.Select(id) // keeps the sidebar in step when a shortcut or link switched
	}
}

func (m *mainWindow) onKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape && m.escape != nil {
		m.escape()
	}
}

// openVisit shows the Note screen of encounter id, in the Notes screen.
func (m *mainWindow) openVisit(id string) {
	m.showScreen(navNotes)
	m.notes.openVisit(id)
}

// setStatus writes msg on the status line at the foot of the window.
func (m *mainWindow) setStatus(msg string, imp widget.Importance) {
	m.status.Importance = imp
	m.status.SetText(msg)
}

// explain turns err into the sentence a screen shows. When the session is
// over (token revoked or expired) no screen can recover, so it also sends
// the clinician back to the sign-in window with the reason.
func (m *mainWindow) explain(err error) string {
	msg := app.Explain(err)
	m.setStatus(msg, widget.DangerImportance)
	if errors.Is(err, api.ErrUnauthorized) || errors.Is(err, app.ErrSignedOut) {
		m.shell.log.Info("session ended; back to sign-in", "error", err)
		// Not from inside the caller's callback: the caller still updates
		// its widgets after this returns.
		m.shell.b.do(func() {
			if m.shell.main == m {
				m.shell.showSignIn(msg)
			}
		})
	}
	return msg
}

// inflight tracks the one request a widget is waiting for, so that starting
// a new one (a new search, another page) cancels the old.
type inflight struct{ cancel context.CancelFunc }

func (f *inflight) start(parent context.Context) context.Context {
	f.stop()
	ctx, cancel := context.WithCancel(parent)
	f.cancel = cancel
	return ctx
}

func (f *inflight) stop() {
	if f.cancel != nil {
		f.cancel()
		f.cancel = nil
	}
}

package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
)

// appsSettle gathers a burst of connection changes (a connect stamps its
// state, providers and roster one after another) into one read.
const appsSettle = 200 * time.Millisecond

// appsClock is how often the relative times on the cards ("2 min ago") are
// brought up to date while nothing else changes.
const appsClock = 15 * time.Second

// cardLogLines is how many of a connection's latest log entries its card
// shows; the rest are one tap away in Show log.
const cardLogLines = 3

// externalApps is Settings → Tools and AI → External Apps: a card per EHR
// with its status, account, sync times, latest log entries and actions,
// and, in place of the cards, one connection's provider mapping.
type externalApps struct {
	m      *mainWindow
	onBack func()
	files  fileDialogs // the CSV dialogs; tests answer with their own paths

	back    *widget.Button
	loading *widget.ProgressBarInfinite
	failure *errorPanel
	cards   map[ehr.Kind]*ehrCard
	list    *fyne.Container // the cards, in EHRKinds order
	scroll  *container.Scroll
	panel   fyne.CanvasObject
	box     *fyne.Container // panel, or the open provider map's view

	conns  map[ehr.Kind]app.Connection
	now    time.Time
	loaded bool

	watch    inflight
	req      inflight
	settle   *debouncer
	pending  bool
	clock    *debouncer
	follow   ehr.Kind         // a card to bring into view once its test note has gone
	mapView  *providerMapView // nil unless open
	connect  *connectDialog   // nil unless open
	settings *pushSettingsDialog
	picker   *testNotePicker
}

func newExternalApps(m *mainWindow, onBack func()) *externalApps {
	a := &externalApps{m: m, onBack: onBack, files: fyneFiles{win: m.win},
		cards: map[ehr.Kind]*ehrCard{}, conns: map[ehr.Kind]app.Connection{},
		settle: newDebouncer(m.shell.b, appsSettle), clock: newDebouncer(m.shell.b, appsClock)}
	a.back = widget.NewButtonWithIcon("Settings", theme.NavigateBackIcon(), a.onBackTapped)
	a.loading = widget.NewProgressBarInfinite()
	a.loading.Stop()
	a.loading.Hide()
	a.failure = newErrorPanel(a.load)

	intro := widget.NewLabel("Connect your EHR so every signed note lands in the chart: " +
		"Osmind and Kalix sign you in through your browser, SimplePractice takes an API token, " +
		"NexHealth an API key with its subdomain and location.")
	intro.Wrapping = fyne.TextWrapWord

	a.list = container.NewVBox()
	for _, k := range app.EHRKinds() {
		c := newEHRCard(a, k)
		a.cards[k] = c
		a.list.Add(c.box)
	}
	top := container.NewVBox(
		container.NewBorder(nil, nil, a.back, nil, heading("External Apps")),
		intro, a.loading, a.failure.box)
	a.scroll = container.NewVScroll(a.list)
	a.panel = container.NewBorder(top, nil, nil, nil, a.scroll)
	a.box = container.NewStack(a.panel)
	return a
}

func (a *externalApps) view() fyne.CanvasObject { return a.box }

// shown starts watching the connections and reads them. The watch is taken
// before the read, so a change that lands during the read is not missed.
func (a *externalApps) shown() {
	a.watchChanges()
	a.load()
	a.tick()
	if a.mapView != nil {
		a.mapView.shown()
	}
	a.setEscape()
}

// hidden stops watching and closes what is open on top of the panel.
func (a *externalApps) hidden() {
	a.watch.stop()
	a.req.stop()
	a.settle.cancel()
	a.pending = false
	a.clock.cancel()
	if a.mapView != nil {
		a.mapView.hidden()
	}
	for _, c := range a.cards {
		c.req.stop()
	}
	if a.connect != nil {
		a.connect.close()
	}
	if a.settings != nil {
		a.settings.close()
	}
	if a.picker != nil {
		a.picker.close()
	}
}

// setEscape makes Escape step back: from the provider map to the cards,
// from the cards to Settings. Dialogs take Escape over while open and hand
// it back here when they close.
func (a *externalApps) setEscape() {
	if a.mapView != nil {
		a.m.escape = a.closeProviders
		return
	}
	a.m.escape = a.onBackTapped
}

func (a *externalApps) onBackTapped() {
	a.hidden()
	a.m.escape = nil
	a.onBack()
}

func (a *externalApps) watchChanges() {
	ctx := a.watch.start(a.m.ctx)
	changed := a.m.shell.core.ConnectionsChanged()
	run(a.m.shell.b, ctx, func(ctx context.Context) (struct{}, error) {
		select {
		case <-changed:
			return struct{}{}, nil
		case <-ctx.Done():
			return struct{}{}, ctx.Err()
		}
	}, a.onChanged)
}

func (a *externalApps) onChanged(struct{}, error) {
	a.watchChanges()
	if a.pending {
		return
	}
	a.pending = true
	a.settle.call(func() {
		a.pending = false
		a.load()
	})
}

// tick keeps the relative times true while nothing changes.
func (a *externalApps) tick() {
	a.clock.call(func() {
		if a.loaded {
			a.now = time.Now()
			a.render()
		}
		a.tick()
	})
}

// load reads every connection, replacing any read under way.
func (a *externalApps) load() {
	ctx := a.req.start(a.m.ctx)
	if !a.loaded {
		showLoading(true, a.loading, a.failure)
	}
	core := a.m.shell.core
	run(a.m.shell.b, ctx, func(ctx context.Context) ([]app.Connection, error) {
		return core.Connections(ctx)
	}, a.onLoaded)
}

func (a *externalApps) onLoaded(cs []app.Connection, err error) {
	a.req.stop()
	showLoading(false, a.loading, a.failure)
	if err != nil {
		a.failure.show(a.m.explain(err))
		return
	}
	a.failure.hide()
	for _, c := range cs {
		a.conns[c.Kind] = c
	}
	a.loaded = true
	a.now = time.Now()
	a.render()
	if c, ok := a.conns[a.follow]; ok && c.Test != nil && c.Test.Sent != nil {
		a.follow = ""
		a.scrollTo(c.Kind)
	}
}

func (a *externalApps) render() {
	for k, card := range a.cards {
		if c, ok := a.conns[k]; ok {
			card.set(c, a.now)
		}
	}
	a.fitScroll()
}

// fitScroll lays the cards out at their new heights and keeps the scroll
// offset within them: a card that shrank (test mode over) must not leave
// the panel scrolled past its end, nor one that grew clamp an offset to
// the old, shorter list.
func (a *externalApps) fitScroll() {
	a.list.Resize(a.list.MinSize().Max(a.scroll.Size()))
	a.scroll.Refresh()
}

// took applies a connection an action returned at once, without waiting
// for the change signal's read.
func (a *externalApps) took(c app.Connection) {
	a.conns[c.Kind] = c
	a.now = time.Now()
	if card := a.cards[c.Kind]; card != nil {
		card.set(c, a.now)
	}
}

// scrollTo brings kind's card to the top of the panel.
func (a *externalApps) scrollTo(kind ehr.Kind) {
	if c := a.cards[kind]; c != nil {
		a.fitScroll()
		a.scroll.ScrollToOffset(fyne.NewPos(0, c.box.Position().Y))
	}
}

// openProviders shows kind's provider mapping in place of the cards.
func (a *externalApps) openProviders(kind ehr.Kind) {
	if a.mapView != nil {
		a.mapView.hidden()
	}
	a.mapView = newProviderMapView(a, kind)
	a.box.Objects = []fyne.CanvasObject{a.mapView.box}
	a.box.Refresh()
	a.mapView.shown()
	a.setEscape()
}

func (a *externalApps) closeProviders() {
	if a.mapView == nil {
		return
	}
	a.mapView.hidden()
	a.mapView = nil
	a.box.Objects = []fyne.CanvasObject{a.panel}
	a.box.Refresh()
	a.setEscape()
}

// ehrCard is one EHR on the panel.
type ehrCard struct {
	a    *externalApps
	kind ehr.Kind
	conn app.Connection

	name     *widget.Label
	chip     *widget.Label
	kindLine *widget.Label // how it connects, one-way or two-way
	account  *widget.Label
	syncLine *widget.Label
	settings *widget.Label
	problem  *widget.Label
	msg      *widget.Label // why the last action on this card failed
	logBox   *fyne.Container
	test     *testModeBox

	connect, disconnect, providers, push, logs *widget.Button
	box                                        *widget.Card

	req inflight // the card's action under way
}

func newEHRCard(a *externalApps, kind ehr.Kind) *ehrCard {
	c := &ehrCard{a: a, kind: kind}
	c.name = widget.NewLabelWithStyle(app.EHRName(kind), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	c.name.SizeName = theme.SizeNameSubHeadingText
	c.chip = widget.NewLabelWithStyle(app.ConnNotConnected.Label(), fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
	c.chip.Importance = widget.LowImportance
	c.kindLine = captionLabel("")
	c.account = widget.NewLabel("")
	c.account.Wrapping = fyne.TextWrapWord
	c.syncLine = widget.NewLabel("")
	c.syncLine.Wrapping = fyne.TextWrapWord
	c.settings = widget.NewLabel("")
	c.settings.Wrapping = fyne.TextWrapWord
	c.problem = errorLabel()
	c.msg = errorLabel()
	c.logBox = container.New(layout.NewCustomPaddedVBoxLayout(0))
	c.test = newTestModeBox(c)

	c.connect = widget.NewButtonWithIcon("Connect", theme.LoginIcon(), c.onConnect)
	c.connect.Importance = widget.HighImportance
	c.disconnect = widget.NewButtonWithIcon("Disconnect", theme.LogoutIcon(), c.onDisconnect)
	c.providers = widget.NewButtonWithIcon("Providers", theme.AccountIcon(), c.onProviders)
	c.push = widget.NewButtonWithIcon("Push settings", theme.SettingsIcon(), c.onPushSettings)
	c.logs = widget.NewButtonWithIcon("Show log", theme.ListIcon(), c.onShowLog)
	c.logs.Importance = widget.LowImportance

	header := container.NewBorder(nil, nil, nil, c.chip, container.NewHBox(c.name, container.NewCenter(c.kindLine)))
	buttons := container.NewHBox(c.connect, c.providers, c.push, c.disconnect, layout.NewSpacer(), c.logs)
	facts := container.New(layout.NewCustomPaddedVBoxLayout(0), c.account, c.syncLine, c.settings)
	c.box = widget.NewCard("", "", container.NewVBox(header, facts,
		c.problem, c.msg, c.test.box, c.logBox, buttons))
	c.set(app.Connection{Kind: kind, Name: app.EHRName(kind), State: app.ConnNotConnected}, time.Now())
	return c
}

func captionLabel(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.SizeName = theme.SizeNameCaptionText
	l.Importance = widget.LowImportance
	return l
}

// connImportance is the colour of a state's chip.
func connImportance(s app.ConnState) widget.Importance {
	switch s {
	case app.ConnActive:
		return widget.SuccessImportance
	case app.ConnTest:
		return widget.WarningImportance
	case app.ConnNeedsAttention, app.ConnExpired:
		return widget.DangerImportance
	}
	return widget.LowImportance
}

// authWords says how a connection is made and which way data flows.
func authWords(c app.Connection) string {
	var how string
	switch c.Auth {
	case "oauth":
		how = "OAuth, in your browser"
	case "token":
		how = "API token"
	case "api-key":
		how = "API key"
	}
	way := "one-way: notes to the EHR"
	if c.TwoWay {
		way = "two-way: notes out, roster in"
	}
	if how == "" {
		return way
	}
	return how + " · " + way
}

// set shows c as of now.
func (c *ehrCard) set(conn app.Connection, now time.Time) {
	c.conn = conn
	connected := conn.State != app.ConnNotConnected
	c.chip.Importance = connImportance(conn.State)
	c.chip.SetText(conn.State.Label())
	c.kindLine.SetText(authWords(conn))

	if connected {
		c.account.SetText(accountText(conn))
		c.account.Show()
		c.syncLine.SetText(syncText(conn, now))
		c.syncLine.Show()
		c.settings.SetText("Push: " + conn.Settings.String())
		c.settings.Show()
	} else {
		c.account.Hide()
		c.syncLine.Hide()
		c.settings.Hide()
	}
	var problem string
	if conn.State == app.ConnNeedsAttention || conn.State == app.ConnExpired {
		problem = sentence(conn.Reason)
		if conn.WhatToDo != "" {
			problem = strings.TrimSpace(problem + " What to do: " + sentence(capitalizeFirst(conn.WhatToDo)))
		}
	}
	setError(c.problem, problem)
	c.test.set(conn)

	c.logBox.RemoveAll()
	for i, e := range conn.Log {
		if i == cardLogLines {
			break
		}
		c.logBox.Add(logLine(e, now))
	}
	if len(conn.Log) == 0 && connected {
		c.logBox.Add(captionLabel("Nothing logged yet."))
	}

	switch conn.State {
	case app.ConnNotConnected:
		c.connect.SetText("Connect")
		c.connect.Show()
	case app.ConnExpired, app.ConnNeedsAttention:
		c.connect.SetText("Connect again")
		c.connect.Show()
	default:
		c.connect.Hide()
	}
	for _, b := range []*widget.Button{c.disconnect, c.providers, c.push} {
		if connected {
			b.Show()
		} else {
			b.Hide()
		}
	}
	if len(conn.Log) > 0 {
		c.logs.Show()
	} else {
		c.logs.Hide()
	}
}

// sentence ends s with a full stop unless it ends a sentence already.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

func logLine(e app.ConnLogEntry, now time.Time) *widget.Label {
	l := widget.NewLabel(app.Ago(e.At, now) + " — " + e.Message)
	l.SizeName = theme.SizeNameCaptionText
	l.Wrapping = fyne.TextWrapWord
	if e.Error {
		l.Importance = widget.DangerImportance
	}
	return l
}

// accountText is who the connection acts as, and where.
func accountText(c app.Connection) string {
	var parts []string
	acct := c.Account.Name
	if c.Account.User != "" {
		if acct != "" {
			acct += " (" + c.Account.User + ")"
		} else {
			acct = c.Account.User
		}
	}
	if acct != "" {
		parts = append(parts, "Account: "+acct)
	}
	if c.Account.Location != "" {
		parts = append(parts, "Location: "+c.Account.Location)
	}
	if c.BaseURL != "" {
		parts = append(parts, c.BaseURL)
	}
	return strings.Join(parts, " · ")
}

// syncText is the sync status: last read, last write, pushes.
func syncText(c app.Connection, now time.Time) string {
	parts := []string{
		"Last read " + app.Ago(c.LastRead, now),
		"last write " + app.Ago(c.LastWrite, now),
		plural(c.Pending, "push pending", "pushes pending"),
	}
	if c.Attention > 0 {
		parts = append(parts, fmt.Sprintf("%d need attention", c.Attention))
	}
	return strings.Join(parts, " · ")
}

func (c *ehrCard) onConnect() {
	if c.a.connect == nil {
		c.a.connect = newConnectDialog(c.a, c.conn)
	}
}

func (c *ehrCard) onDisconnect() { confirmDisconnect(c) }

func (c *ehrCard) onProviders() { c.a.openProviders(c.kind) }

func (c *ehrCard) onPushSettings() {
	if c.a.settings == nil {
		c.a.settings = newPushSettingsDialog(c.a, c.conn)
	}
}

// onShowLog shows every log entry the connection keeps, newest first.
func (c *ehrCard) onShowLog() {
	box := container.New(layout.NewCustomPaddedVBoxLayout(0))
	now := time.Now()
	for _, e := range c.conn.Log {
		box.Add(logLine(e, now))
	}
	scroll := container.NewVScroll(box)
	scroll.SetMinSize(fyne.NewSize(560, 280))
	showInfo(c.a.m, app.EHRName(c.kind)+" log", scroll)
}

// act runs an action of the card; its failure is shown on the card in the
// words Core returns, its success (if any) on the status line.
func (c *ehrCard) act(work func(ctx context.Context, core *app.Core) error, ok string) {
	setError(c.msg, "")
	ctx := c.req.start(c.a.m.ctx)
	core := c.a.m.shell.core
	run(c.a.m.shell.b, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, work(ctx, core)
	}, func(_ struct{}, err error) {
		c.req.stop()
		if err != nil {
			setError(c.msg, c.a.m.explain(err))
			return
		}
		if ok != "" {
			c.a.m.setStatus(ok, widget.SuccessImportance)
		}
		c.a.load()
	})
}

package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/nexhealth"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

func TestExternalAppsListsFourEHRs(t *testing.T) {
	h := newEHRHarness(t)
	a := h.openApps()

	want, err := h.core.Connections(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 4 {
		t.Fatalf("Core lists %d connections, want 4", len(want))
	}
	for i, k := range app.EHRKinds() {
		c := a.cards[k]
		if c == nil {
			t.Fatalf("no card for %s", k)
		}
		if want[i].Kind != k {
			t.Errorf("Core lists %s at %d, the panel %s", want[i].Kind, i, k)
		}
		// The cards are in the panel's order: Osmind, Kalix, SimplePractice, NexHealth.
		if a.list.Objects[i] != c.box || c.name.Text != app.EHRName(k) {
			t.Errorf("card %d is not %s's (named %q)", i, k, c.name.Text)
		}
		if c.chip.Text != "Not connected" || c.chip.Importance != widget.LowImportance {
			t.Errorf("%s chip %q (importance %d), want Not connected", k, c.chip.Text, c.chip.Importance)
		}
		if !c.connect.Visible() || c.disconnect.Visible() || c.providers.Visible() || c.push.Visible() {
			t.Errorf("%s not connected: connect %v, disconnect %v, providers %v, push %v", k,
				c.connect.Visible(), c.disconnect.Visible(), c.providers.Visible(), c.push.Visible())
		}
	}
	h.capture("panel")

	// Escape steps back to Settings.
	h.escape()
	if s := h.main().settings; s.appsOpen || s.box.Objects[0] != s.home {
		t.Error("Escape should go back from External Apps to Settings")
	}
	h.capture("settings-tools")
}

func TestConnectSimplePracticeWrongThenRightToken(t *testing.T) {
	h := newEHRHarness(t)
	a := h.openApps()
	card := a.cards[ehr.SimplePractice]

	test.Tap(card.connect)
	d := a.connect
	if d == nil || d.token == nil || d.apiKey != nil {
		t.Fatal("SimplePractice's Connect should ask for a token, and only that")
	}
	if !d.token.Password {
		t.Error("the token entry shows what is typed")
	}
	if want := h.core.EHRDefaultURL(ehr.SimplePractice); d.address.Text != want || want == "" {
		t.Errorf("address %q, want the default %q", d.address.Text, want)
	}
	// Escape closes the dialog, even from the token field.
	press(d.token, fyne.KeyEscape)
	h.q.drain()
	if a.connect != nil {
		t.Fatal("Escape should close the Connect dialog")
	}

	// Nothing typed: the dialog says what is missing, Core is not asked.
	test.Tap(card.connect)
	d = a.connect
	test.Tap(d.connect)
	if d.busy || !strings.Contains(labelText(d.errText), "API token") {
		t.Errorf("empty token: busy %v, error %q", d.busy, labelText(d.errText))
	}

	// A wrong token: Core's words in the dialog, nothing saved.
	test.Type(d.token, "sp_wrong_token")
	test.Tap(d.connect)
	h.waitFor("the wrong token refused", func() bool { return !d.busy && labelText(d.errText) != "" })
	if a.connect != d {
		t.Fatal("the dialog closed after a refused token")
	}
	h.capture("connect-wrong-token")
	_, cerr := h.core.ConnectEHR(h.ctx(), app.ConnectRequest{Kind: ehr.SimplePractice, Token: "sp_wrong_token"})
	if cerr == nil || labelText(d.errText) != app.Explain(cerr) {
		t.Errorf("the dialog says %q; Core says %v", labelText(d.errText), cerr)
	}
	if c, err := h.core.Connection(h.ctx(), ehr.SimplePractice); err != nil || c.State != app.ConnNotConnected {
		t.Errorf("after a wrong token the connection is %q (%v)", c.State, err)
	}

	// The right one connects, in test mode.
	d.token.SetText(simplepractice.SampleToken)
	test.Tap(d.connect)
	h.waitFor("the connection", func() bool { return a.connect == nil })
	conn := h.waitConn(a, ehr.SimplePractice, "test mode", func(c app.Connection) bool { return c.State == app.ConnTest })
	if card.chip.Text != "Test mode" || card.chip.Importance != widget.WarningImportance {
		t.Errorf("chip %q (importance %d), want Test mode", card.chip.Text, card.chip.Importance)
	}
	if !card.test.box.Visible() || !card.test.send.Visible() {
		t.Error("a connection in test mode should explain it and offer a test note")
	}
	if conn.Account.Name == "" || !strings.Contains(card.account.Text, conn.Account.Name) {
		t.Errorf("account line %q, Core's account %+v", card.account.Text, conn.Account)
	}
	if !strings.HasPrefix(card.syncLine.Text, "Last read ") || !strings.Contains(card.syncLine.Text, "last write never") {
		t.Errorf("sync line %q", card.syncLine.Text)
	}
	if len(conn.Log) == 0 || len(card.logBox.Objects) == 0 ||
		!strings.Contains(card.logBox.Objects[0].(*widget.Label).Text, conn.Log[0].Message) {
		t.Errorf("card log %d lines; Core's log %+v", len(card.logBox.Objects), conn.Log)
	}
	if card.connect.Visible() || !card.disconnect.Visible() || !card.providers.Visible() || !card.push.Visible() {
		t.Error("a connected card should offer Providers, Push settings and Disconnect, not Connect")
	}

	// Disconnect asks first; keeping it changes nothing.
	test.Tap(card.disconnect)
	tapDialogButton(t, h.main().win, "Keep connected")
	h.q.drain()
	if c, _ := h.core.Connection(h.ctx(), ehr.SimplePractice); c.State != app.ConnTest {
		t.Fatalf("keeping the connection left it %q", c.State)
	}
	test.Tap(card.disconnect)
	tapDialogButton(t, h.main().win, "Disconnect")
	h.waitConn(a, ehr.SimplePractice, "disconnected", func(c app.Connection) bool { return c.State == app.ConnNotConnected })
	if card.chip.Text != "Not connected" || !card.connect.Visible() {
		t.Errorf("after Disconnect: chip %q, connect shown %v", card.chip.Text, card.connect.Visible())
	}
}

func TestConnectNexHealthAndPushSettings(t *testing.T) {
	h := newEHRHarness(t)
	a := h.openApps()
	card := a.cards[ehr.NexHealth]

	test.Tap(card.connect)
	d := a.connect
	if d == nil || d.apiKey == nil || d.subdomain == nil || d.location == nil || d.token != nil {
		t.Fatal("NexHealth's Connect should ask for an API key, subdomain and location")
	}
	test.Type(d.apiKey, nexhealth.SampleAPIKey)
	test.Type(d.subdomain, nexhealth.SampleSubdomain)
	test.Tap(d.connect)
	if d.busy || !strings.Contains(labelText(d.errText), "location") {
		t.Errorf("no location: busy %v, error %q", d.busy, labelText(d.errText))
	}
	// A location the key cannot reach: NexHealth's refusal, in Core's words.
	test.Type(d.location, "999999")
	test.Tap(d.connect)
	h.waitFor("the unknown location refused", func() bool { return !d.busy && labelText(d.errText) != "" })
	if a.connect != d {
		t.Fatal("the dialog closed after a refused location")
	}
	t.Logf("unknown location: %s", labelText(d.errText))

	d.location.SetText("2101")
	test.Tap(d.connect)
	h.waitFor("the connection", func() bool { return a.connect == nil })
	conn := h.waitConn(a, ehr.NexHealth, "test mode", func(c app.Connection) bool { return c.State == app.ConnTest })
	if conn.CanReplace {
		t.Fatal("Core says NexHealth can replace documents")
	}
	if conn.Account.Location != "" && !strings.Contains(card.account.Text, conn.Account.Location) {
		t.Errorf("account line %q lacks the location %q", card.account.Text, conn.Account.Location)
	}
	if want := "Push: " + app.DefaultPushSettings().String(); card.settings.Text != want {
		t.Errorf("settings line %q, want %q", card.settings.Text, want)
	}

	// Push settings: no Replace for NexHealth.
	test.Tap(card.push)
	p := a.settings
	if p == nil {
		t.Fatal("Push settings opened no dialog")
	}
	if slices.Contains(p.update.Options, app.UpdateLabel(ehr.Replace)) || !slices.Contains(p.update.Options, app.UpdateLabel(ehr.Append)) {
		t.Errorf("NexHealth's update choices %q; Replace must not be offered", p.update.Options)
	}
	if !slices.Equal(p.when.Options, []string{"On Sign", "On Unsign", "On Sign and Unsign"}) ||
		!slices.Equal(p.what.Options, []string{"Note + codes + metadata", "Note only"}) {
		t.Errorf("when %q, what %q", p.when.Options, p.what.Options)
	}
	if p.when.Selected != "On Sign" || p.what.Selected != "Note + codes + metadata" || p.update.Selected != "Append a new version" {
		t.Errorf("defaults shown: %q, %q, %q", p.when.Selected, p.what.Selected, p.update.Selected)
	}
	h.capture("push-settings")
	p.when.SetSelected("On Sign and Unsign")
	p.what.SetSelected("Note only")
	test.Tap(p.save)
	h.waitFor("the settings saved", func() bool { return a.settings == nil })
	got, err := h.core.Connection(h.ctx(), ehr.NexHealth)
	if err != nil {
		t.Fatal(err)
	}
	want := app.PushSettings{When: app.PushOnBoth, What: ehr.NoteOnly, Update: ehr.Append}
	if got.Settings != want {
		t.Errorf("Core has %+v, want %+v", got.Settings, want)
	}
	h.waitFor("the card's settings line", func() bool { return card.settings.Text == "Push: "+want.String() })

	// Escape closes the settings dialog without saving.
	test.Tap(card.push)
	if a.settings == nil {
		t.Fatal("Push settings did not open again")
	}
	a.settings.when.SetSelected("On Unsign")
	h.escape()
	h.q.drain()
	if a.settings != nil {
		t.Fatal("Escape should close Push settings")
	}
	if got, _ := h.core.Connection(h.ctx(), ehr.NexHealth); got.Settings != want {
		t.Errorf("Escape saved %+v", got.Settings)
	}
}

func TestConnectOsmindThroughTheBrowser(t *testing.T) {
	h := newEHRHarness(t)
	// The patient list has been read on this computer before the EHR's
	// roster comes in, as in a practice using Scribe already.
	openPatients(h.harness)
	a := h.openApps()
	card := a.cards[ehr.Osmind]

	// A browser the admin never finishes in: Cancel stops the wait.
	h.browser.stall.Store(true)
	test.Tap(card.connect)
	d := a.connect
	if d == nil || d.token != nil || d.apiKey != nil {
		t.Fatal("Osmind's Connect should ask for no secret: it signs in in the browser")
	}
	test.Tap(d.connect)
	if !d.busy || !strings.HasPrefix(labelText(d.waiting), "Continue in your browser…") {
		t.Fatalf("while the browser is open: busy %v, %q", d.busy, labelText(d.waiting))
	}
	select {
	case u := <-h.browser.opened:
		if !strings.Contains(u, "code_challenge_method=S256") {
			t.Errorf("authorization URL %q asks for no PKCE S256", u)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the browser was never opened")
	}
	h.capture("oauth-waiting")
	test.Tap(d.cancel)
	if d.busy || a.connect != d || !strings.Contains(labelText(d.errText), "Cancelled") {
		t.Errorf("after Cancel: busy %v, open %v, %q", d.busy, a.connect == d, labelText(d.errText))
	}
	if c, _ := h.core.Connection(h.ctx(), ehr.Osmind); c.State != app.ConnNotConnected {
		t.Errorf("a cancelled connection is %q", c.State)
	}

	// The admin signs in and allows access.
	h.browser.stall.Store(false)
	test.Tap(d.connect)
	h.waitFor("the connection", func() bool { return a.connect == nil })
	conn := h.waitConn(a, ehr.Osmind, "test mode", func(c app.Connection) bool { return c.State == app.ConnTest })
	if !conn.TwoWay || !conn.CanReplace || conn.Auth != "oauth" {
		t.Errorf("Osmind connection %+v", conn)
	}
	if !strings.Contains(card.kindLine.Text, "two-way") {
		t.Errorf("kind line %q", card.kindLine.Text)
	}

	// Replace is offered here, and kept.
	test.Tap(card.push)
	p := a.settings
	if !slices.Contains(p.update.Options, app.UpdateLabel(ehr.Replace)) {
		t.Fatalf("Osmind's update choices %q lack Replace", p.update.Options)
	}
	p.update.SetSelected(app.UpdateLabel(ehr.Replace))
	test.Tap(p.save)
	h.waitFor("the settings saved", func() bool { return a.settings == nil })
	if got, _ := h.core.Connection(h.ctx(), ehr.Osmind); got.Settings.Update != ehr.Replace {
		t.Errorf("Core has update %q, want replace", got.Settings.Update)
	}
	h.waitFor("the card's settings line", func() bool { return strings.Contains(card.settings.Text, "Replace") })
	h.capture("panel-osmind")

	// The roster came in at connect: the Patients list marks Osmind's.
	sources, err := h.core.PatientSources(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	pl := openPatients(h.harness)
	h.waitFor("the EHR marks", func() bool { return len(pl.sources) > 0 })
	marked := 0
	for i, pt := range pl.items {
		row := pl.createRow()
		pl.updateRow(i, row)
		cell := row.(*fyne.Container).Objects[3].(*widget.Label).Text
		if want := sourcesText(sources[pt.Id]); cell != want {
			t.Errorf("patient %d shows EHRs %q, want %q", pt.Id, cell, want)
		}
		if slices.Contains(sources[pt.Id], ehr.Osmind) {
			marked++
		}
	}
	h.capture("patients")
	if marked == 0 {
		t.Fatalf("no patient on page 1 is marked as in Osmind (sources %v)", sources)
	}
}

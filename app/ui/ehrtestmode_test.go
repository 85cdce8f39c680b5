package ui

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/internal/wavtest"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

// signedVisit imports a short visit of a sandbox patient, waits for its
// draft and signs it, as a clinician would before testing a connection.
func signedVisit(h *ehrHarness) app.Encounter {
	h.t.Helper()
	pg, err := h.core.Patients(h.ctx(), "", 1, 5)
	if err != nil || len(pg.Items) == 0 {
		h.t.Fatalf("patients: %d, %v", len(pg.Items), err)
	}
	file := filepath.Join(h.t.TempDir(), "visit.wav")
	wavtest.Tone(h.t, file, 16000, 1, 3*time.Second)
	e, err := h.core.ImportRecording(h.ctx(), file, app.ImportOptions{PatientID: pg.Items[0].Id, Context: "Medication check", Consent: true})
	if err != nil {
		h.t.Fatalf("import: %v", err)
	}
	h.waitCore("the draft", h.core.EncountersChanged, func() bool {
		return encounter(h.t, h.harness, e.ID).State == app.StateReady
	})
	if err := h.core.SignNote(h.ctx(), e.ID); err != nil {
		h.t.Fatalf("sign: %v", err)
	}
	return encounter(h.t, h.harness, e.ID)
}

// sendTestNote sends e as kind's test note through the card's picker.
func sendTestNote(h *ehrHarness, a *externalApps, e app.Encounter) {
	h.t.Helper()
	test.Tap(a.cards[ehr.SimplePractice].test.send)
	p := a.picker
	if p == nil {
		h.t.Fatal("Send a test note opened no picker")
	}
	h.waitFor("the signed visits", func() bool { return len(p.visits) > 0 || p.empty.Visible() })
	if len(p.visits) != 1 || p.visits[0].ID != e.ID || p.choice.Selected == "" {
		h.t.Fatalf("the picker offers %d visits (selected %q); want the signed %s", len(p.visits), p.choice.Selected, e.ID)
	}
	if name := p.visits[0].PatientName; name == "" || !strings.Contains(p.choice.Selected, name) {
		h.t.Errorf("the choice %q does not name the patient %q", p.choice.Selected, name)
	}
	test.Tap(p.send)
	h.waitFor("the picker closed", func() bool { return a.picker == nil || labelText(p.errText) != "" })
	if a.picker != nil {
		h.t.Fatalf("the test note was refused: %s", labelText(p.errText))
	}
}

func TestTestModeConfirmThenExpiredAndConnectAgain(t *testing.T) {
	h := newEHRHarness(t)
	e := signedVisit(h)
	a := connectedSimplePractice(h)
	card := a.cards[ehr.SimplePractice]
	tm := card.test
	if !tm.box.Visible() || !tm.send.Visible() || tm.sent.Visible() {
		t.Fatalf("test mode before a test note: box %v, send %v, sent %v", tm.box.Visible(), tm.send.Visible(), tm.sent.Visible())
	}
	if !strings.Contains(tm.intro.Text, "automatic pushes to SimplePractice wait") {
		t.Errorf("test mode explains %q", tm.intro.Text)
	}

	// Send a test note before the providers are mapped: the picker offers
	// the signed visit, and the push stops, saying why.
	sendTestNote(h, a, e)
	conn := h.waitConn(a, ehr.SimplePractice, "the test note stopped", func(c app.Connection) bool {
		return c.Test != nil && c.Test.State == outbox.NeedsAttention
	})
	if conn.Test.Reason == "" || !strings.Contains(strings.ToLower(labelText(tm.state)), strings.ToLower(conn.Test.Reason)) || tm.state.Importance != widget.DangerImportance {
		t.Errorf("the card says %q; Core's reason %q", labelText(tm.state), conn.Test.Reason)
	}
	t.Logf("unmapped: %s", labelText(tm.state))
	if !tm.send.Visible() || tm.sent.Visible() {
		t.Errorf("a stopped test note: send shown %v, sent shown %v", tm.send.Visible(), tm.sent.Visible())
	}
	h.capture("test-mode-unmapped")

	// Mapped, the same visit goes.
	if _, err := h.core.ConfirmSuggestions(h.ctx(), ehr.SimplePractice); err != nil {
		t.Fatal(err)
	}
	sendTestNote(h, a, e)

	// The note as sent, shown for the admin to check against the chart.
	conn = h.waitConn(a, ehr.SimplePractice, "the test note sent", func(c app.Connection) bool {
		return c.Test != nil && c.Test.Sent != nil
	})
	s := conn.Test.Sent
	if conn.Test.Encounter != e.ID || s.Content == "" {
		t.Fatalf("test push %+v", conn.Test)
	}
	for _, f := range []struct {
		name string
		l    *widget.Label
		want string
	}{
		{"patient", tm.patient, s.PatientName},
		{"visit date", tm.date, s.VisitDate},
		{"clinician", tm.doctor, s.Clinician},
		{"provider", tm.prov, s.ProviderName},
	} {
		if f.want == "" || !strings.HasPrefix(f.l.Text, f.want) {
			t.Errorf("%s shows %q, the push has %q", f.name, f.l.Text, f.want)
		}
	}
	if tm.content.Text != s.Content {
		t.Errorf("content shown %q, sent %q", tm.content.Text, s.Content)
	}
	if !tm.sent.Visible() || !tm.confirm.Visible() || tm.confirm.Disabled() || !strings.HasPrefix(tm.hint.Text, "If anything looks wrong, do not retry") {
		t.Errorf("sent: box %v, confirm %v (disabled %v), hint %q", tm.sent.Visible(), tm.confirm.Visible(), tm.confirm.Disabled(), tm.hint.Text)
	}
	if tm.send.Visible() {
		t.Error("a test note that went should not be offered again")
	}
	h.capture("test-mode")
	a.scroll.ScrollToBottom()
	h.capture("test-mode-confirm")

	// It landed right: automatic pushes start.
	test.Tap(tm.confirm)
	h.waitConn(a, ehr.SimplePractice, "active", func(c app.Connection) bool { return c.State == app.ConnActive })
	if card.chip.Text != "Active" || card.chip.Importance != widget.SuccessImportance || tm.box.Visible() {
		t.Errorf("after confirming: chip %q (importance %d), test box shown %v", card.chip.Text, card.chip.Importance, tm.box.Visible())
	}
	if got, _ := h.core.Connection(h.ctx(), ehr.SimplePractice); got.State != app.ConnActive {
		t.Errorf("Core has %q", got.State)
	}
	h.capture("active")

	// SimplePractice stops taking the token: the next signed note's push
	// finds it out, the card says Expired with what to do, and the push
	// waits for Connect again.
	h.sandbox.SimplePractice().SetTokenRevoked(true)
	signedVisit(h)
	conn = h.waitConn(a, ehr.SimplePractice, "expired", func(c app.Connection) bool { return c.State == app.ConnExpired })
	if card.chip.Text != "Expired" || card.chip.Importance != widget.DangerImportance {
		t.Errorf("chip %q (importance %d), want Expired", card.chip.Text, card.chip.Importance)
	}
	if conn.Reason == "" || !strings.Contains(strings.ToLower(labelText(card.problem)), strings.ToLower(conn.Reason)) {
		t.Errorf("the card says %q; Core's reason %q, what to do %q", labelText(card.problem), conn.Reason, conn.WhatToDo)
	}
	if !card.connect.Visible() || card.connect.Text != "Connect again" {
		t.Errorf("an expired card offers %q (shown %v)", card.connect.Text, card.connect.Visible())
	}
	a.scrollTo(ehr.SimplePractice)
	h.capture("expired")

	h.sandbox.SimplePractice().SetTokenRevoked(false)
	h.connectWithToken(a, simplepractice.SampleToken)
	h.waitFor("the connection", func() bool { return a.connect == nil })
	h.waitConn(a, ehr.SimplePractice, "active again, the held note sent", func(c app.Connection) bool {
		return c.State == app.ConnActive && c.Pending == 0 && c.LastWrite.After(conn.LastWrite)
	})
	if labelText(card.problem) != "" || card.connect.Visible() {
		t.Errorf("reconnected: problem %q, connect shown %v", labelText(card.problem), card.connect.Visible())
	}
}

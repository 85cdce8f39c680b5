package ui

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// speech is what the virtual microphone plays for the live transcript
// tests: stretches of tone with quiet between them, which the sandbox's
// recognizer hears as turns (partials while a stretch lasts, a final turn
// once it has been quiet for a moment).
func speech(turns int) [][]string {
	parts := [][]string{{"synth", "0.5", "sine", "440", "vol", "0"}}
	for range turns {
		parts = append(parts,
			[]string{"synth", "2.5", "sine", "440", "vol", "0.5"},
			[]string{"synth", "1.5", "sine", "440", "vol", "0"})
	}
	return append(parts, []string{"synth", "120", "sine", "440", "vol", "0"})
}

func TestRecordConsentGate(t *testing.T) {
	virtualMic(t)
	h, _ := newRecordHarness(t, recordSetup{})
	m := h.main()
	r := m.record
	h.waitFor("the microphone list and the templates", func() bool {
		return r.devLoaded && len(r.devices) > 0 && r.loaded
	})

	// A microphone is there, but without consent nothing records.
	if r.consent.Checked || !r.record.Disabled() {
		t.Fatalf("before consent: ticked %v, Record on %v", r.consent.Checked, !r.record.Disabled())
	}
	test.Tap(r.record)
	h.q.drain()
	if r.state != recIdle || r.rec != nil {
		t.Fatalf("Record without consent started something (state %d)", r.state)
	}
	test.Tap(r.consent)
	if r.record.Disabled() {
		t.Fatal("ticking consent should enable Record")
	}
	test.Tap(r.consent)
	if !r.record.Disabled() {
		t.Fatal("unticking consent should disable Record again")
	}

	// Template, context and consent go with the visit.
	if len(r.templates) < 2 {
		t.Fatalf("the sandbox offers %d templates; the test needs two", len(r.templates))
	}
	tpl := r.templates[1]
	r.template.SetSelectedIndex(1)
	test.Type(r.context, "Follow-up on sleep")
	test.Tap(r.consent)
	test.Tap(r.record)
	waitForState(h, r, "recording", recRecording)
	id := r.rec.ID()
	if !r.consent.Disabled() || !r.context.Disabled() || !r.template.Disabled() {
		t.Error("consent, context and template should be locked while recording")
	}
	h.waitFor("a second of audio", func() bool { return r.rec.Elapsed() > time.Second })
	test.Tap(r.end)
	if r.stateLabel.Text != "Finishing the transcript…" {
		t.Errorf("while End runs the screen says %q", r.stateLabel.Text)
	}
	// End opens the visit's Note screen.
	h.waitFor("the Note screen", func() bool { return m.current == navNotes && m.notes.visit.open })
	if v := m.notes.visit; v.id != id || m.notes.box.Objects[0] != v.box {
		t.Errorf("the Note screen shows %q, want the visit just ended (%s)", v.id, id)
	}
	e := encounter(t, h, id)
	if e.ConsentAt.IsZero() || e.Context != "Follow-up on sleep" || e.TemplateID != tpl.Id {
		t.Errorf("encounter kept consent %v, context %q, template %d; want consent, the context, template %d",
			e.ConsentAt, e.Context, e.TemplateID, tpl.Id)
	}
	// The next visit starts without consent or context, and offers the
	// template just used first, chosen.
	if r.consent.Checked || r.context.Text != "" || !r.record.Disabled() {
		t.Errorf("after End: consent %v, context %q", r.consent.Checked, r.context.Text)
	}
	if got := h.fa.Preferences().StringList(recentTemplatesKey); !slices.Equal(got, []string{strconv.FormatInt(tpl.Id, 10)}) {
		t.Errorf("recent templates %q, want [%d]", got, tpl.Id)
	}
	r.loaded = false
	m.showScreen(navRecord)
	h.waitFor("the templates again", func() bool { return r.loaded })
	if r.templates[0].Id != tpl.Id || r.template.SelectedIndex() != 0 {
		t.Errorf("templates offered %v, chosen %d; want %d first and chosen", r.templates, r.template.SelectedIndex(), tpl.Id)
	}
}

func TestRecordLiveTranscript(t *testing.T) {
	mic := silentMic(t)
	h, _ := newRecordHarness(t, recordSetup{})
	m := h.main()
	r := m.record
	waitForMicrophones(h, r)
	lt := r.transcript
	if !lt.empty.Visible() || lt.link.Visible() {
		t.Error("before recording the pane should only say what it is for")
	}
	mic.play(t, speech(2)...)
	test.Tap(r.record)
	waitForState(h, r, "recording", recRecording)
	id := r.rec.ID()

	h.waitFor("the connection to go live", func() bool { return lt.link.Visible() && lt.link.Text == "Live" })
	// The turn in progress shows greyed before it is final, and is
	// replaced by the final turn.
	var partial string
	h.waitFor("a partial turn, then the final one", func() bool {
		if lt.finals == 0 && lt.live.Visible() {
			partial = lt.live.Text
		}
		return lt.finals > 0
	})
	if partial == "" {
		t.Fatal("the final turn came without a partial before it")
	}
	if lt.live.Importance != widget.LowImportance {
		t.Errorf("the partial turn has importance %d; it should be greyed (low)", lt.live.Importance)
	}
	if lt.live.Visible() && lt.live.Text == partial {
		t.Errorf("the partial %q stayed after its final turn", partial)
	}
	stored, err := h.core.Transcript(h.ctx(), id)
	if err != nil || len(stored) == 0 {
		t.Fatalf("stored transcript %v, %v", stored, err)
	}
	if got := lt.turns.Objects[0].(*widget.Label).Text; got != turnLine(stored[0]) {
		t.Errorf("first line %q; the stored turn is %q", got, turnLine(stored[0]))
	}
	if lt.empty.Visible() {
		t.Error("the empty-pane text should go once text arrives")
	}

	test.Tap(r.end)
	h.waitFor("the Note screen", func() bool { return m.current == navNotes && m.notes.visit.open })
	// Everything the live transcript stored was shown, in order.
	stored, err = h.core.Transcript(h.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, s := range stored {
		if s.Live {
			live = append(live, turnLine(s))
		}
	}
	var shown []string
	for _, o := range lt.turns.Objects {
		shown = append(shown, o.(*widget.Label).Text)
	}
	if !slices.Equal(shown, live) {
		t.Errorf("the pane shows %q; the live turns stored are %q", shown, live)
	}
}

func TestRecordOfflineNotice(t *testing.T) {
	virtualMic(t)
	h, _ := newRecordHarness(t, recordSetup{outage: true})
	r := h.main().record
	waitForMicrophones(h, r)

	h.link.down()
	test.Tap(r.record)
	waitForState(h, r, "recording", recRecording)
	lt := r.transcript
	h.waitFor("the offline notice", func() bool { return lt.link.Visible() && lt.link.Text == app.OfflineNotice })
	if lt.link.Importance != widget.WarningImportance {
		t.Errorf("the offline notice has importance %d, want a warning", lt.link.Importance)
	}
	if r.state != recRecording {
		t.Errorf("offline, the recording should go on; state %d", r.state)
	}
	h.link.up()
	h.waitFor("the transcript to reconnect", func() bool {
		return lt.link.Text != app.OfflineNotice && lt.link.Text != "Connecting to the transcription service…"
	})
	if want, _ := linkText(app.LinkCatchingUp); lt.link.Text != want && lt.link.Text != "Live" {
		t.Errorf("back online the line says %q", lt.link.Text)
	}
	test.Tap(r.end)
	waitForState(h, r, "ended", recEnded)
}

func TestRecordNotSignedInNotice(t *testing.T) {
	lt := newLiveTranscript()
	lt.apply(app.LiveUpdate{Link: app.LinkNone})
	if !lt.link.Visible() || lt.link.Text != notSignedInNotice {
		t.Errorf("LinkNone shows %q (visible %v)", lt.link.Text, lt.link.Visible())
	}
	lt.reset()
	if lt.link.Visible() {
		t.Error("a new recording starts with no connection line")
	}
}

// atBottom reports whether the transcript is scrolled to its end.
func atBottom(lt *liveTranscript) bool {
	return lt.scroll.Offset.Y+lt.scroll.Size().Height >= lt.scroll.Content.Size().Height-1
}

func TestLiveTranscriptAutoScroll(t *testing.T) {
	test.NewTempApp(t)
	lt := newLiveTranscript()
	w := test.NewTempWindow(t, lt.box)
	w.Resize(fyne.NewSize(320, 240))
	final := func(i int) app.LiveUpdate {
		return app.LiveUpdate{Final: &app.Turn{Start: time.Duration(i) * 3 * time.Second, Text: fmt.Sprintf("Turn %d of the visit.", i)}}
	}

	for i := range 30 {
		lt.apply(final(i))
		if !atBottom(lt) {
			t.Fatalf("after turn %d the view is at %v of %v; it should follow the newest turn", i, lt.scroll.Offset, lt.scroll.Content.Size())
		}
	}
	if lt.scroll.Offset.Y == 0 {
		t.Fatal("thirty turns should not fit in the pane; the test proves nothing")
	}

	// The clinician scrolls up to read back: new text no longer moves the view.
	lt.scroll.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.Delta{DY: 200}})
	if atBottom(lt) {
		t.Fatal("scrolling up left the view at the bottom")
	}
	reading := lt.scroll.Offset
	lt.apply(final(30))
	lt.apply(app.LiveUpdate{Partial: &app.Turn{Start: 93 * time.Second, Text: "And the"}})
	if lt.scroll.Offset != reading {
		t.Errorf("new text moved the view from %v to %v while the clinician reads back", reading, lt.scroll.Offset)
	}

	// Back at the bottom, it follows again.
	lt.scroll.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.Delta{DY: -100000}})
	if !atBottom(lt) {
		t.Fatal("scrolling all the way down did not reach the bottom")
	}
	lt.apply(final(31))
	lt.apply(app.LiveUpdate{Partial: &app.Turn{Start: 96 * time.Second, Text: "Next we"}})
	if !atBottom(lt) {
		t.Error("after scrolling back to the bottom the view should follow new text again")
	}
	if !lt.live.Visible() || lt.live.Text != "[01:36] Next we" {
		t.Errorf("partial %q (visible %v)", lt.live.Text, lt.live.Visible())
	}
}

// BenchmarkFinalTurnShown measures the UI's share of "a final turn reaches
// the screen": from a LiveUpdate with a final turn arriving on the
// recording's Live channel, through the bridge to the UI goroutine (a
// queue here, as in the tests), to its line being in the transcript pane.
// The pane is full (liveLines turns, as after a quarter of an hour), the
// most it holds however long the visit runs.
func BenchmarkFinalTurnShown(b *testing.B) {
	test.NewTempApp(b)
	q := newUIQueue()
	br := &bridge{do: q.post}
	lt := newLiveTranscript()
	w := test.NewTempWindow(b, lt.box)
	w.Resize(fyne.NewSize(500, 600))
	updates := make(chan app.LiveUpdate)
	ctx, cancel := context.WithCancel(b.Context())
	followLive(ctx, br, updates, lt.apply)
	defer func() {
		cancel()
		br.wait()
	}()

	i := 0
	next := func() app.LiveUpdate {
		turn := app.Turn{Start: time.Duration(i) * 3 * time.Second, End: time.Duration(i)*3*time.Second + 2*time.Second,
			Text: "The patient reports sleeping better since the last visit, turn " + strconv.Itoa(i)}
		i++
		return app.LiveUpdate{Final: &turn}
	}
	for range liveLines {
		lt.apply(next())
	}
	for b.Loop() {
		u := next()
		want := turnLine(*u.Final)
		updates <- u
		for last(lt) != want {
			<-q.ready
			q.drain()
		}
	}
	if len(lt.turns.Objects) != liveLines {
		b.Fatalf("the pane holds %d lines, want %d", len(lt.turns.Objects), liveLines)
	}
}

// last is the text of the newest line in the pane.
func last(lt *liveTranscript) string {
	if len(lt.turns.Objects) == 0 {
		return ""
	}
	return lt.turns.Objects[len(lt.turns.Objects)-1].(*widget.Label).Text
}

func TestLiveTranscriptKeepsLatestLines(t *testing.T) {
	test.NewTempApp(t)
	lt := newLiveTranscript()
	w := test.NewTempWindow(t, lt.box)
	w.Resize(fyne.NewSize(320, 240))
	for i := range liveLines + 5 {
		lt.apply(app.LiveUpdate{Final: &app.Turn{Start: time.Duration(i) * time.Second, Text: "Turn " + strconv.Itoa(i)}})
	}
	if n := len(lt.turns.Objects); n != liveLines || !lt.older.Visible() {
		t.Fatalf("the pane holds %d lines (earlier-turns note shown %v); want the latest %d and the note", n, lt.older.Visible(), liveLines)
	}
	if first := lt.turns.Objects[0].(*widget.Label).Text; first != "[00:05] Turn 5" {
		t.Errorf("the oldest line kept is %q, want turn 5", first)
	}
	if got := last(lt); got != "[05:04] Turn 304" || !atBottom(lt) {
		t.Errorf("the newest line is %q (at the bottom %v)", got, atBottom(lt))
	}
	lt.reset()
	if lt.older.Visible() || len(lt.turns.Objects) != 0 {
		t.Error("a new recording starts with an empty pane")
	}
}

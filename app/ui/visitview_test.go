package ui

import (
	"github.com/nextvisit/scribe/internal/wavtest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// findButton is the visible button labelled text under o, or nil.
func findButton(o fyne.CanvasObject, text string) *widget.Button {
	switch w := o.(type) {
	case *widget.Button:
		if w.Text == text && w.Visible() {
			return w
		}
	case *fyne.Container:
		for _, c := range w.Objects {
			if b := findButton(c, text); b != nil {
				return b
			}
		}
	case fyne.Widget:
		r := test.WidgetRenderer(w)
		for _, c := range r.Objects() {
			if b := findButton(c, text); b != nil {
				return b
			}
		}
	}
	return nil
}

// tapDialogButton taps the button labelled text in the dialog on top of w.
func tapDialogButton(t *testing.T, w fyne.Window, text string) {
	t.Helper()
	top := w.Canvas().Overlays().Top()
	if top == nil {
		t.Fatalf("no dialog is open to tap %q in", text)
	}
	b := findButton(top, text)
	if b == nil {
		t.Fatalf("the dialog has no %q button", text)
	}
	test.Tap(b)
}

// importVisit brings a short tone in as a visit, queued for its note, and
// returns its encounter.
func importVisit(h *harness) app.Encounter {
	h.t.Helper()
	file := filepath.Join(h.t.TempDir(), "visit.wav")
	wavtest.Tone(h.t, file, 16000, 1, 3*time.Second)
	e, err := h.core.ImportRecording(h.ctx(), file, app.ImportOptions{Context: "Sleep follow-up", Consent: true})
	if err != nil {
		h.t.Fatalf("import: %v", err)
	}
	return e
}

func TestNoteScreenDraftEditSignUnsign(t *testing.T) {
	h, link := newOutageHarness(t)
	e := importVisit(h)
	m := h.main()

	// The Notes list has the visit first, with its status, before the
	// server's notes; choosing it opens its Note screen.
	n := openNotes(h, 10)
	if len(n.local) == 0 || n.local[0].ID != e.ID {
		t.Fatalf("local visits listed %v; want %s first", n.local, e.ID)
	}
	row := n.createRow()
	n.updateRow(0, row)
	if chip := row.(*fyne.Container).Objects[3].(*widget.Label); chip.Text != n.local[0].Status.Label || chip.Text == "" {
		t.Errorf("the visit's row shows status %q, want %q", chip.Text, n.local[0].Status.Label)
	}
	n.list.Select(0)
	v := n.visit
	if !v.open || v.id != e.ID || n.box.Objects[0] != v.box {
		t.Fatal("choosing the visit should open its Note screen")
	}

	// The draft arrives by itself: the screen watches the visit.
	h.waitFor("the draft", func() bool { return v.visit.State == app.StateReady && !v.draft.Disabled() })
	if v.draft.Text == "" || v.draft.Text != v.visit.Draft {
		t.Errorf("entry %q, draft %q", v.draft.Text, v.visit.Draft)
	}
	if v.chip.Text != "Ready" || v.chip.Importance != widget.SuccessImportance {
		t.Errorf("chip %q (importance %d)", v.chip.Text, v.chip.Importance)
	}
	if v.saveState.Text != saveSaved || !v.sign.Visible() || v.sign.Disabled() || v.unsign.Visible() {
		t.Errorf("ready: save state %q, sign shown %v", v.saveState.Text, v.sign.Visible())
	}
	turns, err := h.core.Transcript(h.ctx(), e.ID)
	if err != nil || len(turns) == 0 {
		t.Fatalf("transcript %v, %v", turns, err)
	}
	var shown []string
	for _, o := range v.turns.Objects {
		shown = append(shown, o.(*fyne.Container).Objects[0].(*widget.Label).Text)
	}
	var want []string
	for _, tr := range turns {
		want = append(want, turnLine(tr))
	}
	if !slices.Equal(shown, want) {
		t.Errorf("Transcript tab %q, want %q", shown, want)
	}
	if v.context.Text != "Sleep follow-up" || v.consent.Text == "Not recorded" {
		t.Errorf("Context tab: context %q, consent %q", v.context.Text, v.consent.Text)
	}
	// A turn's ▶ plays it from the journal (PlayRange); this machine may
	// have no speaker, in which case the screen says why, in words.
	test.Tap(v.plays[0])
	if v.playing != 0 || v.plays[0].Icon != theme.MediaStopIcon() {
		t.Errorf("pressing play: playing %d", v.playing)
	}
	h.waitFor("the turn to finish playing", func() bool { return v.playing == -1 })
	if v.playErr.Visible() && !strings.HasPrefix(v.playErr.Text, "Could not play that turn: ") {
		t.Errorf("playback error %q", v.playErr.Text)
	}
	t.Logf("playing the first turn: %q", v.playErr.Text)

	// An edit offline: saved here at once, waiting to be sent.
	link.down()
	test.Type(v.draft, " Plan: review in two weeks.")
	edited := v.draft.Text
	if v.saveState.Text != saveEditing {
		t.Errorf("while typing the screen says %q", v.saveState.Text)
	}
	h.waitFor("the edit saved here", func() bool { return v.saveState.Text == saveSending })
	if got := encounter(t, h, e.ID); got.Draft != edited || !got.Unsent {
		t.Errorf("kept draft %q (unsent %v), want %q unsent", got.Draft, got.Unsent, edited)
	}
	// Back online, it reaches the server and the screen says so.
	link.up()
	h.waitFor("the edit sent", func() bool { return v.saveState.Text == saveSaved })
	note, err := h.core.Note(h.ctx(), v.visit.NoteID)
	if err != nil {
		t.Fatal(err)
	}
	if deref(note.Analysis, "") != edited {
		t.Errorf("the server has %q, want the edit %q", deref(note.Analysis, ""), edited)
	}
	if v.draft.Text != edited {
		t.Errorf("the entry changed to %q after the save", v.draft.Text)
	}

	// Sign asks first; Cancel changes nothing.
	test.Tap(v.sign)
	tapDialogButton(t, m.win, "Cancel")
	h.q.drain()
	if got := encounter(t, h, e.ID); !got.Signed.IsZero() || v.draft.Disabled() {
		t.Fatal("cancelling the confirmation signed the note")
	}
	test.Tap(v.sign)
	tapDialogButton(t, m.win, "Sign")
	h.waitFor("the note signed", func() bool { return v.chip.Text == "Signed" })
	if !v.draft.Disabled() || v.sign.Visible() || !v.unsign.Visible() {
		t.Errorf("signed: entry editable %v, sign shown %v, unsign shown %v", !v.draft.Disabled(), v.sign.Visible(), v.unsign.Visible())
	}
	h.waitFor("the signature at the server", func() bool {
		note, err := h.core.Note(h.ctx(), v.visit.NoteID)
		return err == nil && note.Has != nil && deref(note.Has.Signed, false)
	})

	// Unsign reopens it for editing.
	test.Tap(v.unsign)
	h.waitFor("the note unsigned", func() bool { return v.chip.Text == "Ready" })
	if v.draft.Disabled() || !v.sign.Visible() || v.unsign.Visible() {
		t.Errorf("unsigned: entry editable %v, sign shown %v", !v.draft.Disabled(), v.sign.Visible())
	}
	if got := encounter(t, h, e.ID); !got.Signed.IsZero() {
		t.Errorf("encounter still signed at %v", got.Signed)
	}

	// Back returns to the list, where the visit is listed Ready.
	test.Tap(v.back)
	if v.open || n.box.Objects[0] != n.listView {
		t.Fatal("Back should return to the list")
	}
	h.waitFor("the list again", func() bool { return !n.loading.Visible() && len(n.local) > 0 })
	if n.local[0].Status.Label != "Ready" {
		t.Errorf("the list shows the visit as %q", n.local[0].Status.Label)
	}
}

func TestNoteScreenKeepsEditWhenLeft(t *testing.T) {
	h := newHarness(t, true)
	e := importVisit(h)
	m := h.main()
	m.openVisit(e.ID)
	v := m.notes.visit
	h.waitFor("the draft", func() bool { return v.visit.State == app.StateReady && !v.draft.Disabled() })

	// Typing, then going elsewhere at once: the edit is saved, not lost to
	// the pending second.
	test.Type(v.draft, " Added before leaving.")
	edited := v.draft.Text
	m.showScreen(navPatients)
	h.waitFor("the edit saved", func() bool {
		got, err := h.core.Encounter(h.ctx(), e.ID)
		return err == nil && got.Draft == edited
	})
}

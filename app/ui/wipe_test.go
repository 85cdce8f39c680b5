package ui

import (
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/outbox"
)

// "Delete local data…" asks first; refused while the visit's jobs need its
// data it says why, and once they are done it deletes and says so.
func TestDeleteLocalDataConfirm(t *testing.T) {
	h, link := newOutageHarness(t)
	link.down() // the visit's jobs wait for the server
	e := importVisit(h)
	m := h.main()
	m.openVisit(e.ID)
	v := m.notes.visit
	l := v.local
	h.waitFor("the visit", func() bool { return v.loaded && v.id == e.ID })
	h.waitFor("the status", func() bool { return strings.Contains(l.status.Text, "kept on this computer") })

	// Declining deletes nothing.
	test.Tap(l.button)
	if l.confirm == nil {
		t.Fatal("Delete local data should ask first")
	}
	l.confirm.Hide()
	if l.confirm != nil {
		t.Error("the confirmation is still recorded as open after closing")
	}

	// While its jobs still wait it is refused, saying which; the data stays.
	test.Tap(l.button)
	l.confirm.Confirm()
	h.waitFor("the refusal", func() bool { return !l.busy && labelText(l.errText) != "" })
	if !strings.Contains(l.errText.Text, "Transcribe") || !strings.Contains(l.errText.Text, "still needs this visit's audio or text") {
		t.Errorf("refusal says %q; want the job named", l.errText.Text)
	}
	if _, gone, err := h.core.LocalDeletion(h.ctx(), e.ID); err != nil || gone {
		t.Fatalf("deleted %v, %v after a refusal", gone, err)
	}

	link.up()
	if _, err := h.core.SendNow(h.ctx()); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the draft and the visit's jobs done", func() bool {
		if v.visit.State != app.StateReady {
			return false
		}
		jobs, err := h.core.VisitJobs(h.ctx(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.State != outbox.Done && j.State != outbox.Cancelled {
				return false
			}
		}
		return true
	})
	test.Tap(l.button)
	l.confirm.Confirm()
	// The emptied draft cannot be typed into: that would replace the note
	// at the server with the new text alone.
	h.waitFor("the deletion shown, the draft closed", func() bool {
		return strings.HasPrefix(l.status.Text, "Audio, transcript and draft deleted on ") && v.draft.Disabled() && !v.busy
	})
	if labelText(l.errText) != "" {
		t.Errorf("error shown after the deletion: %q", l.errText.Text)
	}
	if !l.button.Disabled() {
		t.Error("Delete local data is still offered with nothing left to delete")
	}
	if v.draft.Text != "" {
		t.Errorf("the draft %q is still shown after its deletion", v.draft.Text)
	}
	if _, gone, err := h.core.LocalDeletion(h.ctx(), e.ID); err != nil || !gone {
		t.Errorf("core: deleted %v, %v", gone, err)
	}
}

// "Sign out and wipe this laptop…" asks first; confirmed, it signs out,
// wipes and offers only Quit.
func TestWipeConfirm(t *testing.T) {
	h := newHarness(t, true)
	m := h.main()
	m.showScreen(navSettings)
	s := m.settings
	w := s.wipe

	test.Tap(w.button)
	if w.confirm == nil {
		t.Fatal("Sign out and wipe should ask first")
	}
	w.confirm.Hide()
	if _, ok := h.core.User(); !ok {
		t.Fatal("declining the wipe signed out")
	}
	if _, err := h.core.Encounters(h.ctx()); err != nil {
		t.Fatalf("declining the wipe touched the profile: %v", err)
	}

	test.Tap(w.button)
	w.confirm.Confirm()
	h.waitFor("the wipe", func() bool { return w.done != nil })
	if labelText(s.errText) != "" {
		t.Errorf("error after the wipe: %q", s.errText.Text)
	}
	if _, ok := h.core.User(); ok {
		t.Error("still signed in after the wipe")
	}
	if err := h.core.WipeAndSignOut(h.ctx()); !errors.Is(err, app.ErrWiped) {
		t.Errorf("the core after the wipe: %v; want ErrWiped", err)
	}
}

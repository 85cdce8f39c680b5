package ui

import (
	"fmt"
	"slices"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

func noteIDs(ns []api.ProgressNote) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.Id
	}
	return out
}

// seedNotes creates a patient with n text notes, through the API as another
// device would.
func seedNotes(h *harness, n int) (api.Patient, []api.ProgressNote) {
	h.t.Helper()
	c := h.client()
	pt, err := c.CreatePatient(h.ctx(), api.PatientInput{FirstName: "Paging", LastName: "Notetester"}, "ui-test-patient")
	if err != nil {
		h.t.Fatalf("create patient: %v", err)
	}
	var notes []api.ProgressNote
	for i := range n {
		note, err := c.CreateTextNote(h.ctx(), api.TextNote{
			Name:      fmt.Sprintf("Follow-up %d", i+1),
			PatientID: pt.Id,
			Note:      fmt.Sprintf("Visit %d. Patient reports sleeping better; continue current plan.", i+1),
		}, fmt.Sprintf("ui-test-note-%d", i))
		if err != nil {
			h.t.Fatalf("create note: %v", err)
		}
		notes = append(notes, note)
	}
	return pt, notes
}

// openNotes shows the Notes screen with perPage notes a page and waits for
// the first page.
func openNotes(h *harness, perPage int) *notesScreen {
	h.t.Helper()
	m := h.main()
	n := m.notes
	n.filter.PerPage = perPage
	m.showScreen(navNotes)
	h.waitFor("the first page of notes", func() bool { return n.loaded && !n.loading.Visible() })
	return n
}

func TestNotesListFilterSortAndPaging(t *testing.T) {
	h := newHarness(t, true)
	pt, created := seedNotes(h, 3)
	n := openNotes(h, 2)

	all, err := h.core.Notes(h.ctx(), app.NoteFilter{SortBy: "latest", Page: 1, PerPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(noteIDs(n.items), noteIDs(all.Items)) {
		t.Errorf("unfiltered first page shows %v, want %v", noteIDs(n.items), noteIDs(all.Items))
	}

	// Filter to the seeded patient, as if picked from the drop-down.
	n.patient.set(pt)
	h.waitFor("the patient's notes", func() bool {
		return n.filter.PatientID == pt.Id && n.loaded && !n.loading.Visible()
	})
	if got := n.pager.label.Text; got != "Page 1 of 2 · 3 notes" {
		t.Errorf("pager says %q, want Page 1 of 2 · 3 notes", got)
	}
	page1 := noteIDs(n.items)
	for _, note := range n.items {
		if note.Patient == nil || note.Patient.Id != pt.Id {
			t.Errorf("note %d is not the chosen patient's", note.Id)
		}
	}
	test.Tap(n.pager.next)
	h.waitFor("page 2", func() bool { return n.filter.Page == 2 && !n.loading.Visible() })
	page2 := noteIDs(n.items)
	if len(page1) != 2 || len(page2) != 1 || slices.Contains(page1, page2[0]) {
		t.Errorf("pages %v and %v; want 2 then 1 different note", page1, page2)
	}
	seen := append(slices.Clone(page1), page2...)
	for _, c := range created {
		if !slices.Contains(seen, c.Id) {
			t.Errorf("note %d never shown across the pages %v", c.Id, seen)
		}
	}
	if !n.pager.next.Disabled() {
		t.Error("Next should be disabled on the last page")
	}

	// Oldest first starts again at page 1, in the server's oldest order.
	n.sort.SetSelected(sortOldest)
	h.waitFor("oldest first", func() bool { return n.filter.SortBy == "oldest" && !n.loading.Visible() })
	oldest, err := h.core.Notes(h.ctx(), app.NoteFilter{PatientID: pt.Id, SortBy: "oldest", Page: 1, PerPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n.filter.Page != 1 || !slices.Equal(noteIDs(n.items), noteIDs(oldest.Items)) {
		t.Errorf("oldest first: page %d shows %v, want page 1 with %v", n.filter.Page, noteIDs(n.items), noteIDs(oldest.Items))
	}
	if slices.Equal(noteIDs(n.items), page1) {
		t.Errorf("oldest first shows the same notes as latest first: %v", page1)
	}

	// Clearing the patient goes back to everyone's notes.
	n.patient.clear()
	h.waitFor("all notes", func() bool { return n.filter.PatientID == 0 && !n.loading.Visible() })
	everyone, err := h.core.Notes(h.ctx(), app.NoteFilter{SortBy: "oldest", Page: 1, PerPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(noteIDs(n.items), noteIDs(everyone.Items)) {
		t.Errorf("after clearing the patient: %v, want %v", noteIDs(n.items), noteIDs(everyone.Items))
	}
}

func TestNoteDetailOpensAndGoesBack(t *testing.T) {
	h := newHarness(t, true)
	pt, _ := seedNotes(h, 1)
	n := openNotes(h, 10)
	n.patient.set(pt)
	h.waitFor("the patient's note", func() bool {
		return n.filter.PatientID == pt.Id && !n.loading.Visible() && len(n.items) == 1
	})
	if n.list.Length() != 1 {
		t.Fatalf("list has %d rows, want 1", n.list.Length())
	}

	n.list.Select(0)
	d := n.detail
	if !d.open || n.box.Objects[0] != d.box {
		t.Fatal("selecting a note should open its detail")
	}
	h.waitFor("the full note", func() bool { return !d.loading.Visible() })

	want, err := h.core.Note(h.ctx(), n.items[0].Id)
	if err != nil {
		t.Fatal(err)
	}
	if d.title.Text != want.Name {
		t.Errorf("title %q, want %q", d.title.Text, want.Name)
	}
	if d.patient.Text != app.PatientName(pt) {
		t.Errorf("patient %q, want %q", d.patient.Text, app.PatientName(pt))
	}
	if tr := deref(want.Transcription, ""); tr == "" || d.transcription.Text != tr {
		t.Errorf("transcription %q, want %q", d.transcription.Text, tr)
	}
	if d.status.Text != app.NoteStatus(d.note) || d.status.Text == "" {
		t.Errorf("status chip %q, want %q", d.status.Text, app.NoteStatus(d.note))
	}
	if want.Template != nil && d.template.Text != want.Template.Name {
		t.Errorf("template %q, want %q", d.template.Text, want.Template.Name)
	}

	test.Tap(d.back)
	if d.open || n.box.Objects[0] != n.listView {
		t.Error("Back should return to the list")
	}

	// Escape goes back too.
	n.list.Select(0)
	h.main().win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if d.open || n.box.Objects[0] != n.listView {
		t.Error("Escape should return from the note to the list")
	}
}

func TestPatientRowOpensTheirNotes(t *testing.T) {
	h := newHarness(t, true)
	pt, created := seedNotes(h, 2)
	p := openPatients(h)
	test.Type(p.search, "Notetester")
	h.waitFor("the search", func() bool { return p.query == "Notetester" && !p.loading.Visible() && len(p.items) == 1 })

	p.list.Select(0)
	m := h.main()
	if m.current != navNotes {
		t.Fatalf("selecting a patient should open Notes; current screen %d", m.current)
	}
	n := m.notes
	h.waitFor("their notes", func() bool { return n.filter.PatientID == pt.Id && n.loaded && !n.loading.Visible() })
	if !slices.Equal(sortedIDs(noteIDs(n.items)), sortedIDs(noteIDs(created))) {
		t.Errorf("notes shown %v, want %v", noteIDs(n.items), noteIDs(created))
	}
}

func sortedIDs(s []int64) []int64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

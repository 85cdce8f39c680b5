package ui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// openPatients switches to the Patients screen and waits for its first page.
func openPatients(h *harness) *patientsScreen {
	h.t.Helper()
	m := h.main()
	m.showScreen(navPatients)
	p := m.patients
	h.waitFor("the first page of patients", func() bool { return p.loaded && !p.loading.Visible() })
	return p
}

func ids(ps []api.Patient) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.Id
	}
	return out
}

func TestPatientsListAndPaging(t *testing.T) {
	h := newHarness(t, true)
	p := openPatients(h)

	want, err := h.core.Patients(h.ctx(), "", 1, patientsPerPage)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Items) == 0 {
		t.Fatal("the sandbox has no patients to list")
	}
	if !slices.Equal(ids(p.items), ids(want.Items)) {
		t.Errorf("first page shows %v, want %v", ids(p.items), ids(want.Items))
	}
	if p.list.Length() != len(want.Items) {
		t.Errorf("list has %d rows, want %d", p.list.Length(), len(want.Items))
	}
	total, last := deref(want.Meta.Total, 0), deref(want.Meta.LastPage, 1)
	if got, wantLabel := p.pager.label.Text, fmt.Sprintf("Page 1 of %d · %d patients", last, total); got != wantLabel {
		t.Errorf("pager says %q, want %q", got, wantLabel)
	}
	if !p.pager.prev.Disabled() {
		t.Error("Prev should be disabled on page 1")
	}
	if last < 2 {
		t.Fatalf("the sandbox's %d patients fit on one page of %d; paging cannot be checked", total, patientsPerPage)
	}
	test.Tap(p.pager.next)
	h.waitFor("page 2", func() bool { return p.page == 2 && !p.loading.Visible() })
	want2, err := h.core.Patients(h.ctx(), "", 2, patientsPerPage)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(p.items), ids(want2.Items)) {
		t.Errorf("page 2 shows %v, want %v", ids(p.items), ids(want2.Items))
	}
	if !strings.HasPrefix(p.pager.label.Text, fmt.Sprintf("Page 2 of %d", last)) || p.pager.prev.Disabled() {
		t.Errorf("on page 2: pager %q, prev disabled %v", p.pager.label.Text, p.pager.prev.Disabled())
	}
	test.Tap(p.pager.prev)
	h.waitFor("back on page 1", func() bool { return p.page == 1 && !p.loading.Visible() })
	if !slices.Equal(ids(p.items), ids(want.Items)) {
		t.Errorf("back on page 1 shows %v, want %v", ids(p.items), ids(want.Items))
	}
}

func TestPatientSearchFiltersAsYouType(t *testing.T) {
	h := newHarness(t, true)
	p := openPatients(h)
	before := deref(p.pagerTotal(), 0)

	// A fragment of a seeded surname, typed in a different case.
	surname := p.items[len(p.items)-1].LastName
	frag := strings.ToUpper(string([]rune(surname)[:min(4, len([]rune(surname)))]))
	test.Type(p.search, frag)
	if p.query == frag {
		t.Fatal("the search went out before typing paused; it should be debounced")
	}
	h.waitFor("the search results", func() bool {
		return p.query == frag && p.loaded && !p.loading.Visible()
	})

	want, err := h.core.Patients(h.ctx(), frag, 1, patientsPerPage)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.items) == 0 || !slices.Equal(ids(p.items), ids(want.Items)) {
		t.Fatalf("search %q shows %v, want %v", frag, ids(p.items), ids(want.Items))
	}
	for _, pt := range p.items {
		if !strings.Contains(strings.ToLower(app.PatientName(pt)), strings.ToLower(frag)) {
			t.Errorf("search %q shows %q, which does not match", frag, app.PatientName(pt))
		}
	}
	if after := deref(p.pagerTotal(), 0); after >= before {
		t.Errorf("search %q left %d of %d patients; it should narrow the list", frag, after, before)
	}

	// A search nobody matches says so.
	p.search.SetText("")
	test.Type(p.search, "zzqqxx")
	h.waitFor("the empty result", func() bool { return p.query == "zzqqxx" && !p.loading.Visible() })
	if len(p.items) != 0 || !strings.Contains(labelText(p.empty), "zzqqxx") {
		t.Errorf("no-match search: %d rows, message %q", len(p.items), labelText(p.empty))
	}
}

// pagerTotal is the total the last page answer reported, parsed back from
// what the screen shows.
func (p *patientsScreen) pagerTotal() *int {
	var page, last, total int
	if _, err := fmt.Sscanf(p.pager.label.Text, "Page %d of %d · %d", &page, &last, &total); err != nil {
		return nil
	}
	return &total
}

func TestPatientCreateShowsNewPatient(t *testing.T) {
	h := newHarness(t, true)
	p := openPatients(h)

	test.Tap(p.add)
	f := p.form
	if f == nil {
		t.Fatal("New patient did not open the form")
	}
	if h.main().win.Canvas().Focused() != f.first {
		t.Error("the form should open with the cursor in First name")
	}
	test.Type(f.first, "Odalys")
	test.Type(f.middle, "Q")
	test.Type(f.last, "Brightwater")
	test.Type(f.dob, "1979-11-02")
	f.gender.SetSelected("Female")
	press(f.dob, fyne.KeyReturn) // Enter submits from any single-line field
	h.waitFor("the form to close", func() bool { return p.form == nil })
	h.waitFor("the list to show the new patient", func() bool {
		return !p.loading.Visible() && slices.ContainsFunc(p.items, func(pt api.Patient) bool {
			return pt.LastName == "Brightwater"
		})
	})
	i := slices.IndexFunc(p.items, func(pt api.Patient) bool { return pt.LastName == "Brightwater" })
	got := p.items[i]
	if got.FirstName != "Odalys" || dateOfBirth(got) != "1979-11-02" || deref(got.Gender, "") != "female" || deref(got.MiddleName, "") != "Q" {
		t.Errorf("created patient = %+v", got)
	}
	// It is on the server, not only on the screen.
	again, err := h.core.Patients(h.ctx(), "Brightwater", 1, 10)
	if err != nil || len(again.Items) != 1 {
		t.Fatalf("server search for the new patient: %v, %d found", err, len(again.Items))
	}
}

func TestPatientCreateShowsFieldErrors(t *testing.T) {
	h := newHarness(t, true)
	p := openPatients(h)

	test.Tap(p.add)
	f := p.form
	// A missing last name is caught on the spot, under the field.
	test.Type(f.first, "Nolast")
	test.Tap(f.save)
	if f.busy {
		t.Fatal("a form without a last name was sent")
	}
	if labelText(f.fieldErrs["last_name"]) == "" || labelText(f.fieldErrs["first_name"]) != "" {
		t.Errorf("under Last name %q, under First name %q; want a message under Last name only",
			labelText(f.fieldErrs["last_name"]), labelText(f.fieldErrs["first_name"]))
	}
	if h.main().win.Canvas().Focused() != f.last {
		t.Error("the cursor should move to the field in error")
	}

	// What only the server checks comes back field by field too.
	test.Type(f.last, "Oldtimer")
	test.Type(f.dob, "1850-01-01")
	test.Tap(f.save)
	if !f.busy {
		t.Fatal("a complete form was not sent")
	}
	h.waitFor("the server's answer", func() bool { return !f.busy })
	if p.form != f {
		t.Fatal("the form closed although the server refused the patient")
	}
	_, err := h.core.CreatePatient(h.ctx(), app.NewPatient{FirstName: "Nolast", LastName: "Oldtimer", DateOfBirth: "1850-01-01"})
	var ve *api.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields["date_of_birth"]) == 0 {
		t.Fatalf("core.CreatePatient born 1850: %v, want a ValidationError on date_of_birth", err)
	}
	if got, want := labelText(f.fieldErrs["date_of_birth"]), strings.Join(ve.Fields["date_of_birth"], " "); got != want {
		t.Errorf("under Date of birth: %q, want %q", got, want)
	}
	if labelText(f.fieldErrs["last_name"]) != "" {
		t.Errorf("the corrected Last name still shows %q", labelText(f.fieldErrs["last_name"]))
	}
	if h.main().win.Canvas().Focused() != f.dob {
		t.Error("the cursor should move to the field the server refused")
	}

	// Corrected, the server takes it and the form closes.
	f.dob.SetText("1950-01-01")
	test.Tap(f.save)
	h.waitFor("the form to close", func() bool { return p.form == nil })
}

func TestPatientFormEscapeCloses(t *testing.T) {
	h := newHarness(t, true)
	p := openPatients(h)
	test.Tap(p.add)
	f := p.form
	test.Type(f.first, "Some")
	press(f.first, fyne.KeyEscape)
	if p.form != nil || h.main().escape != nil {
		t.Error("Escape in the form should close it")
	}
	// And with nothing focused, the window's Escape closes it too.
	test.Tap(p.add)
	h.main().win.Canvas().Unfocus()
	h.main().win.Canvas().(interface{ OnTypedKey() func(*fyne.KeyEvent) }).OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if p.form != nil {
		t.Error("Escape with nothing focused should close the form")
	}
}

func TestPatientsLoadErrorRetry(t *testing.T) {
	h := newHarness(t, true)
	h.sandbox.Faults().SetErrorRate(1)
	m := h.main()
	m.showScreen(navPatients)
	p := m.patients
	h.waitFor("the error", func() bool { return p.failure.box.Visible() })
	if p.failure.message.Text == "" || p.listArea.Visible() {
		t.Errorf("failed load: message %q, list visible %v", p.failure.message.Text, p.listArea.Visible())
	}
	if labelText(m.status) == "" {
		t.Error("the status line should carry the error too")
	}

	h.sandbox.Faults().Reset()
	test.Tap(p.failure.retry)
	h.waitFor("the retried load", func() bool { return p.loaded && !p.loading.Visible() })
	if p.failure.box.Visible() || !p.listArea.Visible() || len(p.items) == 0 {
		t.Errorf("after Retry: error visible %v, list visible %v, %d rows", p.failure.box.Visible(), p.listArea.Visible(), len(p.items))
	}
}

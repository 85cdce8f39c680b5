package app_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

func TestPatientsSearchAndCreate(t *testing.T) {
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	signIn(t, c, url)
	serve(t, c)
	ctx := t.Context()

	first, err := c.Patients(ctx, "", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 5 || first.Meta.Current() != 1 || !first.HasNext() {
		t.Fatalf("page 1 of 5: %d items, meta %+v", len(first.Items), first.Meta)
	}
	second, err := c.Patients(ctx, "", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if second.Meta.Current() != 2 || len(second.Items) == 0 {
		t.Fatalf("page 2: %d items, meta %+v", len(second.Items), second.Meta)
	}
	for _, a := range first.Items {
		for _, b := range second.Items {
			if a.Id == b.Id {
				t.Errorf("patient %d on pages 1 and 2", a.Id)
			}
		}
	}

	// Search by part of a name someone on the list has.
	target := first.Items[2]
	q := strings.ToLower(target.LastName[:3])
	found, err := c.Patients(ctx, q, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(found.Items, func(p api.Patient) bool { return p.Id == target.Id }) {
		t.Errorf("search %q did not find patient %d", q, target.Id)
	}
	for _, p := range found.Items {
		if !strings.Contains(strings.ToLower(app.PatientName(p)), q) {
			t.Errorf("search %q returned %q", q, app.PatientName(p))
		}
	}

	added, err := c.CreatePatient(ctx, app.NewPatient{
		FirstName: " Robin ", MiddleName: "Q", LastName: "Testpatient", Gender: "female", DateOfBirth: "1990-04-01",
	})
	if err != nil {
		t.Fatalf("create: %v (%s)", err, app.Explain(err))
	}
	if added.Pending {
		t.Fatalf("created while the server is up, but still pending: %s", added.Reason)
	}
	created := added.Patient
	if created.Id == 0 || created.FirstName != "Robin" || app.PatientName(created) != "Robin Q Testpatient" {
		t.Errorf("created %+v", created)
	}
	if created.DateOfBirth == nil || created.DateOfBirth.String() != "1990-04-01" {
		t.Errorf("date of birth = %v", created.DateOfBirth)
	}
	found, err = c.Patients(ctx, "testpatient", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Items) != 1 || found.Items[0].Id != created.Id {
		t.Errorf("search for the new patient: %+v", found.Items)
	}

	// Neither patient names nor search terms reach the log.
	p.log.noneIn(t, "Testpatient", "testpatient", target.LastName, q+"\"", "search="+q)
}

func TestCreatePatientRefusedInput(t *testing.T) {
	_, url := startSandbox(t)
	c := newProfile(t).open(t, "")
	signIn(t, c, url)
	for _, tc := range []struct {
		name string
		in   app.NewPatient
		want string
	}{
		{"no names", app.NewPatient{}, "The first and last name are empty"},
		{"no last name", app.NewPatient{FirstName: "A", LastName: "  "}, "The last name is empty"},
		{"no first name", app.NewPatient{LastName: "B"}, "The first name is empty"},
		{"bad date", app.NewPatient{FirstName: "A", LastName: "B", DateOfBirth: "03/15/1985"}, "write it as YYYY-MM-DD"},
		{"future date", app.NewPatient{FirstName: "A", LastName: "B", DateOfBirth: time.Now().AddDate(1, 0, 0).Format(time.DateOnly)}, "in the future"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreatePatient(t.Context(), tc.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := app.Explain(err); !strings.Contains(got, tc.want) {
				t.Errorf("Explain = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

// What only the server checks comes back as its field messages.
func TestCreatePatientValidationError(t *testing.T) {
	_, url := startSandbox(t)
	c := newProfile(t).open(t, "")
	signIn(t, c, url)
	serve(t, c)
	_, err := c.CreatePatient(t.Context(), app.NewPatient{
		FirstName: strings.Repeat("x", 300), LastName: "Long", DateOfBirth: "1850-01-01",
	})
	var ve *api.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *api.ValidationError", err)
	}
	if ve.Field("first_name") == "" || ve.Field("date_of_birth") == "" {
		t.Errorf("fields = %v, want first_name and date_of_birth", ve.Fields)
	}
	got := app.Explain(err)
	if !strings.HasPrefix(got, "The server did not accept the details: ") || !strings.HasSuffix(got, " — correct them and try again.") {
		t.Errorf("Explain = %q", got)
	}
	for _, field := range []string{"first_name", "date_of_birth"} {
		if msg := strings.TrimSuffix(ve.Field(field), "."); !strings.Contains(got, msg) {
			t.Errorf("Explain = %q, does not give the %s message %q", got, field, msg)
		}
	}
}

func TestNotes(t *testing.T) {
	_, url := startSandbox(t)
	c := newProfile(t).open(t, "")
	signIn(t, c, url)
	ctx := t.Context()

	latest, err := c.Notes(ctx, app.NoteFilter{SortBy: "latest", PerPage: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(latest.Items) != 3 || latest.Meta.TotalItems() < 4 {
		t.Fatalf("the sandbox should hold more than one page of notes: %d items, meta %+v", len(latest.Items), latest.Meta)
	}
	page2, err := c.Notes(ctx, app.NoteFilter{SortBy: "latest", PerPage: 3, Page: 2})
	if err != nil {
		t.Fatal(err)
	}
	if page2.Meta.Current() != 2 || len(page2.Items) == 0 {
		t.Fatalf("page 2: meta %+v", page2.Meta)
	}
	all := append(slices.Clone(latest.Items), page2.Items...)
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Errorf("latest first: note %d (%v) after note %d (%v)", all[i].Id, all[i].CreatedAt, all[i-1].Id, all[i-1].CreatedAt)
		}
		if all[i].Id == all[i-1].Id {
			t.Errorf("note %d twice", all[i].Id)
		}
	}
	oldest, err := c.Notes(ctx, app.NoteFilter{SortBy: "oldest", PerPage: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(oldest.Items); i++ {
		if oldest.Items[i].CreatedAt.Before(oldest.Items[i-1].CreatedAt) {
			t.Errorf("oldest first: note %d before note %d", oldest.Items[i].Id, oldest.Items[i-1].Id)
		}
	}
	if oldest.Items[0].Id == latest.Items[0].Id {
		t.Errorf("oldest and latest start with the same note %d", oldest.Items[0].Id)
	}

	// By patient: the patient of the latest note.
	var pid int64
	for _, n := range all {
		if n.Patient != nil {
			pid = n.Patient.Id
			break
		}
	}
	if pid == 0 {
		t.Fatal("no seeded note has a patient")
	}
	byPatient, err := c.Notes(ctx, app.NoteFilter{PatientID: pid, PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(byPatient.Items) == 0 || len(byPatient.Items) >= latest.Meta.TotalItems() {
		t.Errorf("notes of patient %d: %d of %d", pid, len(byPatient.Items), latest.Meta.TotalItems())
	}
	for _, n := range byPatient.Items {
		if n.Patient == nil || n.Patient.Id != pid {
			t.Errorf("note %d of another patient in patient %d's list", n.Id, pid)
		}
	}

	n, err := c.Note(ctx, latest.Items[0].Id)
	if err != nil {
		t.Fatal(err)
	}
	if n.Id != latest.Items[0].Id || n.Name != latest.Items[0].Name {
		t.Errorf("Note(%d) = %d %q", latest.Items[0].Id, n.Id, n.Name)
	}
	if s := app.NoteStatus(n); s != "Ready" && s != "Signed" {
		t.Errorf("a seeded note's status is %q", s)
	}

	_, err = c.Note(ctx, 999999)
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("Note(999999): %v, want ErrNotFound", err)
	}
	if _, err := c.Notes(ctx, app.NoteFilter{SortBy: "newest"}); err == nil || !strings.Contains(app.Explain(err), "latest or oldest") {
		t.Errorf("bad sort: %v", err)
	}
	if _, err := c.Notes(ctx, app.NoteFilter{PerPage: 101}); err == nil || !strings.Contains(app.Explain(err), "between 1 and 100") {
		t.Errorf("per page 101: %v", err)
	}
	if _, err := c.Note(ctx, 0); err == nil {
		t.Error("Note(0) accepted")
	}

	ts, err := c.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) == 0 || ts[0].Name == "" {
		t.Errorf("templates = %+v", ts)
	}
}

// With the server gone, a roster search is answered from what was fetched
// earlier, and says so.
func TestOfflineRosterSearch(t *testing.T) {
	srv, url := startSandbox(t)
	p := newProfile(t)
	p.attempts = 1
	c := p.open(t, "")
	signIn(t, c, url)
	ctx := t.Context()
	online, err := c.Patients(ctx, "", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	target := online.Items[len(online.Items)/2]
	q := target.FirstName

	srv.Close()

	pg, err := c.Patients(ctx, q, 1, 0)
	if !errors.Is(err, app.ErrOffline) || !errors.Is(err, api.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrOffline and ErrUnreachable", err)
	}
	if !strings.HasPrefix(app.Explain(err), "Cannot reach 127.0.0.1:") {
		t.Errorf("Explain = %q", app.Explain(err))
	}
	if !slices.ContainsFunc(pg.Items, func(p api.Patient) bool { return p.Id == target.Id }) {
		t.Fatalf("offline search %q did not find patient %d: %+v", q, target.Id, pg.Items)
	}
	for _, p := range pg.Items {
		if !strings.Contains(strings.ToLower(app.PatientName(p)), strings.ToLower(q)) {
			t.Errorf("offline search %q returned %q", q, app.PatientName(p))
		}
	}
	got := pg.Items[slices.IndexFunc(pg.Items, func(p api.Patient) bool { return p.Id == target.Id })]
	if app.PatientName(got) != app.PatientName(target) || (target.DateOfBirth != nil && (got.DateOfBirth == nil || got.DateOfBirth.String() != target.DateOfBirth.String())) {
		t.Errorf("offline copy %+v differs from %+v", got, target)
	}

	// Offline paging: 2 per page over everyone kept.
	p1, err := c.Patients(ctx, "", 1, 2)
	if !errors.Is(err, app.ErrOffline) || len(p1.Items) != 2 || !p1.HasNext() {
		t.Fatalf("offline page 1: %v, %d items, meta %+v", err, len(p1.Items), p1.Meta)
	}
	p2, err := c.Patients(ctx, "", 2, 2)
	if !errors.Is(err, app.ErrOffline) || len(p2.Items) != 2 || p2.Items[0].Id == p1.Items[0].Id {
		t.Fatalf("offline page 2: %v, %+v", err, p2.Items)
	}

	// A new start while the server is away resumes offline with the last user.
	c2 := p.open(t, "")
	u, err := c2.Resume(ctx)
	if !errors.Is(err, app.ErrOffline) || u.Email == "" {
		t.Fatalf("offline Resume = %+v, %v", u, err)
	}
	if _, ok := c2.User(); !ok {
		t.Error("offline Resume did not start the session")
	}
	pg, err = c2.Patients(ctx, q, 1, 0)
	if !errors.Is(err, app.ErrOffline) || !slices.ContainsFunc(pg.Items, func(p api.Patient) bool { return p.Id == target.Id }) {
		t.Errorf("offline search after an offline Resume: %v, %d items", err, len(pg.Items))
	}
	// Notes are not kept yet: plainly unreachable.
	if _, err := c2.Notes(ctx, app.NoteFilter{}); !errors.Is(err, api.ErrUnreachable) || errors.Is(err, app.ErrOffline) {
		t.Errorf("Notes offline: %v", err)
	}
}

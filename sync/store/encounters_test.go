package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func sampleEncounter(id string, created time.Time) Encounter {
	return Encounter{ID: id, PatientID: 42, State: "recording", CreatedAt: created, Device: "Built-in Microphone",
		Source: SourceMic, Dir: "encounters/" + id}
}

func TestEncounterRoundTrip(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	created := time.Date(2026, 1, 22, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	e := sampleEncounter("e1", created)
	if err := s.CreateEncounter(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := s.Encounter(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.CreatedAt = created.Truncate(time.Microsecond)
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("created = %v, want %v", got.CreatedAt, want.CreatedAt)
	}
	got.CreatedAt = want.CreatedAt
	if got != want {
		t.Errorf("read back %+v, want %+v", got, want)
	}

	ended := created.Add(90 * time.Second)
	if err := s.UpdateEncounter(ctx, "e1", EncounterUpdate{State: "paused", Duration: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Encounter(ctx, "e1"); got.State != "paused" || got.Duration != 1500*time.Millisecond || !got.EndedAt.IsZero() || got.Device != e.Device {
		t.Errorf("after pause: %+v", got)
	}
	if err := s.UpdateEncounter(ctx, "e1", EncounterUpdate{State: "ended", Duration: 89*time.Second + 999*time.Millisecond + 999*time.Microsecond, EndedAt: ended, Device: "USB Headset"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Encounter(ctx, "e1")
	if got.State != "ended" || got.Duration != 89999*time.Millisecond || !got.EndedAt.Equal(ended.Truncate(time.Microsecond)) || got.Device != "USB Headset" {
		t.Errorf("after end: %+v (duration is kept to the millisecond, rounded down)", got)
	}

	if err := s.UpdateEncounter(ctx, "nope", EncounterUpdate{State: "ended"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing encounter: %v, want ErrNotFound", err)
	}
	if _, err := s.Encounter(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("read of a missing encounter: %v, want ErrNotFound", err)
	}
	if err := s.CreateEncounter(ctx, e); !errors.Is(err, ErrExists) {
		t.Errorf("second create with the same id: %v, want ErrExists", err)
	}
	if err := s.DeleteEncounter(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Encounter(ctx, "e1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("read after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteEncounter(ctx, "e1"); err != nil {
		t.Errorf("delete of a missing encounter: %v", err)
	}
}

func TestEncounterWithoutPatient(t *testing.T) {
	s, _ := openTest(t)
	e := sampleEncounter("e1", time.Now())
	e.PatientID = 0
	e.Source, e.Device, e.State = SourceImport, "", "ended"
	if err := s.CreateEncounter(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	var isNull bool
	if err := s.db.QueryRowContext(t.Context(), "SELECT patient_id IS NULL FROM encounters WHERE id = 'e1'").Scan(&isNull); err != nil {
		t.Fatal(err)
	}
	if !isNull {
		t.Error("patient_id of an encounter without a patient is not NULL")
	}
	if got, err := s.Encounter(t.Context(), "e1"); err != nil || got.PatientID != 0 {
		t.Errorf("read back patient %d, %v; want 0", got.PatientID, err)
	}
}

func TestCreateEncounterRefusesBadRows(t *testing.T) {
	s, _ := openTest(t)
	now := time.Now()
	for name, mutate := range map[string]func(*Encounter){
		"no id":        func(e *Encounter) { e.ID = "" },
		"no state":     func(e *Encounter) { e.State = "" },
		"bad source":   func(e *Encounter) { e.Source = "radio" },
		"no folder":    func(e *Encounter) { e.Dir = "" },
		"no time":      func(e *Encounter) { e.CreatedAt = time.Time{} },
		"negative dur": func(e *Encounter) { e.Duration = -time.Second },
	} {
		e := sampleEncounter("bad", now)
		mutate(&e)
		if err := s.CreateEncounter(t.Context(), e); err == nil {
			t.Errorf("%s: created", name)
		}
	}
	if list, err := s.Encounters(t.Context(), EncounterQuery{}); err != nil || len(list) != 0 {
		t.Errorf("after refused creates: %d encounters, %v", len(list), err)
	}
}

// Encounters come newest first, including ones created within the same
// second (fixed-width times sort as text).
func TestEncountersNewestFirst(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	base := time.Date(2026, 1, 22, 9, 30, 5, 0, time.UTC)
	// Offsets chosen so that variable-width RFC 3339 text would sort them
	// wrongly ("05Z" after "05.1Z").
	offsets := []time.Duration{0, 100 * time.Millisecond, 120 * time.Millisecond, time.Second, -time.Hour}
	for i, off := range offsets {
		e := sampleEncounter(fmt.Sprintf("e%d", i), base.Add(off))
		if i%2 == 1 {
			e.State = "ended"
		}
		if err := s.CreateEncounter(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(list []Encounter) []string {
		var out []string
		for _, e := range list {
			out = append(out, e.ID)
		}
		return out
	}
	all, err := s.Encounters(ctx, EncounterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"e3", "e2", "e1", "e0", "e4"}; !slices.Equal(ids(all), want) {
		t.Errorf("order %v, want %v", ids(all), want)
	}
	two, err := s.Encounters(ctx, EncounterQuery{Limit: 2})
	if err != nil || !slices.Equal(ids(two), []string{"e3", "e2"}) {
		t.Errorf("limit 2: %v, %v", ids(two), err)
	}
	open, err := s.Encounters(ctx, EncounterQuery{States: []string{"recording", "paused"}})
	if err != nil || !slices.Equal(ids(open), []string{"e2", "e0", "e4"}) {
		t.Errorf("open ones: %v, %v", ids(open), err)
	}
	if _, err := s.Encounters(ctx, EncounterQuery{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

func TestEncountersMigrationOnOldDatabase(t *testing.T) {
	// A profile made by the first release (schema 1) gains the table.
	s, path := openTest(t)
	if _, err := s.db.ExecContext(t.Context(), "DROP TABLE encounters; PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(t.Context(), "server", "x"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.CreateEncounter(t.Context(), sampleEncounter("e1", time.Now())); err != nil {
		t.Errorf("create after migrating schema 1: %v", err)
	}
	if v, err := s2.Setting(t.Context(), "server"); err != nil || v != "x" {
		t.Errorf("setting after migration: %q, %v", v, err)
	}
}

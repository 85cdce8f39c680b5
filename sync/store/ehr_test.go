package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func saveConn(t *testing.T, s *DB, c EHRConnection) {
	t.Helper()
	ctx := t.Context()
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := s.SaveEHRConnectionTx(ctx, tx, c); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestEHRConnectionRoundTripAndUpdate(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	if _, err := s.EHRConnection(ctx, "osmind"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing connection: %v", err)
	}
	at := time.Date(2026, 3, 2, 10, 4, 5, 123000, time.UTC)
	want := EHRConnection{Kind: "osmind", State: "test", BaseURL: "https://ehr.example/osmind", APIURL: "https://ehr.example/osmind/api",
		TokenEndpoint: "https://ehr.example/osmind/oauth/token", AccountName: "Osmind", PushWhen: "sign", PushWhat: "note-only",
		PushUpdate: "replace", ConnectedAt: at, RosterSince: at.Add(time.Hour), TestEncounter: "e1", TestJob: 7}
	saveConn(t, s, want)
	got, err := s.EHRConnection(ctx, "osmind")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("read back %+v\nwant %+v", got, want)
	}
	if err := s.UpdateEHRConnection(ctx, "osmind", func(c *EHRConnection) error {
		c.State, c.LastWriteAt = "active", at.Add(time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("no")
	if err := s.UpdateEHRConnection(ctx, "osmind", func(c *EHRConnection) error {
		c.State = "expired"
		return refuse
	}); !errors.Is(err, refuse) {
		t.Fatalf("update refused by fn: %v", err)
	}
	if err := s.UpdateEHRConnection(ctx, "kalix", func(*EHRConnection) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing connection: %v", err)
	}
	got, _ = s.EHRConnection(ctx, "osmind")
	if got.State != "active" || !got.LastWriteAt.Equal(at.Add(time.Minute)) || got.PushUpdate != "replace" {
		t.Errorf("after update %+v", got)
	}
	all, err := s.EHRConnections(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("list: %v %v", all, err)
	}
}

func TestEHRLogKeepsTheLatest(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	for i := range EHRLogKeep + 5 {
		if err := s.AddEHRLog(ctx, "nexhealth", EHRLogEntry{At: time.Now(), Error: i%2 == 1, Message: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddEHRLog(ctx, "kalix", EHRLogEntry{At: time.Now(), Message: "other"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.EHRLog(ctx, "nexhealth", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != EHRLogKeep || all[0].Message != fmt.Sprint("line ", EHRLogKeep+4) || all[len(all)-1].Message != "line 5" || all[0].Error || !all[len(all)-1].Error {
		t.Errorf("kept %d lines, newest %+v, oldest %+v", len(all), all[0], all[len(all)-1])
	}
	if few, _ := s.EHRLog(ctx, "nexhealth", 3); len(few) != 3 {
		t.Errorf("limit 3 gave %d", len(few))
	}
}

func TestEHRProvidersMappingRoster(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	if err := s.SetEHRProviders(ctx, "kalix", []EHRProvider{{ID: "p2", Name: "Okafor, Maya"}, {ID: "p1", Name: "Rivera, Samuel", Email: "s@x"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEHRProviders(ctx, "kalix", []EHRProvider{{ID: "p1", Name: "Rivera, Samuel"}, {ID: "p3", Name: "Ferreira, Luis"}}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.EHRProviders(ctx, "kalix")
	if err != nil || len(ps) != 2 || ps[0].ID != "p3" || ps[1].ID != "p1" {
		t.Errorf("providers replaced, by name: %+v %v", ps, err)
	}
	if err := s.SetEHRMappings(ctx, "kalix", []EHRMapping{{ClinicianID: 1, ProviderID: "p1"}, {ClinicianID: 2, ProviderID: "p3"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEHRMappings(ctx, "kalix", []EHRMapping{{ClinicianID: 2, ProviderID: ""}}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.EHRMapping(ctx, "kalix", 1); err != nil || m.ProviderID != "p1" {
		t.Errorf("mapping of 1: %+v %v", m, err)
	}
	if _, err := s.EHRMapping(ctx, "kalix", 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("unmapped clinician: %v", err)
	}
	if _, err := s.EHRMapping(ctx, "osmind", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("mapping leaked across kinds: %v", err)
	}

	saveConn(t, s, EHRConnection{Kind: "kalix", State: "active"})
	if err := s.UpsertEHRPatients(ctx, "kalix", []EHRPatient{{ID: "k1", FirstName: "Jane", LastName: "Doe", DateOfBirth: "1985-03-15", PatientID: 11},
		{ID: "k2", FirstName: "Grace", LastName: "Kim"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertEHRPatients(ctx, "osmind", []EHRPatient{{ID: "o1", FirstName: "Jane", LastName: "Doe", PatientID: 11}}); err != nil {
		t.Fatal(err)
	}
	src, err := s.EHRPatientSources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Osmind has no saved connection: its roster is not a source.
	if len(src) != 1 || len(src[11]) != 1 || src[11][0] != "kalix" {
		t.Errorf("sources %v; want patient 11 in kalix only", src)
	}
	if err := s.DeleteEHRConnection(ctx, "kalix"); err != nil {
		t.Fatal(err)
	}
	if rows, _ := s.EHRPatients(ctx, "kalix"); len(rows) != 0 {
		t.Errorf("roster kept after the connection was forgotten: %+v", rows)
	}
	if ms, _ := s.EHRMappings(ctx, "kalix"); len(ms) != 1 {
		t.Errorf("mapping not kept for a reconnect: %+v", ms)
	}
}

func TestEHRPushOncePerVersion(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	if err := s.CreateEncounter(ctx, sampleEncounter("e1", time.Now())); err != nil {
		t.Fatal(err)
	}
	next := func() int {
		t.Helper()
		tx, err := s.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		v, err := s.NextEHRVersionTx(ctx, tx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v1, v2 := next(), next(); v1 != 1 || v2 != 2 {
		t.Fatalf("versions %d, %d", v1, v2)
	}
	if v, err := s.EHRVersion(ctx, "e1"); err != nil || v != 2 {
		t.Errorf("version %d %v", v, err)
	}
	add := func(p EHRPush) error {
		tx, err := s.BeginTx(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := s.AddEHRPushTx(ctx, tx, p); err != nil {
			return err
		}
		return tx.Commit()
	}
	p := EHRPush{Kind: "nexhealth", EncounterID: "e1", Version: 1, Event: "sign", Ref: "1/9", Status: "pending", Content: "text",
		EHRPatientID: "1", ProviderID: "2", VisitDate: "2026-03-02", PushedAt: time.Now()}
	if err := add(p); err != nil {
		t.Fatal(err)
	}
	if err := add(p); !errors.Is(err, ErrExists) {
		t.Errorf("second push of one version: %v", err)
	}
	p.Version, p.Ref, p.PushedAt = 2, "1/10", p.PushedAt.Add(time.Second)
	if err := add(p); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEHRPushStatus(ctx, "nexhealth", "e1", 1, "confirmed", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEHRPushStatus(ctx, "nexhealth", "e1", 1, "lost", ""); err == nil {
		t.Error("unknown status accepted")
	}
	if err := s.SetEHRPushStatus(ctx, "nexhealth", "e1", 9, "failed", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of a missing push: %v", err)
	}
	latest, err := s.LatestEHRPush(ctx, "nexhealth", "e1")
	if err != nil || latest.Version != 2 || latest.Ref != "1/10" {
		t.Errorf("latest %+v %v", latest, err)
	}
	first, err := s.EHRPush(ctx, "nexhealth", "e1", 1)
	if err != nil || first.Status != "confirmed" || first.Ref != "1/9" {
		t.Errorf("first %+v %v", first, err)
	}
	all, err := s.EHRPushes(ctx, "e1")
	if err != nil || len(all) != 2 || all[0].Version != 1 {
		t.Errorf("pushes %+v %v", all, err)
	}
	if _, err := s.LatestEHRPush(ctx, "osmind", "e1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("no push to osmind: %v", err)
	}
}

package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestLocalDeletionAndText(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	for _, id := range []string{"e1", "e2"} {
		if err := s.CreateEncounter(ctx, sampleEncounter(id, time.Now())); err != nil {
			t.Fatal(err)
		}
		draft, note := "S: fine.", `{"id":1}`
		if err := s.PatchEncounter(ctx, id, EncounterPatch{Draft: &draft, Note: &note}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddTurn(ctx, id, Turn{Start: 0, End: 100, Text: "hi", Source: TurnLive}, Range{0, 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.LocalDeletion(ctx, "e1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("mark before any deletion: %v; want ErrNotFound", err)
	}
	if err := s.MarkLocalDeletion(ctx, "e1", LocalDeletion{Reason: "retention"}); err == nil {
		t.Error("a mark without a time was accepted")
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	if err := s.MarkLocalDeletion(ctx, "e1", LocalDeletion{At: at, Reason: "on request", Text: true}); err != nil {
		t.Fatal(err)
	}
	d, err := s.LocalDeletion(ctx, "e1")
	if err != nil || !d.At.Equal(at) || d.Reason != "on request" || !d.Text {
		t.Errorf("mark %+v, %v", d, err)
	}

	if err := s.DeleteLocalText(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	e1, err := s.Encounter(ctx, "e1")
	if err != nil || e1.Draft != "" || e1.Note != "" {
		t.Errorf("e1 after DeleteLocalText: draft %q note %q, %v", e1.Draft, e1.Note, err)
	}
	for id, want := range map[string]int{"e1": 0, "e2": 1} {
		turns, err := s.Turns(ctx, id)
		cov, err2 := s.Coverage(ctx, id)
		if err != nil || err2 != nil || len(turns) != want || len(cov) != want {
			t.Errorf("%s: %d turns, %d ranges (%v %v); want %d", id, len(turns), len(cov), err, err2, want)
		}
	}
	if e2, err := s.Encounter(ctx, "e2"); err != nil || e2.Draft == "" {
		t.Errorf("the other encounter lost its draft: %+v %v", e2, err)
	}
	if err := s.DeleteLocalText(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteLocalText of a missing encounter: %v; want ErrNotFound", err)
	}
}

func TestSettingKeys(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	for _, k := range []string{"user:http://a/", "user:https://b_%/", "userx", "use", "server"} {
		if err := s.SetSetting(ctx, k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SettingKeys(ctx, "user:")
	if want := []string{"user:http://a/", "user:https://b_%/"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("SettingKeys(user:) = %q, %v; want %q", got, err, want)
	}
	// '%' and '_' are not wildcards.
	if got, err := s.SettingKeys(ctx, "user:https://b_%"); err != nil || len(got) != 1 {
		t.Errorf("SettingKeys with %%: %q, %v", got, err)
	}
	if got, err := s.SettingKeys(ctx, "u_er"); err != nil || len(got) != 0 {
		t.Errorf("SettingKeys(u_er) = %q, %v; want none", got, err)
	}
	if _, err := s.SettingKeys(ctx, ""); err == nil {
		t.Error("an empty prefix was accepted")
	}
}

package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestTurnsAreStoredOnceAndCoverageMerges(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	if err := s.CreateEncounter(ctx, sampleEncounter("e1", time.Now())); err != nil {
		t.Fatal(err)
	}
	add := func(start, end int64, text string, cov Range) bool {
		t.Helper()
		added, err := s.AddTurn(ctx, "e1", Turn{Start: start, End: end, Text: text, Source: TurnLive,
			Words: []Word{{Text: text, Start: start, End: end, Confidence: 0.9}}}, cov)
		if err != nil {
			t.Fatal(err)
		}
		return added
	}
	if !add(0, 16000, "one", Range{0, 16000}) || !add(32000, 48000, "three", Range{32000, 48000}) {
		t.Fatal("new turns not added")
	}
	// The same speech heard again after a re-send overlaps a stored turn.
	if add(8000, 20000, "one again", Range{8000, 20000}) {
		t.Error("an overlapping turn was stored twice")
	}
	if !add(20000, 30000, "two", Range{20000, 32000}) {
		t.Error("turn two not added")
	}
	cov, err := s.Coverage(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Range{{0, 48000}}; !slices.Equal(cov, want) {
		t.Errorf("coverage = %v, want %v", cov, want)
	}
	turns, err := s.Turns(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, tr := range turns {
		texts = append(texts, tr.Text)
	}
	if !slices.Equal(texts, []string{"one", "two", "three"}) || len(turns[0].Words) != 1 || turns[0].Words[0].End != 16000 {
		t.Errorf("turns = %+v", turns)
	}
	if err := s.AddCoverage(ctx, "e1", Range{60000, 64000}); err != nil {
		t.Fatal(err)
	}
	cov, _ = s.Coverage(ctx, "e1")
	if got, want := Gaps(cov, 80000), []Range{{48000, 60000}, {64000, 80000}}; !slices.Equal(got, want) {
		t.Errorf("gaps = %v, want %v", got, want)
	}
	if _, err := s.AddTurn(ctx, "e1", Turn{Start: 5, End: 1, Text: "x", Source: TurnLive}, Range{}); err == nil {
		t.Error("a turn ending before it starts was stored")
	}
	if _, err := s.AddTurn(ctx, "e1", Turn{Start: 90000, End: 91000, Text: "x", Source: "radio"}, Range{}); err == nil {
		t.Error("a turn from an unknown source was stored")
	}
	// Deleting the encounter takes its transcript and ledger along.
	if err := s.DeleteEncounter(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	if turns, _ := s.Turns(ctx, "e1"); len(turns) != 0 {
		t.Errorf("turns outlived their encounter: %v", turns)
	}
}

func TestGaps(t *testing.T) {
	for _, tc := range []struct {
		cov   []Range
		total int64
		want  []Range
	}{
		{nil, 100, []Range{{0, 100}}},
		{[]Range{{0, 100}}, 100, nil},
		{[]Range{{0, 150}}, 100, nil},
		{[]Range{{10, 20}, {30, 40}}, 50, []Range{{0, 10}, {20, 30}, {40, 50}}},
		{nil, 0, nil},
	} {
		if got := Gaps(tc.cov, tc.total); !slices.Equal(got, tc.want) {
			t.Errorf("Gaps(%v, %d) = %v, want %v", tc.cov, tc.total, got, tc.want)
		}
	}
}

func TestPatchEncounter(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	e := sampleEncounter("e1", time.Now())
	e.Scope, e.TemplateID, e.Context, e.ConsentAt, e.ConsentBy = "https://x/api#7", 2, "follow-up", time.Now(), 7
	e.PatientID = -3 // added offline
	if err := s.CreateEncounter(ctx, e); err != nil {
		t.Fatal(err)
	}
	state, draft, noteID, sent := "ready", "S: better", int64(55), int64(1)
	if err := s.PatchEncounter(ctx, "e1", EncounterPatch{State: &state, Draft: &draft, NoteID: &noteID}); err != nil {
		t.Fatal(err)
	}
	if err := s.PatchEncounter(ctx, "e1", EncounterPatch{Draft: &draft, SentRev: &sent}); err != nil {
		t.Fatal(err)
	}
	old := int64(0)
	if err := s.PatchEncounter(ctx, "e1", EncounterPatch{SentRev: &old}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Encounter(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "ready" || got.Draft != draft || got.DraftRev != 2 || got.SentRev != 1 || got.NoteID != 55 ||
		got.Scope != e.Scope || got.TemplateID != 2 || got.Context != "follow-up" || got.ConsentBy != 7 ||
		got.ConsentAt.IsZero() || got.PatientID != -3 {
		t.Errorf("encounter = %+v", got)
	}
	if err := s.PatchEncounter(ctx, "nope", EncounterPatch{State: &state}); !errors.Is(err, ErrNotFound) {
		t.Errorf("patch of a missing encounter: %v", err)
	}
	empty := ""
	if err := s.PatchEncounter(ctx, "e1", EncounterPatch{State: &empty}); err == nil {
		t.Error("empty state accepted")
	}
}

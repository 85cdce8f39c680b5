package sandbox

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSplitSentences(t *testing.T) {
	t.Parallel()
	got := splitSentences("[sandbox] speech 3.2–7.9 s\nShe  says hi. Dose is 2.5 mg! Really?No split")
	want := []string{"[sandbox] speech 3.2–7.9 s", "She says hi.", "Dose is 2.5 mg!", "Really?No split"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDraftSortsSentencesUnderHeadings(t *testing.T) {
	t.Parallel()
	soap := sampleTemplates[0]
	for _, c := range []struct{ sentence, want string }{
		{"Patient reports feeling low.", "Subjective"},
		{"Appears tired, affect flat.", "Objective"},
		{"Symptoms consistent with depression.", "Assessment"},
		{"Will continue sertraline and follow up in two weeks.", "Plan"},
		{"The weather was discussed.", "Subjective"}, // nothing matches: the first heading
		{"[sandbox] speech 0.5–1.7 s", "Objective"},
	} {
		if got := classify(c.sentence, soap.Sections); got != c.want {
			t.Errorf("%q → %s, want %s", c.sentence, got, c.want)
		}
	}
	out := draft(draftInput{template: soap, transcript: "Patient reports feeling low. Will follow up."})
	again := draft(draftInput{template: soap, transcript: "Patient reports feeling low. Will follow up."})
	if out.analysis != again.analysis {
		t.Error("the drafter is not deterministic")
	}
	if !strings.HasPrefix(out.analysis, draftLabel) || !strings.Contains(out.analysis, "\nObjective\n- Nothing in the transcript matched this section.") {
		t.Errorf("analysis:\n%s", out.analysis)
	}
}

func TestPickCodes(t *testing.T) {
	t.Parallel()
	soap, intake := sampleTemplates[0], sampleTemplates[3]
	for _, c := range []struct {
		in   draftInput
		icd  []string
		cpt  string
		conf float64
	}{
		{draftInput{template: soap, transcript: "No complaints today."}, nil, "90834", 0.5},
		{draftInput{template: soap, transcript: "Anxiety at work. More anxiety at home.", audioSeconds: 45 * 60}, []string{"F41.1"}, "90834", 0.85},
		{draftInput{template: soap, transcript: "Feeling depressed.", audioSeconds: 20 * 60}, []string{"F32.9"}, "90832", 0.85},
		{draftInput{template: soap, transcript: "Panic attacks and insomnia.", audioSeconds: 60 * 60}, []string{"F41.0", "G47.00"}, "90837", 0.85},
		{draftInput{template: soap, transcript: "Brief check-in.", audioSeconds: 5 * 60}, nil, "90832", 0.4},
		{draftInput{template: intake, transcript: "Trauma history.", audioSeconds: 50 * 60}, []string{"F43.10"}, "90791", 0.8},
	} {
		got := pickCodes(c.in)
		var icd []string
		for _, x := range got.ICD10 {
			icd = append(icd, x.Code)
		}
		if !slices.Equal(icd, c.icd) || len(got.CPT) != 1 || got.CPT[0].Code != c.cpt || got.CPT[0].Confidence != c.conf {
			t.Errorf("%q (%v s): icd %v cpt %+v, want %v %s %v", c.in.transcript, c.in.audioSeconds, icd, got.CPT, c.icd, c.cpt, c.conf)
		}
	}
	// More mentions, more confidence, capped below certainty.
	one := pickCodes(draftInput{template: soap, transcript: "anxiety"}).ICD10[0].Confidence
	many := pickCodes(draftInput{template: soap, transcript: strings.Repeat("anxiety ", 40)}).ICD10[0].Confidence
	if !(many > one && many <= 0.95) {
		t.Errorf("confidence one mention %v, forty %v", one, many)
	}
}

func TestPickScreeners(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text string
		want string
	}{
		{"PHQ-9 score is 4.", "PHQ-9 4 minimal"},
		{"phq9 of 22 today.", "PHQ-9 22 severe"},
		{"We gave the PHQ-9.", "PHQ-9 - "},
		{"PHQ-9 score 40.", "PHQ-9 - "}, // out of range: mentioned, not scored
		{"GAD-7 was 15 and PHQ-9 was 10.", "PHQ-9 10 moderate|GAD-7 15 severe"},
		{"No screeners.", ""},
	} {
		var got []string
		for _, s := range pickScreeners(c.text) {
			score := "-"
			if s.Score != nil {
				score = strconv.Itoa(*s.Score)
			}
			got = append(got, s.Name+" "+score+" "+s.Severity)
		}
		if strings.Join(got, "|") != c.want {
			t.Errorf("%q: %q, want %q", c.text, strings.Join(got, "|"), c.want)
		}
	}
}

package mapping

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nextvisit/scribe/sync/ehr"
)

// The sandbox's clinicians and how two EHRs list them: same people, other
// spellings, orders, titles and (for some) emails.
var clinicians = []Clinician{
	{1, "Dr. Sam Rivera", "clinician@sandbox.local"},
	{2, "Dr. Maya Okafor", "maya.okafor@sandbox.local"},
	{3, "Dr. Luis Ferreira", "luis.ferreira@sandbox.local"},
}

func TestSuggest(t *testing.T) {
	for name, tc := range map[string]struct {
		providers []ehr.Provider
		want      []Suggestion
	}{
		"kalix": {
			providers: []ehr.Provider{
				{ID: "k1", Name: "Rivera, Samuel", Email: "sam.rivera@kalix-sandbox.example"},
				{ID: "k2", Name: "Okafor, Maya N.", Email: "maya.okafor@sandbox.local"},
				{ID: "k3", Name: "Ferreira, Luís", Email: "lferreira@sandbox.local"},
			},
			want: []Suggestion{{2, "k2", 1, ByEmail}, {3, "k3", 0, ByName}, {1, "k1", 0, ByName}},
		},
		"a stranger is not suggested": {
			providers: []ehr.Provider{{ID: "x", Name: "Dana Whitfield NP", Email: "dana@example.com"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := Suggest(clinicians, tc.providers)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.ClinicianID != w.ClinicianID || g.ProviderID != w.ProviderID || g.By != w.By ||
					(w.By == ByEmail && g.Score != 1) || (w.By == ByName && (g.Score < MinNameScore || g.Score > 1)) {
					t.Errorf("suggestion %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestNameScore(t *testing.T) {
	for _, tc := range []struct {
		a, b      string
		atLeast   float64
		below     float64
		wantBelow bool
	}{
		{a: "Dr. Sam Rivera", b: "Samuel Rivera MD", atLeast: 0.9},
		{a: "Dr. Luis Ferreira", b: "Ferreira, Luís", atLeast: 0.99},
		{a: "Dr. Maya Okafor", b: "Okafor, Maya N.", atLeast: 0.99},
		{a: "Dr. Maya Okafor", b: "Maya Okafur", atLeast: 0.7},
		{a: "Dr. Sam Rivera", b: "Luis Ferreira", below: MinNameScore, wantBelow: true},
		{a: "Dr. Sam Rivera", b: "Sam Riley", below: MinNameScore, wantBelow: true},
		{a: "", b: "Sam Rivera", below: 0.01, wantBelow: true},
	} {
		s := NameScore(tc.a, tc.b)
		if tc.wantBelow && s >= tc.below || !tc.wantBelow && s < tc.atLeast {
			t.Errorf("NameScore(%q, %q) = %.3f", tc.a, tc.b, s)
		}
		if r := NameScore(tc.b, tc.a); r != s {
			t.Errorf("NameScore is not symmetric for %q, %q: %.3f vs %.3f", tc.a, tc.b, s, r)
		}
	}
}

func TestCSVRoundTripAndRowErrors(t *testing.T) {
	providers := []ehr.Provider{{ID: "OSM-PR-501", Name: "Samuel Rivera MD"}, {ID: "OSM-PR-502", Name: "Maya Okafor PsyD"}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, clinicians, providers, []Pair{{1, "OSM-PR-501"}}); err != nil {
		t.Fatal(err)
	}
	pairs, bad, err := ReadCSV(&buf, clinicians, providers)
	if err != nil || len(bad) != 0 || !slices.Equal(pairs, []Pair{{1, "OSM-PR-501"}}) {
		t.Fatalf("round trip: %v %v %v", pairs, bad, err)
	}

	edited := "\ufeffclinician_id,clinician_name,clinician_email,provider_id,provider_name\n" +
		"1,Dr. Sam Rivera,,OSM-PR-501,\n" + // good
		"2,Dr. Maya Okafor,,OSM-PR-999,\n" + // no such provider
		"x,typo,,OSM-PR-502,\n" + // not a number
		"7,Someone,,OSM-PR-502,\n" + // no such clinician
		"1,again,,OSM-PR-502,\n" + // clinician twice
		"3,Dr. Luis Ferreira,,OSM-PR-501,\n" + // provider twice
		"2\n" + // too short
		"3,Dr. Luis Ferreira,,,\n" // left unmapped: fine
	pairs, bad, err = ReadCSV(strings.NewReader(edited), clinicians, providers)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pairs, []Pair{{1, "OSM-PR-501"}}) {
		t.Errorf("pairs %v", pairs)
	}
	wantLines := []int{3, 4, 5, 6, 7, 8}
	var lines []int
	for _, e := range bad {
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("bad lines %v, want %v: %v", lines, wantLines, bad)
	}
	for _, want := range []string{`no provider "OSM-PR-999"`, `"x" is not a number`, "no clinician 7", "mapped again (first on line 2)", "two clinicians (first on line 2)", "has 1 columns"} {
		if !slices.ContainsFunc(bad, func(e RowError) bool { return strings.Contains(e.Error(), want) }) {
			t.Errorf("no row error says %q: %v", want, bad)
		}
	}

	for _, notCSV := range []string{"", "name,email\nx,y\n"} {
		if _, _, err := ReadCSV(strings.NewReader(notCSV), clinicians, providers); !errors.Is(err, ErrNotMapping) {
			t.Errorf("ReadCSV(%q): %v, want ErrNotMapping", notCSV, err)
		}
	}
}

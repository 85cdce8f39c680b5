// Package mapping pairs the practice's clinicians (Nextvisit users) with an
// EHR's providers: suggestions by email first, then by how alike the names
// are, with a score the admin can judge; and the mapping as CSV, for the
// admin who keeps it in a spreadsheet, read back with an error per bad row.
package mapping

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/nextvisit/scribe/sync/ehr"
)

// Clinician is a Nextvisit user who signs notes.
type Clinician struct {
	ID    int64
	Name  string
	Email string
}

// How a suggestion was found.
const (
	ByEmail = "email"
	ByName  = "name"
)

// Suggestion proposes that a clinician is an EHR provider.
type Suggestion struct {
	ClinicianID int64
	ProviderID  string
	Score       float64 // 1 for the same email; else the names' likeness, 0–1
	By          string  // ByEmail or ByName
}

// MinNameScore is the least name likeness worth suggesting.
const MinNameScore = 0.6

// Suggest proposes at most one provider per clinician and one clinician per
// provider: equal emails first, then the best-scoring names above
// MinNameScore, best first. Clinicians left out have no likely match.
func Suggest(clinicians []Clinician, providers []ehr.Provider) []Suggestion {
	var out []Suggestion
	takenC := map[int64]bool{}
	takenP := map[string]bool{}
	for _, c := range clinicians {
		e := strings.ToLower(strings.TrimSpace(c.Email))
		if e == "" {
			continue
		}
		for _, p := range providers {
			if !takenP[p.ID] && strings.EqualFold(strings.TrimSpace(p.Email), e) {
				out = append(out, Suggestion{ClinicianID: c.ID, ProviderID: p.ID, Score: 1, By: ByEmail})
				takenC[c.ID], takenP[p.ID] = true, true
				break
			}
		}
	}
	var cands []Suggestion
	for _, c := range clinicians {
		if takenC[c.ID] {
			continue
		}
		for _, p := range providers {
			if takenP[p.ID] {
				continue
			}
			if s := NameScore(c.Name, p.Name); s >= MinNameScore {
				cands = append(cands, Suggestion{ClinicianID: c.ID, ProviderID: p.ID, Score: s, By: ByName})
			}
		}
	}
	// Best first; ties in a stable order so the panel does not reshuffle.
	slices.SortStableFunc(cands, func(a, b Suggestion) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	for _, s := range cands {
		if !takenC[s.ClinicianID] && !takenP[s.ProviderID] {
			out = append(out, s)
			takenC[s.ClinicianID], takenP[s.ProviderID] = true, true
		}
	}
	return out
}

// titles are words that say what a clinician is, not who.
var titles = map[string]bool{
	"dr": true, "mr": true, "mrs": true, "ms": true, "md": true, "do": true, "phd": true, "psyd": true,
	"lcsw": true, "lpc": true, "lmft": true, "np": true, "pa": true, "rn": true, "pmhnp": true, "bc": true,
}

// nameParts reads a person's name as (first, last), whatever its order:
// "Dr. Sam Rivera", "Samuel Rivera MD", "Rivera, Samuel".
func nameParts(name string) (first, last string) {
	s := fold(name)
	if before, after, ok := strings.Cut(s, ","); ok {
		s = after + " " + before
	}
	var words []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if !titles[w] {
			words = append(words, w)
		}
	}
	switch len(words) {
	case 0:
		return "", ""
	case 1:
		return "", words[0]
	}
	return words[0], words[len(words)-1]
}

// fold lower-cases s and drops accents, so "Luís" is "luis".
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NameScore says how alike two people's names are, 0–1: the last names
// weigh more than the first, and a first name that begins the other
// ("Sam", "Samuel") counts as nearly the same.
func NameScore(a, b string) float64 {
	af, al := nameParts(a)
	bf, bl := nameParts(b)
	if al == "" || bl == "" {
		return 0
	}
	return 0.65*likeness(al, bl) + 0.35*firstLikeness(af, bf)
}

func firstLikeness(a, b string) float64 {
	switch {
	case a == "" || b == "":
		return 0.5 // unknown: neither for nor against
	case a == b:
		return 1
	case len(a) >= 3 && len(b) >= 3 && (strings.HasPrefix(a, b) || strings.HasPrefix(b, a)):
		return 0.9
	}
	return likeness(a, b)
}

// likeness is the Dice coefficient of the two words' letter pairs: 1 for
// the same word, high for a typo, low for different words.
func likeness(a, b string) float64 {
	if a == b {
		return 1
	}
	pa, pb := pairs(a), pairs(b)
	if len(pa) == 0 || len(pb) == 0 {
		return 0
	}
	common := 0
	for p, n := range pa {
		common += min(n, pb[p])
	}
	return 2 * float64(common) / float64(count(pa)+count(pb))
}

func pairs(s string) map[string]int {
	r := []rune(s)
	m := map[string]int{}
	for i := 0; i+1 < len(r); i++ {
		m[string(r[i:i+2])]++
	}
	return m
}

func count(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

package sandbox

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// The drafter stands in for Nextvisit's note model. It is deterministic and says what it is: it sorts
// the transcript's own sentences under the template's headings by keyword rules, and picks codes and
// screener scores by keywords. The same transcript always gives the same draft.

// draftLabel opens every drafted analysis, so no one mistakes it for a clinical model's output.
const draftLabel = "Draft by the Scribe sandbox (not a clinical model)"

type code struct {
	Code        string  `json:"code"`
	Description string  `json:"description"`
	Confidence  float64 `json:"confidence"`
}

type codes struct {
	ICD10 []code `json:"icd10"`
	CPT   []code `json:"cpt"`
}

type screener struct {
	Name     string `json:"name"`
	Score    *int   `json:"score,omitempty"`
	Severity string `json:"severity,omitempty"`
}

type draftInput struct {
	template   templateBody
	transcript string
	context    string
	// audioSeconds is the recording's length; 0 for a text note.
	audioSeconds float64
}

type draftOutput struct {
	analysis  string
	codes     codes
	screeners []screener
}

// sectionKeywords are the lower-case fragments that pull a sentence under a heading. A sentence goes
// to the heading with the most hits, the earlier heading on a tie, the template's first heading when
// nothing matches.
var sectionKeywords = map[string][]string{
	"Subjective":                 {"report", "states", "says", "said", "feel", "felt", "complain", "describ", "endorse", "denies", "sleep", "mood", "worr", "stress", "i'm", "i am", "i've", "my "},
	"Objective":                  {"observ", "appear", "vital", "blood pressure", "pulse", "heart rate", "weight", "temperature", "exam", "affect", "oriented", "eye contact", "groomed", "score", "phq", "gad-7", "measured", "[sandbox] speech"},
	"Assessment":                 {"assess", "diagnos", "depress", "consistent with", "likely", "improv", "worse", "progress", "stable", "symptom", "disorder", "impression", "risk", "meets criteria"},
	"Plan":                       {"plan", "will ", "continue", "start", "begin", "increase", "decrease", "taper", "follow up", "follow-up", "refer", "schedule", "return", "next session", "next week", "prescri", "homework", "recommend", " mg"},
	"Data":                       {"report", "states", "says", "said", "feel", "felt", "describ", "sleep", "mood", "observ", "appear", "affect", "score", "phq", "gad-7", "[sandbox] speech"},
	"Behavior":                   {"report", "states", "says", "feel", "felt", "appear", "affect", "tearful", "anxious", "calm", "agitated", "engaged", "eye contact", "mood", "[sandbox] speech"},
	"Intervention":               {"discuss", "practic", "taught", "explor", "cbt", "dbt", "intervention", "refram", "psychoeducation", "mindfulness", "breathing", "worked on", "reviewed", "therapist", "clinician", "role-play", "validated"},
	"Response":                   {"respond", "receptive", "engaged", "agreed", "understood", "was able", "tolerated", "benefit", "open to", "resist", "helpful", "willing"},
	"Chief Complaint":            {"here for", "presents", "presenting", "chief complaint", "came in", "referred for", "concern", "reason for"},
	"History of Present Illness": {"since", "began", "started", "weeks", "months", "onset", "over the past", "ago", "worse", "better", "episode"},
	"Psychiatric History":        {"history of", "previous", "prior", "hospitaliz", "diagnosed", "psychiatr", "suicide attempt", "therapy before", "in the past"},
	"Medical History":            {"medical", "surgery", "diabetes", "asthma", "thyroid", "allerg", "medication", "taking", "blood pressure", "pain"},
	"Social History":             {"lives", "living", "work", "job", "school", "married", "partner", "divorce", "children", "family", "alcohol", "drink", "smok", "cannabis", "friends"},
	"Mental Status Exam":         {"appear", "affect", "oriented", "speech", "thought", "insight", "judgment", "eye contact", "groomed", "alert", "cooperative"},
}

// icdRules map keyword fragments to ICD-10-CM codes. Confidence grows a little with each extra mention.
var icdRules = []struct {
	keywords    []string
	code        string
	description string
	base        float64
}{
	{[]string{"panic"}, "F41.0", "Panic disorder [episodic paroxysmal anxiety]", 0.72},
	{[]string{"anxiety", "anxious", "worry", "worries", "worried"}, "F41.1", "Generalized anxiety disorder", 0.78},
	{[]string{"depress", "hopeless", "anhedonia"}, "F32.9", "Major depressive disorder, single episode, unspecified", 0.76},
	{[]string{"ptsd", "trauma", "flashback", "nightmare"}, "F43.10", "Post-traumatic stress disorder, unspecified", 0.7},
	{[]string{"bipolar", "manic", "mania"}, "F31.9", "Bipolar disorder, unspecified", 0.68},
	{[]string{"adhd", "attention deficit", "distractib"}, "F90.9", "Attention-deficit hyperactivity disorder, unspecified type", 0.66},
	{[]string{"insomnia", "trouble sleeping", "can't sleep", "cannot sleep", "difficulty sleeping"}, "G47.00", "Insomnia, unspecified", 0.7},
	{[]string{"alcohol", "drinking"}, "F10.10", "Alcohol abuse, uncomplicated", 0.6},
	{[]string{"adjustment", "grief", "bereave"}, "F43.20", "Adjustment disorder, unspecified", 0.62},
}

var (
	phq9Re = regexp.MustCompile(`(?i)\bphq-?9\b\D{0,40}?(\d{1,2})\b`)
	gad7Re = regexp.MustCompile(`(?i)\bgad-?7\b\D{0,40}?(\d{1,2})\b`)
	phqRe  = regexp.MustCompile(`(?i)\bphq-?9\b`)
	gadRe  = regexp.MustCompile(`(?i)\bgad-?7\b`)
)

func draft(in draftInput) draftOutput {
	sentences := splitSentences(in.transcript)
	sections := in.template.Sections
	if len(sections) == 0 {
		sections = []string{"Note"}
	}
	filed := make(map[string][]string, len(sections))
	for _, sent := range sentences {
		sec := classify(sent, sections)
		filed[sec] = append(filed[sec], sent)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the transcript's own sentences sorted under the %s headings by keyword rules. Review and rewrite before signing.\n", draftLabel, in.template.Name)
	if c := strings.TrimSpace(in.context); c != "" {
		fmt.Fprintf(&b, "\nContext: %s\n", c)
	}
	for _, sec := range sections {
		fmt.Fprintf(&b, "\n%s\n", sec)
		if len(filed[sec]) == 0 {
			b.WriteString("- Nothing in the transcript matched this section.\n")
			continue
		}
		for _, sent := range filed[sec] {
			fmt.Fprintf(&b, "- %s\n", sent)
		}
	}
	return draftOutput{
		analysis:  strings.TrimRight(b.String(), "\n"),
		codes:     pickCodes(in),
		screeners: pickScreeners(in.transcript),
	}
}

// splitSentences cuts text at sentence ends (., ! or ? before a space or the end) and line breaks; a
// decimal point such as "3.2" does not end a sentence.
func splitSentences(text string) []string {
	var out []string
	var cur strings.Builder
	rs := []rune(text)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, strings.Join(strings.Fields(s), " "))
		}
		cur.Reset()
	}
	for i, r := range rs {
		if r == '\n' {
			flush()
			continue
		}
		cur.WriteRune(r)
		if (r == '.' || r == '!' || r == '?') && (i+1 == len(rs) || unicode.IsSpace(rs[i+1])) {
			flush()
		}
	}
	flush()
	return out
}

func classify(sentence string, sections []string) string {
	low := strings.ToLower(sentence)
	best, bestHits := sections[0], 0
	for _, sec := range sections {
		hits := 0
		for _, kw := range sectionKeywords[sec] {
			hits += strings.Count(low, kw)
		}
		if hits > bestHits {
			best, bestHits = sec, hits
		}
	}
	return best
}

func pickCodes(in draftInput) codes {
	low := strings.ToLower(in.transcript + "\n" + in.context)
	c := codes{ICD10: []code{}, CPT: []code{}}
	for _, rule := range icdRules {
		n := 0
		for _, kw := range rule.keywords {
			n += strings.Count(low, kw)
		}
		if n == 0 {
			continue
		}
		conf := math.Min(0.95, rule.base+0.03*float64(n-1))
		c.ICD10 = append(c.ICD10, code{Code: rule.code, Description: rule.description, Confidence: round2(conf)})
	}
	c.CPT = append(c.CPT, pickCPT(in))
	return c
}

// pickCPT chooses the psychotherapy code by session length (CPT time rules: 16–37 min 90832, 38–52
// 90834, 53+ 90837), the diagnostic evaluation for an intake, and 90834 with low confidence when the
// length is unknown (a text note).
func pickCPT(in draftInput) code {
	if in.template.Name == "Intake" {
		return code{Code: "90791", Description: "Psychiatric diagnostic evaluation", Confidence: 0.8}
	}
	minutes := in.audioSeconds / 60
	switch {
	case in.audioSeconds == 0:
		return code{Code: "90834", Description: "Psychotherapy, 45 minutes with patient", Confidence: 0.5}
	case minutes < 16:
		return code{Code: "90832", Description: "Psychotherapy, 30 minutes with patient", Confidence: 0.4}
	case minutes < 38:
		return code{Code: "90832", Description: "Psychotherapy, 30 minutes with patient", Confidence: 0.85}
	case minutes < 53:
		return code{Code: "90834", Description: "Psychotherapy, 45 minutes with patient", Confidence: 0.85}
	default:
		return code{Code: "90837", Description: "Psychotherapy, 60 minutes with patient", Confidence: 0.85}
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func pickScreeners(transcript string) []screener {
	out := []screener{}
	add := func(name string, mentioned, scored *regexp.Regexp, maxScore int, severity func(int) string) {
		if m := scored.FindStringSubmatch(transcript); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n <= maxScore {
				out = append(out, screener{Name: name, Score: &n, Severity: severity(n)})
				return
			}
		}
		if mentioned.MatchString(transcript) {
			out = append(out, screener{Name: name})
		}
	}
	add("PHQ-9", phqRe, phq9Re, 27, phq9Severity)
	add("GAD-7", gadRe, gad7Re, 21, gad7Severity)
	return out
}

func phq9Severity(n int) string {
	switch {
	case n <= 4:
		return "minimal"
	case n <= 9:
		return "mild"
	case n <= 14:
		return "moderate"
	case n <= 19:
		return "moderately severe"
	default:
		return "severe"
	}
}

func gad7Severity(n int) string {
	switch {
	case n <= 4:
		return "minimal"
	case n <= 9:
		return "mild"
	case n <= 14:
		return "moderate"
	default:
		return "severe"
	}
}

package nexhealth

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
)

func testNote() ehr.Note {
	return ehr.Note{
		PatientID: "3001", ProviderID: "901", VisitDate: "2026-03-02", Title: "Progress note (DAP)",
		Text:      "Data: sleeps 7 h, mood 6/10 — better.\nAssessment: GAD improving; score ≥ 5 on GAD-7.\nPlan: continue sertraline 50 mg; return in 2 weeks.",
		Codes:     []ehr.Code{{System: "ICD-10", Code: "F41.1", Description: "Generalized anxiety disorder"}, {System: "CPT", Code: "90834"}},
		Clinician: "Maya Okafor, PsyD",
		SignedAt:  time.Date(2026, 3, 2, 17, 30, 0, 0, time.UTC),
	}
}

func TestRenderPDFContent(t *testing.T) {
	n := testNote()
	for _, tc := range []struct {
		content ehr.Content
		want    []string
		absent  []string
	}{
		{ehr.NoteWithCodes,
			[]string{n.Title, "Visit date:", "2026-03-02", "Clinician:", "Maya Okafor, PsyD", "Signed:", "2026-03-02T17:30:00Z",
				"Data: sleeps 7 h, mood 6/10 — better.", "score ≥ 5 on GAD-7.", "Plan: continue sertraline 50 mg; return in 2 weeks.",
				"Codes", "ICD-10 F41.1 — Generalized anxiety disorder", "CPT 90834"},
			nil},
		{ehr.NoteOnly,
			[]string{"Data: sleeps 7 h, mood 6/10 — better.", "Plan: continue sertraline 50 mg; return in 2 weeks."},
			[]string{n.Title, "F41.1", "90834", "Clinician", "Maya Okafor", "Visit date"}},
	} {
		t.Run(string(tc.content), func(t *testing.T) {
			pdf, err := RenderPDF(n, tc.content)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !bytes.Contains(pdf[len(pdf)-32:], []byte("%%EOF")) {
				t.Fatalf("not a whole PDF: starts %q, ends %q", pdf[:8], pdf[len(pdf)-16:])
			}
			text, err := pdfText(pdf)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("PDF text lacks %q:\n%s", w, text)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(text, a) {
					t.Errorf("PDF text has %q, which %s leaves out:\n%s", a, tc.content, text)
				}
			}
			// The PDF holds ehr.Body's words, in order: the same content
			// every other EHR gets.
			if got, want := strings.Fields(text), strings.Fields(ehr.Body(n, tc.content)); !slices.Equal(got, want) {
				t.Errorf("PDF words\n%q\nwant ehr.Body's\n%q", got, want)
			}
		})
	}
}

// TestRenderPDFUncoveredCharacters: a tab prints as spaces and a character
// the Go fonts lack as "?", never silently as nothing.
func TestRenderPDFUncoveredCharacters(t *testing.T) {
	n := testNote()
	n.Text = "Mood:\tbetter 日本 end"
	pdf, err := RenderPDF(n, ehr.NoteOnly)
	if err != nil {
		t.Fatal(err)
	}
	text, err := pdfText(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Mood:    better ?? end"; text != want {
		t.Errorf("PDF text = %q, want %q", text, want)
	}
}

func TestRenderPDFDeterministic(t *testing.T) {
	a, err := RenderPDF(testNote(), ehr.NoteWithCodes)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RenderPDF(testNote(), ehr.NoteWithCodes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("the same note rendered to different bytes (%d and %d)", len(a), len(b))
	}
}

func TestRenderPDFLongNotePaginates(t *testing.T) {
	n := testNote()
	n.Text = strings.Repeat("A long session note line that wraps and fills pages. ", 600) + "THE END"
	pdf, err := RenderPDF(n, ehr.NoteOnly)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := pdfPageCount(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if pages < 2 {
		t.Errorf("a long note fits %d page(s); want several", pages)
	}
	text, err := pdfText(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(text, "THE END") {
		t.Errorf("the end of a long note is missing from the PDF")
	}
	// Wrapped at spaces, no word lost or split.
	if got, want := strings.Fields(text), strings.Fields(n.Text); !slices.Equal(got, want) {
		t.Errorf("the long note's words came back %d, want %d", len(got), len(want))
	}
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ title, want string }{
		{"Progress note", "2026-03-02 Progress note.pdf"},
		{"", "2026-03-02 Progress note.pdf"},
		{"DAP / follow-up: ü", "2026-03-02 DAP - follow-up- -.pdf"},
	} {
		if got := fileName(ehr.Note{VisitDate: "2026-03-02", Title: tc.title}); got != tc.want {
			t.Errorf("fileName(%q) = %q, want %q", tc.title, got, tc.want)
		}
	}
}

// TestRenderPDFOddText: text a PDF library might trip on renders, and a
// word wider than the page is broken across lines, not lost.
func TestRenderPDFOddText(t *testing.T) {
	long := strings.Repeat("x", 400)
	for name, text := range map[string]string{
		"empty": "", "spaces": "   ", "crlf": "a\r\nb", "blank lines": "\n\n\nend", "long word": long,
	} {
		n := testNote()
		n.Text = text
		for _, content := range []ehr.Content{ehr.NoteOnly, ehr.NoteWithCodes} {
			pdf, err := RenderPDF(n, content)
			if err != nil {
				t.Errorf("%s, %s: %v", name, content, err)
				continue
			}
			if name != "long word" {
				continue
			}
			got, err := pdfText(pdf)
			if err != nil {
				t.Fatal(err)
			}
			if content == ehr.NoteOnly && (strings.ReplaceAll(got, "\n", "") != long || !strings.Contains(got, "\n")) {
				t.Errorf("the long word came back as %q; want it whole, over several lines", got)
			}
		}
	}
}

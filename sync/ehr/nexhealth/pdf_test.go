package nexhealth

import (
	"bytes"
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
			[]string{n.Title, "Patient ID:", "3001", "Visit date:", "2026-03-02", "Clinician:", "Maya Okafor, PsyD", "Signed:", "2026-03-02 17:30 UTC",
				"Data: sleeps 7 h, mood 6/10 — better.", "score ≥ 5 on GAD-7.", "Plan: continue sertraline 50 mg; return in 2 weeks.",
				"Codes", "ICD-10 F41.1 — Generalized anxiety disorder", "CPT 90834"},
			nil},
		{ehr.NoteOnly,
			[]string{n.Title, "Data: sleeps 7 h, mood 6/10 — better.", "Plan: continue sertraline 50 mg; return in 2 weeks."},
			[]string{"F41.1", "90834", "Clinician", "Maya Okafor", "Visit date", "3001"}},
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
		})
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
	if pages := bytes.Count(pdf, []byte("/Type /Page\n")) + bytes.Count(pdf, []byte("/Type /Page ")); pages < 2 {
		t.Errorf("a long note fits %d page(s); want several", pages)
	}
	text, err := pdfText(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "THE END") {
		t.Errorf("the end of a long note is missing from the PDF")
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

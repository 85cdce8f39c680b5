package nexhealth

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/nextvisit/scribe/sync/ehr"
)

// RenderPDF renders the note as NexHealth receives it: with NoteOnly the
// title and the note's text; with NoteWithCodes also a metadata block
// (patient, visit date, clinician, signed) and the codes. The Go fonts are
// embedded (as subsets), so any text they cover prints as written, not
// only Latin-1. The same note renders to the same bytes.
func RenderPDF(n ehr.Note, content ehr.Content) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "Letter", "")
	pdf.AddUTF8FontFromBytes("Go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("Go", "B", gobold.TTF)
	// A fixed creation date and catalog order make the bytes depend on the
	// note only, so a retried push sends what the first attempt sent.
	created := n.SignedAt
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	pdf.SetCreationDate(created.UTC())
	pdf.SetModificationDate(created.UTC())
	pdf.SetCatalogSort(true)
	title := n.Title
	if strings.TrimSpace(title) == "" {
		title = "Progress note"
	}
	pdf.SetTitle(title, true)
	pdf.SetCreator("Scribe", true)
	pdf.SetMargins(20, 20, 20)
	pdf.SetAutoPageBreak(true, 20)
	pdf.AddPage()

	pdf.SetFont("Go", "B", 16)
	pdf.MultiCell(0, 8, title, "", "L", false)
	pdf.Ln(3)

	if content == ehr.NoteWithCodes {
		pdf.SetFont("Go", "", 10)
		rows := [][2]string{{"Patient ID", n.PatientID}, {"Visit date", n.VisitDate}, {"Clinician", n.Clinician}}
		if !n.SignedAt.IsZero() {
			rows = append(rows, [2]string{"Signed", n.SignedAt.UTC().Format("2006-01-02 15:04 MST")})
		}
		for _, r := range rows {
			if r[1] == "" {
				continue
			}
			pdf.SetFont("Go", "B", 10)
			pdf.CellFormat(28, 5.5, r[0]+":", "", 0, "L", false, 0, "")
			pdf.SetFont("Go", "", 10)
			pdf.MultiCell(0, 5.5, r[1], "", "L", false)
		}
		pdf.Ln(4)
	}

	pdf.SetFont("Go", "", 11)
	pdf.MultiCell(0, 5.5, strings.TrimRight(n.Text, "\n"), "", "L", false)

	if content == ehr.NoteWithCodes && len(n.Codes) > 0 {
		pdf.Ln(5)
		pdf.SetFont("Go", "B", 12)
		pdf.MultiCell(0, 6.5, "Codes", "", "L", false)
		pdf.SetFont("Go", "", 10)
		for _, c := range n.Codes {
			line := c.System + " " + c.Code
			if c.Description != "" {
				line += " — " + c.Description
			}
			pdf.MultiCell(0, 5.5, line, "", "L", false)
		}
	}

	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, fmt.Errorf("render note PDF: %w", err)
	}
	return b.Bytes(), nil
}

// fileName names the document in the health record system: the visit date
// and title, with only characters every file system and EHR accepts.
func fileName(n ehr.Note) string {
	title := n.Title
	if strings.TrimSpace(title) == "" {
		title = "Progress note"
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == ' ', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, n.VisitDate+" "+title)
	if len(name) > 100 {
		name = name[:100]
	}
	return strings.TrimSpace(name) + ".pdf"
}

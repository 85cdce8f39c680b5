package nexhealth

import (
	"fmt"
	"strings"
	"time"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/nextvisit/scribe/sync/ehr"
)

// The page, in points: US Letter with 20 mm margins.
const (
	pageW, pageH = 612.0, 792.0
	margin       = 56.7
	textW        = pageW - 2*margin
	labelW       = 80.0 // the metadata block's label column
	blankH       = 6.0  // a blank line of the body
)

// typeface is how a role of ehr.BodyLines is set.
type typeface struct {
	bold    bool
	size    float64
	leading float64
}

var faces = map[ehr.Role]typeface{
	ehr.RoleTitle:   {bold: true, size: 16, leading: 22},
	ehr.RoleField:   {size: 10, leading: 15},
	ehr.RoleText:    {size: 11, leading: 15.5},
	ehr.RoleHeading: {bold: true, size: 12, leading: 18},
	ehr.RoleCode:    {size: 10, leading: 15},
}

// RenderPDF renders the note as NexHealth receives it: the lines of
// ehr.Body, the title and headings set apart, so the chart holds the same
// words every other EHR gets. The Go fonts are embedded (as subsets), so
// any text they cover prints as written, not only Latin-1; a character
// they lack prints as "?". The same note renders to the same bytes.
func RenderPDF(n ehr.Note, content ehr.Content) ([]byte, error) {
	var pdf gopdf.GoPdf
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeLetter, Unit: gopdf.UnitPT})
	// A missing glyph would otherwise print as a space, losing a character
	// without a trace.
	opt := gopdf.TtfOption{OnGlyphNotFoundSubstitute: func(rune) rune { return '?' }}
	if err := pdf.AddTTFFontDataWithOption("Go", goregular.TTF, opt); err != nil {
		return nil, fmt.Errorf("render note PDF: regular font: %w", err)
	}
	opt.Style = gopdf.Bold
	if err := pdf.AddTTFFontDataWithOption("Go", gobold.TTF, opt); err != nil {
		return nil, fmt.Errorf("render note PDF: bold font: %w", err)
	}
	title := n.Title
	if strings.TrimSpace(title) == "" {
		title = "Progress note"
	}
	// A fixed creation date makes the bytes depend on the note only, so a
	// retried push sends what the first attempt sent.
	created := n.SignedAt
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	pdf.SetInfo(gopdf.PdfInfo{Title: title, Creator: "Scribe", CreationDate: created.UTC()})

	w := &pageWriter{pdf: &pdf}
	w.newPage()
	for _, l := range ehr.BodyLines(n, content) {
		if err := w.line(l); err != nil {
			return nil, fmt.Errorf("render note PDF: %w", err)
		}
	}
	b, err := pdf.GetBytesPdfReturnErr()
	if err != nil {
		return nil, fmt.Errorf("render note PDF: %w", err)
	}
	return b, nil
}

// pageWriter lays lines down a page and onto the next.
type pageWriter struct {
	pdf *gopdf.GoPdf
	y   float64
}

func (w *pageWriter) newPage() {
	w.pdf.AddPage()
	w.y = margin
}

func (w *pageWriter) setFont(bold bool, size float64) error {
	style := ""
	if bold {
		style = "B"
	}
	if err := w.pdf.SetFont("Go", style, size); err != nil {
		return fmt.Errorf("set font: %w", err)
	}
	return nil
}

// line writes one body line, wrapped at word boundaries to the text width.
func (w *pageWriter) line(l ehr.Line) error {
	if l.Label == "" && l.Text == "" {
		w.y += blankH
		return nil
	}
	f := faces[l.Role]
	x, width := margin, textW
	if l.Role == ehr.RoleField {
		w.room(f.leading)
		if err := w.setFont(true, f.size); err != nil {
			return err
		}
		if err := w.cell(x, labelW, l.Label+":", f.leading); err != nil {
			return err
		}
		x, width = margin+labelW, textW-labelW
	}
	if err := w.setFont(f.bold, f.size); err != nil {
		return err
	}
	if l.Text == "" { // a metadata line with no value
		w.y += f.leading
		return nil
	}
	// The fonts have no tab glyph; a tab would print as "?".
	parts, err := w.pdf.SplitTextWithWordWrap(strings.ReplaceAll(l.Text, "\t", "    "), width)
	if err != nil {
		return fmt.Errorf("wrap a line: %w", err)
	}
	for i, p := range parts {
		if i > 0 {
			// The wrap leaves the breaking space at the head of the next
			// part.
			p = strings.TrimLeft(p, " ")
		}
		if l.Role != ehr.RoleField || i > 0 {
			w.room(f.leading)
		}
		if err := w.cell(x, width, p, f.leading); err != nil {
			return err
		}
		w.y += f.leading
	}
	return nil
}

// room starts a new page when a line of height h does not fit on this one.
func (w *pageWriter) room(h float64) {
	if w.y+h > pageH-margin {
		w.newPage()
	}
}

func (w *pageWriter) cell(x, width float64, text string, h float64) error {
	w.pdf.SetXY(x, w.y)
	if err := w.pdf.Cell(&gopdf.Rect{W: width, H: h}, text); err != nil {
		return fmt.Errorf("write text: %w", err)
	}
	return nil
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

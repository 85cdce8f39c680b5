package ehr

import (
	"strings"
	"time"
)

// Role says what a line of a note's body is, so a renderer with typefaces
// (NexHealth's PDF) can set the title and headings apart while sending the
// very words Body sends.
type Role uint8

// The roles of a body's lines.
const (
	RoleText    Role = iota // a line of the note's text, or a blank line
	RoleTitle               // the note's title
	RoleField               // a metadata line: Label: Text
	RoleHeading             // the heading above the codes
	RoleCode                // one code
)

// Line is one line of a note's body.
type Line struct {
	Role  Role
	Label string // RoleField only: "Visit date", "Clinician", "Signed"
	Text  string
}

// String is the line as Body writes it.
func (l Line) String() string {
	if l.Role == RoleField {
		return l.Label + ": " + l.Text
	}
	return l.Text
}

// BodyLines are the lines of Body(n, what), without line breaks, each with
// its role. A blank line is a Line with no text.
func BodyLines(n Note, what Content) []Line {
	text := strings.Split(strings.TrimRight(strings.ReplaceAll(n.Text, "\r\n", "\n"), "\n"), "\n")
	if what == NoteOnly {
		lines := make([]Line, 0, len(text))
		for _, t := range text {
			lines = append(lines, Line{Text: t})
		}
		return lines
	}
	var lines []Line
	if n.Title != "" {
		lines = append(lines, Line{Role: RoleTitle, Text: n.Title}, Line{})
	}
	lines = append(lines, Line{Role: RoleField, Label: "Visit date", Text: n.VisitDate})
	if n.Clinician != "" {
		lines = append(lines, Line{Role: RoleField, Label: "Clinician", Text: n.Clinician})
	}
	if !n.SignedAt.IsZero() {
		// UTC, so the bytes do not depend on the sending machine's zone
		// and a retried push sends what the first sent.
		lines = append(lines, Line{Role: RoleField, Label: "Signed", Text: n.SignedAt.UTC().Format(time.RFC3339)})
	}
	lines = append(lines, Line{})
	for _, t := range text {
		lines = append(lines, Line{Text: t})
	}
	if len(n.Codes) > 0 {
		lines = append(lines, Line{}, Line{Role: RoleHeading, Text: "Codes"})
		for _, c := range n.Codes {
			line := c.System + " " + c.Code
			if c.Description != "" {
				line += " — " + c.Description
			}
			lines = append(lines, Line{Role: RoleCode, Text: line})
		}
	}
	return lines
}

// Body is the plain text of a note as every connector sends it, and what
// the app keeps as "content as sent". With NoteOnly it is the note's text
// as it is. With NoteWithCodes (and any other setting: it is the default)
// it is the title, a metadata block (visit date, clinician, signed time),
// the text and then the codes. It depends only on its arguments, so a
// retried push sends the same bytes and its Idempotency-Key replays.
func Body(n Note, what Content) string {
	if what == NoteOnly {
		return n.Text
	}
	var b strings.Builder
	for _, l := range BodyLines(n, what) {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

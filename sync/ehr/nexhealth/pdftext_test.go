package nexhealth

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf16"
)

// streamRE finds a PDF object's stream; fpdf writes "stream\n…\nendstream".
var streamRE = regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`)

// pdfText is the text a PDF written by RenderPDF shows: the string of each
// Tj in its page content streams, one per line, as a reader extracting it
// would see it. It knows fpdf's output (Flate streams, UTF-16BE strings
// for the embedded UTF-8 fonts), not PDF in general.
func pdfText(pdf []byte) (string, error) {
	var lines []string
	for _, m := range streamRE.FindAllSubmatch(pdf, -1) {
		data := m[1]
		if zr, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
			if inflated, err := io.ReadAll(zr); err == nil {
				data = inflated
			}
		}
		// Page content selects fonts; font programs and the like do not.
		if !bytes.Contains(data, []byte(" Tf")) || !bytes.Contains(data, []byte("Tj")) {
			continue
		}
		for i := 0; i < len(data); i++ {
			if data[i] != '(' {
				continue
			}
			s, end, err := literal(data, i)
			if err != nil {
				return "", err
			}
			i = end
			if bytes.HasPrefix(bytes.TrimLeft(data[end+1:], " "), []byte("Tj")) {
				lines = append(lines, decodeUTF16BE(s))
			}
		}
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("no text in the PDF")
	}
	return strings.Join(lines, "\n"), nil
}

// literal reads the PDF string literal opening at data[start] and returns
// its bytes and the index of its closing parenthesis.
func literal(data []byte, start int) ([]byte, int, error) {
	var out []byte
	for i := start + 1; i < len(data); i++ {
		switch c := data[i]; c {
		case '\\':
			i++
			if i >= len(data) {
				return nil, 0, fmt.Errorf("string at %d ends in a backslash", start)
			}
			switch e := data[i]; e {
			case 'r':
				out = append(out, '\r')
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			default:
				out = append(out, e)
			}
		case ')':
			return out, i, nil
		default:
			out = append(out, c)
		}
	}
	return nil, 0, fmt.Errorf("string at %d is not closed", start)
}

func decodeUTF16BE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return string(utf16.Decode(u))
}

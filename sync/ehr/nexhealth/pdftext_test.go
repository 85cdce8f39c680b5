package nexhealth

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// pdfText is the text a PDF written by RenderPDF shows, as a reader
// extracting it would: page by page in the order of the page tree, the
// string of each TJ or Tj in the page's content, one per line, decoded
// through the ToUnicode map of the font selected at that point. It knows
// gopdf's output (numbered objects, Flate content streams, Identity-H
// fonts with glyph ids as hex strings), not PDF in general; a glyph a
// font's map does not name is an error, not a guess.
func pdfText(pdf []byte) (string, error) {
	objs, err := pdfObjects(pdf)
	if err != nil {
		return "", err
	}
	root, ok := findObject(objs, "/Type /Pages")
	if !ok {
		return "", fmt.Errorf("no page tree in the PDF")
	}
	kids := refsIn(objs[root].dict, "/Kids")
	if len(kids) == 0 {
		return "", fmt.Errorf("the page tree has no pages")
	}
	var lines []string
	for _, page := range kids {
		p, ok := objs[page]
		if !ok || !strings.Contains(p.dict, "/Type /Page") {
			return "", fmt.Errorf("page %d is not a page object", page)
		}
		fonts, err := pageFonts(objs, p)
		if err != nil {
			return "", fmt.Errorf("page %d: %w", page, err)
		}
		for _, c := range refsIn(p.dict, "/Contents") {
			ls, err := showText(objs[c].stream, fonts)
			if err != nil {
				return "", fmt.Errorf("page %d: %w", page, err)
			}
			lines = append(lines, ls...)
		}
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("no text in the PDF")
	}
	return strings.Join(lines, "\n"), nil
}

// pdfPageCount is how many pages the PDF's page tree says it has.
func pdfPageCount(pdf []byte) (int, error) {
	objs, err := pdfObjects(pdf)
	if err != nil {
		return 0, err
	}
	root, ok := findObject(objs, "/Type /Pages")
	if !ok {
		return 0, fmt.Errorf("no page tree in the PDF")
	}
	return len(refsIn(objs[root].dict, "/Kids")), nil
}

type pdfObject struct {
	dict   string
	stream []byte // inflated when it was Flate-encoded
}

var (
	objRE    = regexp.MustCompile(`(?s)(\d+) 0 obj\s*(.*?)endobj`)
	streamRE = regexp.MustCompile(`(?s)^(.*?)stream\r?\n(.*?)\r?\nendstream`)
)

func pdfObjects(pdf []byte) (map[int]pdfObject, error) {
	objs := map[int]pdfObject{}
	for _, m := range objRE.FindAllSubmatch(pdf, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		o := pdfObject{dict: string(m[2])}
		if s := streamRE.FindSubmatch(m[2]); s != nil {
			o.dict, o.stream = string(s[1]), s[2]
			if strings.Contains(o.dict, "/FlateDecode") {
				zr, err := zlib.NewReader(bytes.NewReader(o.stream))
				if err != nil {
					return nil, fmt.Errorf("object %d: %w", n, err)
				}
				if o.stream, err = io.ReadAll(zr); err != nil {
					return nil, fmt.Errorf("object %d: %w", n, err)
				}
			}
		}
		objs[n] = o
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no objects in the PDF")
	}
	return objs, nil
}

// findObject is the lowest-numbered object whose dictionary holds s.
func findObject(objs map[int]pdfObject, s string) (int, bool) {
	best := -1
	for n, o := range objs {
		if strings.Contains(o.dict, s) && (best < 0 || n < best) {
			best = n
		}
	}
	return best, best >= 0
}

var refRE = regexp.MustCompile(`(\d+) 0 R`)

// refsIn are the object references after key in dict: one, or an array's.
func refsIn(dict, key string) []int {
	i := strings.Index(dict, key)
	if i < 0 {
		return nil
	}
	rest := strings.TrimLeft(dict[i+len(key):], " \t\r\n")
	if strings.HasPrefix(rest, "[") {
		rest = rest[:strings.IndexByte(rest, ']')+1]
	} else if loc := refRE.FindStringIndex(rest); loc != nil && loc[0] == 0 {
		rest = rest[:loc[1]]
	} else {
		return nil
	}
	var out []int
	for _, m := range refRE.FindAllStringSubmatch(rest, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

var (
	fontEntryRE = regexp.MustCompile(`/(F\d+) (\d+) 0 R`)
	bfrangeRE   = regexp.MustCompile(`<([0-9A-Fa-f]{4})><([0-9A-Fa-f]{4})><([0-9A-Fa-f]{4,8})>`)
)

// pageFonts maps a page's font names to their ToUnicode maps (glyph id →
// character).
func pageFonts(objs map[int]pdfObject, page pdfObject) (map[string]map[uint16]rune, error) {
	res := refsIn(page.dict, "/Resources")
	if len(res) != 1 {
		return nil, fmt.Errorf("no resources")
	}
	fonts := map[string]map[uint16]rune{}
	for _, m := range fontEntryRE.FindAllStringSubmatch(objs[res[0]].dict, -1) {
		n, _ := strconv.Atoi(m[2])
		tu := refsIn(objs[n].dict, "/ToUnicode")
		if len(tu) != 1 {
			return nil, fmt.Errorf("font %s has no ToUnicode map", m[1])
		}
		cmap := map[uint16]rune{}
		for _, r := range bfrangeRE.FindAllStringSubmatch(string(objs[tu[0]].stream), -1) {
			lo, _ := strconv.ParseUint(r[1], 16, 16)
			hi, _ := strconv.ParseUint(r[2], 16, 16)
			first, _ := strconv.ParseUint(r[3], 16, 32)
			for g := lo; g <= hi; g++ {
				cmap[uint16(g)] = rune(first + g - lo)
			}
		}
		fonts[m[1]] = cmap
	}
	return fonts, nil
}

var (
	opRE  = regexp.MustCompile(`/(F\d+) [\d.]+ Tf|\[((?:<[0-9A-Fa-f]*>|-?\d+|\s)*)\]\s*TJ|<([0-9A-Fa-f]*)>\s*Tj`)
	hexRE = regexp.MustCompile(`<([0-9A-Fa-f]*)>`)
)

// showText is the text a content stream shows, a line per TJ or Tj.
func showText(content []byte, fonts map[string]map[uint16]rune) ([]string, error) {
	var lines []string
	var font map[uint16]rune
	for _, m := range opRE.FindAllSubmatch(content, -1) {
		if m[1] != nil {
			f, ok := fonts[string(m[1])]
			if !ok {
				return nil, fmt.Errorf("font %s is not in the page's resources", m[1])
			}
			font = f
			continue
		}
		if font == nil {
			return nil, fmt.Errorf("text shown before a font is selected")
		}
		var glyphs []byte
		if m[2] != nil {
			for _, h := range hexRE.FindAllSubmatch(m[2], -1) {
				glyphs = append(glyphs, h[1]...)
			}
		} else {
			glyphs = m[3]
		}
		raw, err := hex.DecodeString(string(glyphs))
		if err != nil || len(raw)%2 != 0 {
			return nil, fmt.Errorf("text string %q is not two-byte glyph ids", glyphs)
		}
		var b strings.Builder
		for i := 0; i < len(raw); i += 2 {
			g := uint16(raw[i])<<8 | uint16(raw[i+1])
			r, ok := font[g]
			if !ok {
				return nil, fmt.Errorf("glyph %04X is not in the font's ToUnicode map", g)
			}
			b.WriteRune(r)
		}
		lines = append(lines, b.String())
	}
	return lines, nil
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/nextvisit/scribe/sync/api"
)

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// jsonPage is a page as --json prints it: the API's own list shape, plus
// "offline" when the items come from this computer rather than the server.
type jsonPage[T any] struct {
	Data    []T                 `json:"data"`
	Links   api.PaginationLinks `json:"links"`
	Meta    api.PaginationMeta  `json:"meta"`
	Offline bool                `json:"offline,omitempty"`
}

func newJSONPage[T any](pg api.Page[T], offline bool) jsonPage[T] {
	data := pg.Items
	if data == nil {
		data = []T{} // [] rather than null
	}
	return jsonPage[T]{Data: data, Links: pg.Links, Meta: pg.Meta, Offline: offline}
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...any) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, clean(fmt.Sprint(c)))
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() error { return t.tw.Flush() }

// clean makes server text safe for one table cell on a terminal: control
// characters (tabs, newlines, escape sequences) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// localTime shows a server time in the computer's zone.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

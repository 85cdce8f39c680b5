package mapping

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nextvisit/scribe/sync/ehr"
)

// Pair maps one clinician to one EHR provider.
type Pair struct {
	ClinicianID int64
	ProviderID  string
}

// header is the CSV's first row; the name columns are for the person
// editing the file and are not read back.
var header = []string{"clinician_id", "clinician_name", "clinician_email", "provider_id", "provider_name"}

// WriteCSV writes every clinician with its mapped provider ("" when none),
// so the admin can fill in the blanks in a spreadsheet.
func WriteCSV(w io.Writer, clinicians []Clinician, providers []ehr.Provider, pairs []Pair) error {
	byID := map[string]ehr.Provider{}
	for _, p := range providers {
		byID[p.ID] = p
	}
	mapped := map[int64]string{}
	for _, p := range pairs {
		mapped[p.ClinicianID] = p.ProviderID
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write provider mapping: %w", err)
	}
	for _, c := range clinicians {
		pid := mapped[c.ID]
		if err := cw.Write([]string{strconv.FormatInt(c.ID, 10), c.Name, c.Email, pid, byID[pid].Name}); err != nil {
			return fmt.Errorf("write provider mapping: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write provider mapping: %w", err)
	}
	return nil
}

// RowError is what is wrong with one line of an imported CSV.
type RowError struct {
	Line int // 1-based, counting the header
	Msg  string
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// maxCSV bounds the file ReadCSV reads: a row per clinician is some
// hundred bytes.
const maxCSV = 4 << 20

// ErrNotMapping means the file is not a provider-mapping CSV at all.
var ErrNotMapping = errors.New("not a provider mapping")

// ReadCSV reads a mapping written by WriteCSV (and edited by a person):
// every good row comes back as a Pair, every bad one as a RowError naming
// the line and what to fix; a row with no provider leaves that clinician
// unmapped. Nothing in a bad row is used.
func ReadCSV(r io.Reader, clinicians []Clinician, providers []ehr.Provider) ([]Pair, []RowError, error) {
	// A mapping has a row per clinician; a file far larger is the wrong
	// file, and is not read into memory whole.
	lr := &io.LimitedReader{R: r, N: maxCSV + 1}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("read provider mapping: %w: the file is empty or not CSV; export one with scribe providers export", ErrNotMapping)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	ci, okC := col["clinician_id"]
	pi, okP := col["provider_id"]
	if !okC || !okP {
		return nil, nil, fmt.Errorf("read provider mapping: %w: the first row must name the columns clinician_id and provider_id; export one with scribe providers export", ErrNotMapping)
	}
	known := map[int64]bool{}
	for _, c := range clinicians {
		known[c.ID] = true
	}
	prov := map[string]bool{}
	for _, p := range providers {
		prov[p.ID] = true
	}
	var pairs []Pair
	var bad []RowError
	seenC := map[int64]int{}
	seenP := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, RowError{pe.StartLine, "not valid CSV: " + pe.Err.Error()})
			continue
		}
		if err != nil {
			// The reader failed, not the file's text: the same error would come again.
			return nil, nil, fmt.Errorf("read provider mapping: %w", err)
		}
		// The line the row starts on: a quoted field may span lines.
		line, _ := cr.FieldPos(0)
		if len(rec) <= max(ci, pi) {
			bad = append(bad, RowError{line, fmt.Sprintf("has %d columns, the header names %d", len(rec), len(head))})
			continue
		}
		cid, err := strconv.ParseInt(strings.TrimSpace(rec[ci]), 10, 64)
		if err != nil {
			bad = append(bad, RowError{line, fmt.Sprintf("clinician_id %q is not a number", rec[ci])})
			continue
		}
		if !known[cid] {
			bad = append(bad, RowError{line, fmt.Sprintf("no clinician %d in this practice", cid)})
			continue
		}
		pid := strings.TrimSpace(rec[pi])
		if pid == "" {
			continue // left unmapped
		}
		if !prov[pid] {
			bad = append(bad, RowError{line, fmt.Sprintf("no provider %q in the EHR; check the id in its provider list", pid)})
			continue
		}
		if first, dup := seenC[cid]; dup {
			bad = append(bad, RowError{line, fmt.Sprintf("clinician %d is mapped again (first on line %d)", cid, first)})
			continue
		}
		if first, dup := seenP[pid]; dup {
			bad = append(bad, RowError{line, fmt.Sprintf("provider %q is mapped to two clinicians (first on line %d)", pid, first)})
			continue
		}
		seenC[cid], seenP[pid] = line, line
		pairs = append(pairs, Pair{ClinicianID: cid, ProviderID: pid})
	}
	if lr.N <= 0 {
		return nil, nil, fmt.Errorf("read provider mapping: the file is larger than %d KiB, far more than a row per clinician; choose the file scribe providers export wrote", maxCSV>>10)
	}
	return pairs, bad, nil
}

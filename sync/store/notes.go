package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// EncounterPatch changes some of an encounter's fields; nil ones stay.
type EncounterPatch struct {
	State     *string
	PatientID *int64
	NoteID    *int64
	Note      *string
	Draft     *string // also bumps DraftRev
	SentRev   *int64  // raised only: an older revision never overwrites a newer one
	SignedAt  *time.Time
	Reason    *string
}

// PatchEncounterTx implements Store.
func (s *DB) PatchEncounterTx(ctx context.Context, tx *sql.Tx, id string, p EncounterPatch) error {
	var set []string
	var args []any
	add := func(col string, v any) {
		set = append(set, col)
		args = append(args, v)
	}
	if p.State != nil {
		if *p.State == "" {
			return fmt.Errorf("update encounter %s: empty state", id)
		}
		add("state = ?", *p.State)
	}
	if p.PatientID != nil {
		add("patient_id = ?", nullID(*p.PatientID))
	}
	if p.NoteID != nil {
		add("note_id = ?", *p.NoteID)
	}
	if p.Note != nil {
		add("note = ?", *p.Note)
	}
	if p.Draft != nil {
		add("draft = ?", *p.Draft)
		set = append(set, "draft_rev = draft_rev + 1")
	}
	if p.SentRev != nil {
		add("sent_rev = max(sent_rev, ?)", *p.SentRev)
	}
	if p.SignedAt != nil {
		add("signed_at = ?", formatFixed(*p.SignedAt))
	}
	if p.Reason != nil {
		add("reason = ?", *p.Reason)
	}
	if len(set) == 0 {
		return nil
	}
	args = append(args, id)
	res, err := tx.ExecContext(ctx, "UPDATE encounters SET "+strings.Join(set, ", ")+" WHERE id = ?", args...)
	if err != nil {
		return fmt.Errorf("update encounter %s: %w", id, DiskError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update encounter %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("update encounter %s: %w", id, ErrNotFound)
	}
	return nil
}

// PatchEncounter implements Store.
func (s *DB) PatchEncounter(ctx context.Context, id string, p EncounterPatch) error {
	return s.inTx(ctx, "update encounter "+id, func(tx *sql.Tx) error { return s.PatchEncounterTx(ctx, tx, id, p) })
}

// EncounterTx implements Store.
func (s *DB) EncounterTx(ctx context.Context, tx *sql.Tx, id string) (Encounter, error) {
	e, err := scanEncounter(tx.QueryRowContext(ctx, "SELECT "+encounterColumns+" FROM encounters WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Encounter{}, fmt.Errorf("encounter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Encounter{}, fmt.Errorf("read encounter %s: %w", id, err)
	}
	return e, nil
}

func (s *DB) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, DiskError(err))
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, DiskError(err))
	}
	return nil
}

// Range is a span of an encounter's audio, [Start, End) in samples.
type Range struct{ Start, End int64 }

// Word is one word of a turn, at absolute sample offsets.
type Word struct {
	Text       string  `json:"text"`
	Start      int64   `json:"start"`
	End        int64   `json:"end"`
	Confidence float64 `json:"confidence"`
}

// Turn is a final transcript turn at absolute sample offsets.
type Turn struct {
	Start, End int64
	Text       string
	Words      []Word
	Source     string // TurnLive or TurnGap
}

// Where a turn's text came from.
const (
	TurnLive = "live"
	TurnGap  = "gap"
)

// AddTurn implements Store.
func (s *DB) AddTurn(ctx context.Context, id string, t Turn, covered Range) (bool, error) {
	if t.End < t.Start || t.Start < 0 || (covered.End > 0 && covered.End <= covered.Start) {
		return false, fmt.Errorf("save turn of encounter %s: bad range %d–%d (covering %d–%d)", id, t.Start, t.End, covered.Start, covered.End)
	}
	if t.Source != TurnLive && t.Source != TurnGap {
		return false, fmt.Errorf("save turn of encounter %s: source %q is neither %q nor %q", id, t.Source, TurnLive, TurnGap)
	}
	words, err := json.Marshal(t.Words)
	if err != nil {
		return false, fmt.Errorf("save turn of encounter %s: %w", id, err)
	}
	added := false
	err = s.inTx(ctx, "save turn of encounter "+id, func(tx *sql.Tx) error {
		// A turn over audio that already has final text is the same speech
		// heard again (re-sent after a drop): it is not stored twice.
		var dup int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM turns
			WHERE encounter_id = ? AND start_sample < ? AND end_sample > ?`, id, max(t.End, t.Start+1), t.Start).Scan(&dup); err != nil {
			return fmt.Errorf("save turn of encounter %s: %w", id, err)
		}
		if dup == 0 && strings.TrimSpace(t.Text) != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO turns (encounter_id, start_sample, end_sample, text, words, source)
				VALUES (?, ?, ?, ?, ?, ?)`, id, t.Start, t.End, t.Text, string(words), t.Source); err != nil {
				return fmt.Errorf("save turn of encounter %s: %w", id, DiskError(err))
			}
			added = true
		}
		if covered.End > covered.Start {
			return s.addCoverageTx(ctx, tx, id, covered)
		}
		return nil
	})
	return added, err
}

// AddCoverage implements Store.
func (s *DB) AddCoverage(ctx context.Context, id string, r Range) error {
	if r.End <= r.Start || r.Start < 0 {
		return fmt.Errorf("record coverage of encounter %s: bad range %d–%d", id, r.Start, r.End)
	}
	return s.inTx(ctx, "record coverage of encounter "+id, func(tx *sql.Tx) error { return s.addCoverageTx(ctx, tx, id, r) })
}

// addCoverageTx merges r into the encounter's ledger: the ranges it
// overlaps or touches become one.
func (s *DB) addCoverageTx(ctx context.Context, tx *sql.Tx, id string, r Range) error {
	rows, err := tx.QueryContext(ctx, `SELECT start_sample, end_sample FROM coverage
		WHERE encounter_id = ? AND start_sample <= ? AND end_sample >= ?`, id, r.End, r.Start)
	if err != nil {
		return fmt.Errorf("record coverage of encounter %s: %w", id, err)
	}
	var touched []Range
	for rows.Next() {
		var o Range
		if err := rows.Scan(&o.Start, &o.End); err != nil {
			rows.Close()
			return fmt.Errorf("record coverage of encounter %s: %w", id, err)
		}
		touched = append(touched, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("record coverage of encounter %s: %w", id, err)
	}
	for _, o := range touched {
		r.Start, r.End = min(r.Start, o.Start), max(r.End, o.End)
		if _, err := tx.ExecContext(ctx, "DELETE FROM coverage WHERE encounter_id = ? AND start_sample = ?", id, o.Start); err != nil {
			return fmt.Errorf("record coverage of encounter %s: %w", id, DiskError(err))
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO coverage (encounter_id, start_sample, end_sample) VALUES (?, ?, ?)",
		id, r.Start, r.End); err != nil {
		return fmt.Errorf("record coverage of encounter %s: %w", id, DiskError(err))
	}
	return nil
}

// Coverage implements Store.
func (s *DB) Coverage(ctx context.Context, id string) ([]Range, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT start_sample, end_sample FROM coverage WHERE encounter_id = ? ORDER BY start_sample", id)
	if err != nil {
		return nil, fmt.Errorf("read coverage of encounter %s: %w", id, err)
	}
	defer rows.Close()
	var out []Range
	for rows.Next() {
		var r Range
		if err := rows.Scan(&r.Start, &r.End); err != nil {
			return nil, fmt.Errorf("read coverage of encounter %s: %w", id, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read coverage of encounter %s: %w", id, err)
	}
	return out, nil
}

// Gaps returns the parts of [0, total) that covered (sorted, disjoint, as
// Coverage returns it) lacks.
func Gaps(covered []Range, total int64) []Range {
	var out []Range
	at := int64(0)
	for _, r := range covered {
		if r.Start > at {
			out = append(out, Range{at, min(r.Start, total)})
		}
		at = max(at, r.End)
		if at >= total {
			break
		}
	}
	if at < total {
		out = append(out, Range{at, total})
	}
	return slices.DeleteFunc(out, func(r Range) bool { return r.End <= r.Start })
}

// Turns implements Store.
func (s *DB) Turns(ctx context.Context, id string) ([]Turn, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT start_sample, end_sample, text, words, source FROM turns
		WHERE encounter_id = ? ORDER BY start_sample`, id)
	if err != nil {
		return nil, fmt.Errorf("read transcript of encounter %s: %w", id, err)
	}
	defer rows.Close()
	var out []Turn
	for rows.Next() {
		var t Turn
		var words string
		if err := rows.Scan(&t.Start, &t.End, &t.Text, &words, &t.Source); err != nil {
			return nil, fmt.Errorf("read transcript of encounter %s: %w", id, err)
		}
		// Words only time a click in the transcript; a damaged list loses
		// that, not the turn.
		_ = json.Unmarshal([]byte(words), &t.Words)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read transcript of encounter %s: %w", id, err)
	}
	return out, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrExists is returned (wrapped) when a row with the same key is already
// there.
var ErrExists = errors.New("already exists")

// Where an encounter's audio came from.
const (
	SourceMic    = "mic"
	SourceImport = "import"
)

// Encounter is one visit recorded or imported on this computer, as kept
// locally. Its audio lives in the journal folder Dir.
type Encounter struct {
	ID        string
	PatientID int64 // 0 when no patient was chosen; negative for one added offline
	State     string
	CreatedAt time.Time
	EndedAt   time.Time     // zero while the encounter is open
	Duration  time.Duration // audio recorded so far (millisecond precision)
	Device    string        // input device name; "" for imports
	Source    string        // SourceMic or SourceImport
	Dir       string        // journal folder, relative to the profile folder

	Scope      string    // the account that recorded it (its jobs run in a session of it)
	TemplateID int64     // the note template (model_id); 0 for the server's default
	Context    string    // context for the note, as the clinician typed it
	ConsentAt  time.Time // when the patient's consent was confirmed; zero if not asked
	ConsentBy  int64     // the user who confirmed it

	NoteID   int64     // the server's progress note; 0 until created
	Note     string    // the server's note (JSON) as last read; "" before
	Draft    string    // the note text as the clinician has it
	DraftRev int64     // local edits so far
	SentRev  int64     // the last edit the server has
	SignedAt time.Time // zero unless signed
	Reason   string    // why it needs attention; "" otherwise
}

// EncounterUpdate is a change of an encounter's state.
type EncounterUpdate struct {
	State    string
	Duration time.Duration
	EndedAt  time.Time // zero leaves ended_at as it is
	Device   string    // "" leaves device as it is
}

// EncounterQuery selects encounters for Encounters.
type EncounterQuery struct {
	States []string // only these states; none means all
	Limit  int      // at most this many; 0 means all
}

// timeLayout is fixed-width so that the text order of created_at is its
// time order (RFC3339Nano drops trailing zeros, which breaks that).
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func formatFixed(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseFixed(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s) // accepts timeLayout too
	if err != nil {
		return time.Time{}
	}
	return t
}

func checkEncounter(e Encounter) error {
	var bad []string
	if e.ID == "" {
		bad = append(bad, "empty id")
	}
	if e.State == "" {
		bad = append(bad, "empty state")
	}
	if e.Source != SourceMic && e.Source != SourceImport {
		bad = append(bad, fmt.Sprintf("source %q is neither %q nor %q", e.Source, SourceMic, SourceImport))
	}
	if e.Dir == "" {
		bad = append(bad, "empty folder")
	}
	if e.CreatedAt.IsZero() {
		bad = append(bad, "no creation time")
	}
	if e.Duration < 0 {
		bad = append(bad, "negative duration")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, ", "))
	}
	return nil
}

// CreateEncounter implements Store.
func (s *DB) CreateEncounter(ctx context.Context, e Encounter) error {
	if err := checkEncounter(e); err != nil {
		return fmt.Errorf("save encounter %s: %w", e.ID, err)
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO encounters (id, patient_id, state, created_at, ended_at, duration_ms, device, source, dir,
			scope, template_id, context, consent_at, consent_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		e.ID, nullID(e.PatientID), e.State, formatFixed(e.CreatedAt), formatFixed(e.EndedAt),
		e.Duration.Milliseconds(), e.Device, e.Source, e.Dir,
		e.Scope, e.TemplateID, e.Context, formatFixed(e.ConsentAt), e.ConsentBy)
	if err != nil {
		return fmt.Errorf("save encounter %s: %w", e.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("save encounter %s: %w", e.ID, err)
	} else if n == 0 {
		return fmt.Errorf("save encounter %s: %w", e.ID, ErrExists)
	}
	return nil
}

// UpdateEncounter implements Store.
func (s *DB) UpdateEncounter(ctx context.Context, id string, u EncounterUpdate) error {
	if u.State == "" || u.Duration < 0 {
		return fmt.Errorf("update encounter %s: empty state or negative duration", id)
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE encounters SET state = ?, duration_ms = ?,
			ended_at = CASE WHEN ? = '' THEN ended_at ELSE ? END,
			device = CASE WHEN ? = '' THEN device ELSE ? END
		WHERE id = ?`,
		u.State, u.Duration.Milliseconds(), formatFixed(u.EndedAt), formatFixed(u.EndedAt), u.Device, u.Device, id)
	if err != nil {
		return fmt.Errorf("update encounter %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update encounter %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("update encounter %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteEncounter implements Store. Deleting a missing encounter is not an
// error: the caller wants it gone.
func (s *DB) DeleteEncounter(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM encounters WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete encounter %s: %w", id, err)
	}
	return nil
}

const encounterColumns = `id, patient_id, state, created_at, ended_at, duration_ms, device, source, dir,
	scope, template_id, context, consent_at, consent_by, note_id, note, draft, draft_rev, sent_rev, signed_at, reason`

// Encounter implements Store.
func (s *DB) Encounter(ctx context.Context, id string) (Encounter, error) {
	e, err := scanEncounter(s.db.QueryRowContext(ctx, "SELECT "+encounterColumns+" FROM encounters WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Encounter{}, fmt.Errorf("encounter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Encounter{}, fmt.Errorf("read encounter %s: %w", id, err)
	}
	return e, nil
}

// Encounters implements Store.
func (s *DB) Encounters(ctx context.Context, q EncounterQuery) ([]Encounter, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("list encounters: limit %d is negative", q.Limit)
	}
	query := "SELECT " + encounterColumns + " FROM encounters"
	var args []any
	if len(q.States) > 0 {
		query += " WHERE state IN (?" + strings.Repeat(", ?", len(q.States)-1) + ")"
		for _, st := range q.States {
			args = append(args, st)
		}
	}
	query += " ORDER BY created_at DESC, id DESC"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list encounters: %w", err)
	}
	defer rows.Close()
	var out []Encounter
	for rows.Next() {
		e, err := scanEncounter(rows)
		if err != nil {
			return nil, fmt.Errorf("list encounters: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list encounters: %w", err)
	}
	return out, nil
}

func scanEncounter(row interface{ Scan(...any) error }) (Encounter, error) {
	var (
		e                 Encounter
		patient           sql.NullInt64
		created, ended    string
		consented, signed string
		durationMillisec  int64
	)
	if err := row.Scan(&e.ID, &patient, &e.State, &created, &ended, &durationMillisec, &e.Device, &e.Source, &e.Dir,
		&e.Scope, &e.TemplateID, &e.Context, &consented, &e.ConsentBy, &e.NoteID, &e.Note, &e.Draft,
		&e.DraftRev, &e.SentRev, &signed, &e.Reason); err != nil {
		return Encounter{}, err
	}
	e.PatientID = patient.Int64
	e.CreatedAt = parseFixed(created)
	e.EndedAt = parseFixed(ended)
	e.ConsentAt = parseFixed(consented)
	e.SignedAt = parseFixed(signed)
	e.Duration = time.Duration(durationMillisec) * time.Millisecond
	return e, nil
}

func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

package sandbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

const (
	maxPatientNotes = 65535
	maxSearchWords  = 8
	encountersShown = 10
	timelineShown   = 20
)

type encounter struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	Signed    bool   `json:"signed"`
}

type timelineEntry struct {
	At     string `json:"at"`
	Event  string `json:"event"`
	NoteID *int64 `json:"note_id,omitempty"`
}

type patientBody struct {
	ID                int64           `json:"id"`
	UUID              string          `json:"uuid"`
	FirstName         string          `json:"first_name"`
	MiddleName        *string         `json:"middle_name"`
	LastName          string          `json:"last_name"`
	Gender            *string         `json:"gender"`
	DateOfBirth       *string         `json:"date_of_birth"`
	Notes             *string         `json:"notes"`
	LatestMedications json.RawMessage `json:"latest_medications"`
	User              *userBody       `json:"user"`
	Timeline          []timelineEntry `json:"timeline"`
	Encounters        []encounter     `json:"encounters"`
	Meta              map[string]any  `json:"meta"`
	CreatedAt         string          `json:"created_at"`
	UpdatedAt         string          `json:"updated_at"`
}

func strPtr(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	return &ns.String
}

// searchName is what patient search matches against: every name, lower-cased, so that search is
// case-insensitive beyond ASCII (SQLite's LIKE folds ASCII only).
func searchName(first, middle, last string) string {
	return strings.ToLower(strings.Join(strings.Fields(first+" "+middle+" "+last), " "))
}

// loadPatient reads one of the team's patients with its creator, encounters and timeline.
func loadPatient(ctx context.Context, q querier, teamID, id int64) (patientBody, error) {
	var p patientBody
	var middle, gender, dob, notes sql.NullString
	var meds string
	var userID int64
	err := q.QueryRowContext(ctx, `
		SELECT id, uuid, first_name, middle_name, last_name, gender, date_of_birth, notes, latest_medications,
			user_id, created_at, updated_at
		FROM patients WHERE id = ? AND team_id = ?`, id, teamID).
		Scan(&p.ID, &p.UUID, &p.FirstName, &middle, &p.LastName, &gender, &dob, &notes, &meds, &userID, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return p, errNotFound
	}
	if err != nil {
		return p, fmt.Errorf("load patient: %w", err)
	}
	p.MiddleName, p.Gender, p.DateOfBirth, p.Notes = strPtr(middle), strPtr(gender), strPtr(dob), strPtr(notes)
	p.LatestMedications = json.RawMessage(meds)
	u, err := loadUser(ctx, q, userID)
	if err != nil {
		return p, err
	}
	p.User = &u
	if err := p.loadHistory(ctx, q); err != nil {
		return p, err
	}
	return p, nil
}

// loadHistory fills encounters (the latest notes), the timeline and meta from the patient's notes.
func (p *patientBody) loadHistory(ctx context.Context, q querier) error {
	rows, err := q.QueryContext(ctx, `SELECT id, name, created_at, signed_at FROM progress_notes WHERE patient_id = ?
		ORDER BY created_at DESC, id DESC`, p.ID)
	if err != nil {
		return fmt.Errorf("load patient history: %w", err)
	}
	defer rows.Close()
	p.Encounters, p.Timeline = []encounter{}, []timelineEntry{}
	count := 0
	for rows.Next() {
		var e encounter
		var signed sql.NullString
		if err := rows.Scan(&e.ID, &e.Name, &e.CreatedAt, &signed); err != nil {
			return fmt.Errorf("load patient history: %w", err)
		}
		e.Signed = signed.Valid
		count++
		if len(p.Encounters) < encountersShown {
			p.Encounters = append(p.Encounters, e)
		}
		id := e.ID
		if signed.Valid {
			p.Timeline = append(p.Timeline, timelineEntry{At: signed.String, Event: "Progress note signed", NoteID: &id})
		}
		p.Timeline = append(p.Timeline, timelineEntry{At: e.CreatedAt, Event: "Progress note created", NoteID: &id})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load patient history: %w", err)
	}
	p.Timeline = append(p.Timeline, timelineEntry{At: p.CreatedAt, Event: "Patient added"})
	// Newest first; signatures may postdate later notes.
	slices.SortStableFunc(p.Timeline, func(a, b timelineEntry) int { return strings.Compare(b.At, a.At) })
	if len(p.Timeline) > timelineShown {
		p.Timeline = p.Timeline[:timelineShown]
	}
	p.Meta = map[string]any{"notes_count": count}
	return nil
}

func (s *Server) listPatients(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	var errs fieldErrors
	pr := parsePage(q, &errs)
	words := strings.FieldsFunc(strings.ToLower(q.Get("search")), func(c rune) bool { return unicode.IsSpace(c) || c == ',' })
	if len(words) > maxSearchWords {
		errs.add("search", fmt.Sprintf("The search field must not have more than %d words.", maxSearchWords))
	}
	checkLen(&errs, "search", q.Get("search"), maxNameLen)
	if !errs.empty() {
		errs.write(w)
		return
	}
	where := "team_id = ?"
	args := []any{p.teamID}
	for _, word := range words {
		where += " AND instr(search_name, ?) > 0"
		args = append(args, word)
	}
	ctx := r.Context()
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM patients WHERE "+where, args...).Scan(&total); err != nil {
		s.internal(w, "count patients", err)
		return
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM patients WHERE "+where+
		" ORDER BY last_name COLLATE NOCASE, first_name COLLATE NOCASE, id LIMIT ? OFFSET ?",
		append(args, pr.perPage, pr.offset())...)
	if err != nil {
		s.internal(w, "list patients", err)
		return
	}
	ids, err := scanIDs(rows)
	if err != nil {
		s.internal(w, "list patients", err)
		return
	}
	items := make([]patientBody, 0, len(ids))
	for _, id := range ids {
		pb, err := loadPatient(ctx, s.db, p.teamID, id)
		if errors.Is(err, errNotFound) {
			continue // deleted between the two queries
		}
		if err != nil {
			s.internal(w, "load patient", err)
			return
		}
		items = append(items, pb)
	}
	writeJSON(w, http.StatusOK, paginate(r, pr, total, items))
}

func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Server) getPatient(w http.ResponseWriter, r *http.Request, p principal) {
	id, ok := pathID(w, r, "Patient")
	if !ok {
		return
	}
	pb, err := loadPatient(r.Context(), s.db, p.teamID, id)
	if errors.Is(err, errNotFound) {
		writeMessage(w, http.StatusNotFound, "Patient not found.")
		return
	}
	if err != nil {
		s.internal(w, "load patient", err)
		return
	}
	writeJSON(w, http.StatusOK, pb)
}

// patientFields are the writable fields of a patient; a nil pointer is "not sent".
type patientFields struct {
	first, middle, last, gender, dob, notes *string
	// clear names optional fields sent as null or "" (set to NULL).
	clear map[string]bool
}

// readPatientFields validates a create (all = true: first and last names required) or an update.
func (s *Server) readPatientFields(in jsonObject, all bool) (patientFields, fieldErrors) {
	var errs fieldErrors
	f := patientFields{clear: map[string]bool{}}
	for _, field := range []struct {
		name     string
		dst      **string
		required bool
		limit    int
	}{
		{"first_name", &f.first, true, maxNameLen},
		{"middle_name", &f.middle, false, maxNameLen},
		{"last_name", &f.last, true, maxNameLen},
		{"gender", &f.gender, false, maxNameLen},
		{"date_of_birth", &f.dob, false, 10},
		{"notes", &f.notes, false, maxPatientNotes},
	} {
		v, present, null := in.str(field.name, &errs)
		if errs.has(field.name) {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case field.required && (null || v == "") && (present || all):
			errs.add(field.name, required(field.name))
		case !present:
		case null || v == "":
			f.clear[field.name] = true
		default:
			checkLen(&errs, field.name, v, field.limit)
			*field.dst = &v
		}
	}
	if f.dob != nil && !errs.has("date_of_birth") {
		d, err := time.Parse(time.DateOnly, *f.dob)
		// The latest date anywhere on Earth (UTC+14) is "today" for someone.
		latest := s.now().UTC().Add(14 * time.Hour).Format(time.DateOnly)
		switch {
		case err != nil:
			errs.add("date_of_birth", "The date of birth field must match the format YYYY-MM-DD.")
		case d.Format(time.DateOnly) > latest:
			errs.add("date_of_birth", "The date of birth field must be a date before or equal to today.")
		case d.Year() < 1900:
			errs.add("date_of_birth", "The date of birth field must be a date after 1900-01-01.")
		}
	}
	return f, errs
}

func (s *Server) createPatient(w http.ResponseWriter, r *http.Request, p principal) {
	c, ok := s.beginIdempotent(w, r, p)
	if !ok {
		return
	}
	ctx := r.Context()
	defer c.release(ctx)
	in, ok := readJSON(w, r)
	if !ok {
		return
	}
	f, errs := s.readPatientFields(in, true)
	if !errs.empty() {
		s.reply(ctx, w, c, http.StatusUnprocessableEntity, errs.body())
		return
	}
	now := sqlitedb.FormatTime(s.now())
	var body []byte
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO patients (uuid, team_id, user_id, first_name, middle_name, last_name, gender, date_of_birth,
				notes, search_name, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			newUUID(), p.teamID, p.userID, *f.first, f.middle, *f.last, f.gender, f.dob, f.notes,
			searchName(*f.first, deref(f.middle), *f.last), now, now)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		pb, err := loadPatient(ctx, tx, p.teamID, id)
		if err != nil {
			return err
		}
		if body, err = marshal(pb); err != nil {
			return err
		}
		return c.record(ctx, tx, http.StatusCreated, body, true)
	})
	if err != nil {
		s.internal(w, "create patient", err)
		return
	}
	writeRaw(w, http.StatusCreated, body)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *Server) updatePatient(w http.ResponseWriter, r *http.Request, p principal) {
	id, ok := pathID(w, r, "Patient")
	if !ok {
		return
	}
	in, ok := readJSON(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if _, err := loadPatient(ctx, s.db, p.teamID, id); errors.Is(err, errNotFound) {
		writeMessage(w, http.StatusNotFound, "Patient not found.")
		return
	} else if err != nil {
		s.internal(w, "load patient", err)
		return
	}
	f, errs := s.readPatientFields(in, false)
	if !errs.empty() {
		errs.write(w)
		return
	}
	var pb patientBody
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		set := func(col string, v *string) error {
			if v == nil && !f.clear[col] {
				return nil
			}
			_, err := tx.ExecContext(ctx, "UPDATE patients SET "+col+" = ? WHERE id = ?", v, id)
			return err
		}
		for _, c := range []struct {
			col string
			v   *string
		}{{"first_name", f.first}, {"middle_name", f.middle}, {"last_name", f.last}, {"gender", f.gender}, {"date_of_birth", f.dob}, {"notes", f.notes}} {
			if err := set(c.col, c.v); err != nil {
				return err
			}
		}
		var first, last string
		var middle sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT first_name, middle_name, last_name FROM patients WHERE id = ?`, id).Scan(&first, &middle, &last); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE patients SET search_name = ?, updated_at = ? WHERE id = ?`,
			searchName(first, middle.String, last), sqlitedb.FormatTime(s.now()), id); err != nil {
			return err
		}
		var err error
		pb, err = loadPatient(ctx, tx, p.teamID, id)
		return err
	})
	if errors.Is(err, errNotFound) {
		writeMessage(w, http.StatusNotFound, "Patient not found.")
		return
	}
	if err != nil {
		s.internal(w, "update patient", err)
		return
	}
	writeJSON(w, http.StatusOK, pb)
}

func (s *Server) deletePatient(w http.ResponseWriter, r *http.Request, p principal) {
	id, ok := pathID(w, r, "Patient")
	if !ok {
		return
	}
	res, err := s.db.ExecContext(r.Context(), `DELETE FROM patients WHERE id = ? AND team_id = ?`, id, p.teamID)
	if err != nil {
		s.internal(w, "delete patient", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		writeMessage(w, http.StatusNotFound, "Patient not found.")
		return
	}
	writeMessage(w, http.StatusOK, "Patient deleted successfully")
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

package simplepractice

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/internal/ehrkit"
	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

const (
	maxJSONBody = 1 << 20 // a note with its codes and metadata fits many times over
	dateLayout  = "2006-01-02"
)

// formats are the note body formats SimplePractice renders.
var formats = map[string]bool{"plain": true, "markdown": true, "html": true}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/me", s.auth(s.me))
	mux.HandleFunc("GET /api/clinicians", s.auth(s.listClinicians))
	mux.HandleFunc("GET /api/clients", s.auth(s.findClients))
	mux.HandleFunc("POST /api/notes", s.auth(s.createNote))
	mux.HandleFunc("GET /api/notes", s.auth(s.listNotes))
	mux.HandleFunc("GET /api/notes/{id}", s.auth(s.getNote))
	mux.HandleFunc("PUT /api/notes/{id}", s.auth(s.replaceNote))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "No such SimplePractice API route: "+r.Method+" "+r.URL.Path+".")
	})
	return mux
}

// errorBody is every error: {"error": {"code", "message", "fields"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func codeFor(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "invalid_token"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusUnprocessableEntity:
		return "invalid_request"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "error"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{errorDetail{Code: codeFor(status), Message: msg}})
}

func invalidFields(fields map[string]string) errorBody {
	return errorBody{errorDetail{Code: "invalid_request", Message: "The note was not saved: fix the fields named in \"fields\" and send it again.", Fields: fields}}
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"error","message":"The sandbox could not encode its response."}}`)
	}
	writeRaw(w, status, body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, "The sandbox EHR failed to "+what+"; retry, and report it if it persists.")
}

// auth admits requests carrying SampleToken as "Authorization: Bearer <token>".
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		switch {
		case h == "":
			writeError(w, http.StatusUnauthorized, "No API token was sent. Send the SimplePractice API token in the Authorization header as \"Bearer <token>\".")
		case !ok || token == "":
			writeError(w, http.StatusUnauthorized, "The Authorization header must be \"Bearer <token>\" with the SimplePractice API token.")
		case subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(SampleToken)) != 1:
			writeError(w, http.StatusUnauthorized, "The API token is not valid. Copy it again from SimplePractice (Settings → API or Integrations), paste it into Nextvisit and connect again.")
		case s.tokenRevoked():
			writeError(w, http.StatusUnauthorized, "This API token was revoked in SimplePractice. Generate a new token there, paste it into Nextvisit and connect again.")
		default:
			next(w, r)
		}
	}
}

type practiceBody struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type userBody struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type meBody struct {
	User     userBody     `json:"user"`
	Practice practiceBody `json:"practice"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, meBody{User: userBody{adminName, adminEmail}, Practice: practiceBody{practiceID, practiceName}})
}

type clinicianBody struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Credentials string `json:"credentials"`
	Email       string `json:"email"`
}

func (s *Server) listClinicians(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.QueryContext(r.Context(), `SELECT id, first_name, last_name, credentials, email FROM clinicians ORDER BY id`)
	if err != nil {
		s.internal(w, "list clinicians", err)
		return
	}
	defer rows.Close()
	out := []clinicianBody{}
	for rows.Next() {
		var c clinicianBody
		if err := rows.Scan(&c.ID, &c.FirstName, &c.LastName, &c.Credentials, &c.Email); err != nil {
			s.internal(w, "list clinicians", err)
			return
		}
		c.Name = strings.TrimSpace(c.FirstName + " " + c.LastName + " " + c.Credentials)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list clinicians", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"clinicians": out})
}

type clientBody struct {
	ID            int64  `json:"id"`
	FirstName     string `json:"first_name"`
	MiddleName    string `json:"middle_name"`
	LastName      string `json:"last_name"`
	PreferredName string `json:"preferred_name"`
	DateOfBirth   string `json:"date_of_birth"`
	Gender        string `json:"gender"`
}

// findClients looks clients up by last name (case-insensitive) and, optionally, date of birth. There is
// no full listing: SimplePractice's roster read is still in development.
func (s *Server) findClients(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	last, dob := strings.TrimSpace(q.Get("last_name")), q.Get("date_of_birth")
	if last == "" {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{errorDetail{Code: "invalid_request",
			Message: "Client lookup needs last_name (and optionally date_of_birth, YYYY-MM-DD); listing every client is not available yet.",
			Fields:  map[string]string{"last_name": "required"}}})
		return
	}
	if dob != "" {
		if _, err := time.Parse(dateLayout, dob); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{errorDetail{Code: "invalid_request",
				Message: "date_of_birth must be a date as YYYY-MM-DD.", Fields: map[string]string{"date_of_birth": "not a YYYY-MM-DD date"}}})
			return
		}
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT id, first_name, middle_name, last_name, preferred_name, date_of_birth, gender
		FROM clients WHERE last_name = ? COLLATE NOCASE AND (? = '' OR date_of_birth = ?) ORDER BY id`, last, dob, dob)
	if err != nil {
		s.internal(w, "find clients", err)
		return
	}
	defer rows.Close()
	out := []clientBody{}
	for rows.Next() {
		var c clientBody
		if err := rows.Scan(&c.ID, &c.FirstName, &c.MiddleName, &c.LastName, &c.PreferredName, &c.DateOfBirth, &c.Gender); err != nil {
			s.internal(w, "find clients", err)
			return
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "find clients", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
}

type noteBody struct {
	ID          int64  `json:"id"`
	ClientID    int64  `json:"client_id"`
	ClinicianID int64  `json:"clinician_id"`
	Date        string `json:"date"`
	Body        string `json:"body"`
	Format      string `json:"format"`
	Version     int    `json:"version"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

func toBody(d Document) noteBody {
	return noteBody{ID: d.ID, ClientID: d.PatientID, ClinicianID: d.ProviderID, Date: d.VisitDate, Body: d.Content,
		Format: d.Format, Version: d.Version, CreatedAt: sqlitedb.FormatTime(d.CreatedAt), UpdatedAt: sqlitedb.FormatTime(d.UpdatedAt)}
}

// noteRequest is the body of POST /api/notes and PUT /api/notes/{id}; pointers tell absent from zero.
type noteRequest struct {
	ClientID    *int64  `json:"client_id"`
	ClinicianID *int64  `json:"clinician_id"`
	Date        *string `json:"date"`
	Body        *string `json:"body"`
	Format      *string `json:"format"`
}

// decode reads a JSON body strictly: an unknown field is an error naming it, so a client sending what
// SimplePractice would drop finds out.
func decode(r *http.Request, w http.ResponseWriter, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("the request body is larger than %d bytes", maxJSONBody)
		}
		return fmt.Errorf("the request body is not a valid note object: %v", err)
	}
	if dec.Decode(new(json.RawMessage)) != io.EOF {
		return errors.New("the request body has data after the note object")
	}
	return nil
}

// checkContent validates body and format, filling fields with what is wrong; it returns the format to store.
func checkContent(req noteRequest, fields map[string]string) string {
	if req.Body == nil || strings.TrimSpace(*req.Body) == "" {
		fields["body"] = "required: the note text"
	}
	format := "plain"
	if req.Format != nil {
		format = *req.Format
		if !formats[format] {
			fields["format"] = fmt.Sprintf("%q is not a format; use plain, markdown or html", format)
		}
	}
	return format
}

func (s *Server) exists(ctx context.Context, tx *sql.Tx, table string, id int64) (bool, error) {
	var ok bool
	// table is one of two constants below, never input.
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = ?)`, id).Scan(&ok)
	return ok, err
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	var req noteRequest
	if err := decode(r, w, &req); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "The note was not saved: "+err.Error()+".")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	s.idempotent(w, r, func(ctx context.Context, tx *sql.Tx) (int, any, bool, error) {
		fields := map[string]string{}
		for name, id := range map[string]*int64{"client_id": req.ClientID, "clinician_id": req.ClinicianID} {
			if id == nil {
				fields[name] = "required"
				continue
			}
			table := "clients"
			if name == "clinician_id" {
				table = "clinicians"
			}
			ok, err := s.exists(ctx, tx, table, *id)
			if err != nil {
				return 0, nil, false, fmt.Errorf("check %s: %w", name, err)
			}
			if !ok {
				fields[name] = fmt.Sprintf("no %s has id %d in this practice", strings.TrimSuffix(name, "_id"), *id)
			}
		}
		if req.Date == nil {
			fields["date"] = "required: the visit date as YYYY-MM-DD"
		} else if _, err := time.Parse(dateLayout, *req.Date); err != nil {
			fields["date"] = fmt.Sprintf("%q is not a date as YYYY-MM-DD", *req.Date)
		}
		format := checkContent(req, fields)
		if len(fields) > 0 {
			return http.StatusUnprocessableEntity, invalidFields(fields), false, nil
		}
		now := sqlitedb.FormatTime(s.now())
		row := tx.QueryRowContext(ctx, `INSERT INTO notes (client_id, clinician_id, date, body, format, idempotency_key, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+noteColumns,
			*req.ClientID, *req.ClinicianID, *req.Date, *req.Body, format, sql.NullString{String: key, Valid: key != ""}, now, now)
		d, err := scanNote(row)
		if err != nil {
			return 0, nil, false, err
		}
		return http.StatusCreated, map[string]any{"note": toBody(d)}, true, nil
	})
}

// replaceNote replaces a note's body (the "replace" update behaviour): the chart keeps one note, its
// version goes up by one.
func (s *Server) replaceNote(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "No note has id "+strconv.Quote(r.PathValue("id"))+".")
		return
	}
	var req noteRequest
	if err := decode(r, w, &req); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "The note was not saved: "+err.Error()+".")
		return
	}
	s.idempotent(w, r, func(ctx context.Context, tx *sql.Tx) (int, any, bool, error) {
		fields := map[string]string{}
		for name, v := range map[string]bool{"client_id": req.ClientID != nil, "clinician_id": req.ClinicianID != nil, "date": req.Date != nil} {
			if v {
				fields[name] = "cannot be changed by a replacement; push a new note instead"
			}
		}
		format := checkContent(req, fields)
		if len(fields) > 0 {
			return http.StatusUnprocessableEntity, invalidFields(fields), false, nil
		}
		row := tx.QueryRowContext(ctx, `UPDATE notes SET body = ?, format = ?, version = version + 1, updated_at = ? WHERE id = ?
			RETURNING `+noteColumns, *req.Body, format, sqlitedb.FormatTime(s.now()), id)
		d, err := scanNote(row)
		if errors.Is(err, sql.ErrNoRows) {
			return http.StatusNotFound, errorBody{errorDetail{Code: "not_found", Message: fmt.Sprintf("No note has id %d.", id)}}, false, nil
		}
		if err != nil {
			return 0, nil, false, err
		}
		return http.StatusOK, map[string]any{"note": toBody(d)}, true, nil
	})
}

// idempotent runs a write under the request's Idempotency-Key: a key already answered is replayed;
// otherwise do runs in one transaction with the recording of its answer and effect.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, tx *sql.Tx) (int, any, bool, error)) {
	ctx := r.Context()
	c, replay, err := s.keys.Begin(ctx, r.Header.Get("Idempotency-Key"), r.Method+" "+r.URL.Path)
	switch {
	case errors.Is(err, ehrkit.ErrKeyTooLong), errors.Is(err, ehrkit.ErrKeyReused):
		writeError(w, http.StatusUnprocessableEntity, "Idempotency-Key: "+err.Error()+".")
		return
	case errors.Is(err, ehrkit.ErrKeyInFlight):
		writeError(w, http.StatusConflict, "Idempotency-Key: "+err.Error()+".")
		return
	case err != nil:
		s.internal(w, "claim the Idempotency-Key", err)
		return
	case replay != nil:
		w.Header().Set("Idempotent-Replayed", "true")
		writeRaw(w, replay.Status, replay.Body)
		return
	}
	defer func() {
		if err := c.Release(ctx); err != nil {
			s.log.Error("release idempotency key", "err", err)
		}
	}()
	var status int
	var body []byte
	err = sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		st, v, effect, err := do(ctx, tx)
		if err != nil {
			return err
		}
		if body, err = marshal(v); err != nil {
			return err
		}
		status = st
		return c.Record(ctx, tx, st, body, effect)
	})
	if err != nil {
		s.internal(w, "save the note", err)
		return
	}
	writeRaw(w, status, body)
}

func (s *Server) getNote(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "No note has id "+strconv.Quote(r.PathValue("id"))+".")
		return
	}
	d, err := scanNote(s.db.QueryRowContext(r.Context(), `SELECT `+noteColumns+` FROM notes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("No note has id %d.", id))
		return
	}
	if err != nil {
		s.internal(w, "read the note", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"note": toBody(d)})
}

// listNotes lists a client's notes, optionally for one visit date: what the admin checks after the
// test push, and what the chart audit reads.
func (s *Server) listNotes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	client, err := strconv.ParseInt(q.Get("client_id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{errorDetail{Code: "invalid_request",
			Message: "Listing notes needs client_id, a client's numeric id.", Fields: map[string]string{"client_id": "required, a number"}}})
		return
	}
	date := q.Get("date")
	rows, err := s.db.QueryContext(r.Context(), `SELECT `+noteColumns+` FROM notes WHERE client_id = ? AND (? = '' OR date = ?) ORDER BY id`,
		client, date, date)
	if err != nil {
		s.internal(w, "list notes", err)
		return
	}
	defer rows.Close()
	out := []noteBody{}
	for rows.Next() {
		d, err := scanNote(rows)
		if err != nil {
			s.internal(w, "list notes", err)
			return
		}
		out = append(out, toBody(d))
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list notes", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"notes": out})
}

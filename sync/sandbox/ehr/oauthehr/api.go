package oauthehr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

const (
	maxJSONBody   = 1 << 20
	maxIDLen      = 255
	maxContentLen = 512 << 10
)

var contentTypes = []string{"text/plain", "text/markdown", "text/html"}

// Document is one version of a note as it landed in the chart.
type Document struct {
	ID             int64
	PatientID      string
	ProviderID     string
	VisitDate      string // YYYY-MM-DD
	ContentType    string
	Content        string
	ExternalID     string
	Version        int  // 1 for the push, +1 for each replace
	Current        bool // the latest version, the one the chart shows
	IdempotencyKey string
	CreatedAt      time.Time
}

// Documents returns every version of every note in the chart, by document then version.
func (s *Server) Documents(ctx context.Context) ([]Document, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT d.id, d.patient_id, d.provider_id, d.visit_date, d.external_id, v.version, v.content, v.content_type,
			v.idempotency_key, v.created_at,
			v.version = (SELECT MAX(version) FROM document_versions WHERE document_id = d.id)
		FROM documents d JOIN document_versions v ON v.document_id = d.id
		ORDER BY d.id, v.version`)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		var d Document
		var created string
		if err := rows.Scan(&d.ID, &d.PatientID, &d.ProviderID, &d.VisitDate, &d.ExternalID, &d.Version, &d.Content,
			&d.ContentType, &d.IdempotencyKey, &created, &d.Current); err != nil {
			return nil, fmt.Errorf("list documents: %w", err)
		}
		if d.CreatedAt, err = sqlitedb.ParseTime(created); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return out, nil
}

// bearer admits requests whose bearer token is valid now and carries scope.
func (s *Server) bearer(scope string, h func(http.ResponseWriter, *http.Request, grant)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		realm := fmt.Sprintf("Bearer realm=%q", s.name)
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", realm)
			apiError(w, http.StatusUnauthorized, "invalid_request", "Send an access token: Authorization: Bearer <token>.")
			return
		}
		g, err := s.lookupAccess(r.Context(), token)
		switch {
		case errors.Is(err, errNotFound):
			w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
			apiError(w, http.StatusUnauthorized, "invalid_token", "The access token is not valid (revoked, rotated or never issued); connect again.")
			return
		case errors.Is(err, errExpired):
			w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="The access token expired"`)
			apiError(w, http.StatusUnauthorized, "invalid_token", "The access token expired; use the refresh token to get a new one.")
			return
		case err != nil:
			s.internal(w, "check access token", err)
			return
		}
		if !g.scopes[scope] {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s, error="insufficient_scope", scope=%q`, realm, scope))
			writeJSON(w, http.StatusForbidden, errorBody{Error: "insufficient_scope", Scope: scope,
				Message: fmt.Sprintf("This token was not granted the %s scope; connect to %s again and allow it.", scope, s.name)})
			return
		}
		h(w, r, g)
	})
}

func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, "err", err)
	apiError(w, http.StatusInternalServerError, "server_error", "The sandbox EHR failed to handle this request; see its log.")
}

type providerJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	Credentials string `json:"credentials"`
}

func (s *Server) handleProviders(w http.ResponseWriter, r *http.Request, _ grant) {
	rows, err := s.db.QueryContext(r.Context(), `SELECT id, name, email, credentials FROM providers ORDER BY id`)
	if err != nil {
		s.internal(w, "list providers", err)
		return
	}
	defer rows.Close()
	out := []providerJSON{}
	for rows.Next() {
		var p providerJSON
		if err := rows.Scan(&p.ID, &p.Name, &p.Email, &p.Credentials); err != nil {
			s.internal(w, "list providers", err)
			return
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list providers", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

type patientJSON struct {
	ID            string `json:"id"`
	FirstName     string `json:"first_name"`
	MiddleName    string `json:"middle_name"`
	LastName      string `json:"last_name"`
	PreferredName string `json:"preferred_name"`
	Gender        string `json:"gender"`
	DateOfBirth   string `json:"date_of_birth"`
	UpdatedAt     string `json:"updated_at"`
}

// handlePatients lists the roster, or with updated_since only patients changed after that time. The
// answer's server_time is the updated_since to send next time.
func (s *Server) handlePatients(w http.ResponseWriter, r *http.Request, _ grant) {
	since := ""
	if v := r.URL.Query().Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request",
				Message: "updated_since must be an RFC 3339 time such as 2026-01-02T15:04:05Z.", Fields: map[string]string{"updated_since": "not an RFC 3339 time"}})
			return
		}
		since = sqlitedb.FormatTime(t)
	}
	serverTime := sqlitedb.FormatTime(s.now())
	rows, err := s.db.QueryContext(r.Context(), `
		SELECT id, first_name, middle_name, last_name, preferred_name, gender, date_of_birth, updated_at
		FROM patients WHERE updated_at > ? ORDER BY updated_at, id`, since)
	if err != nil {
		s.internal(w, "list patients", err)
		return
	}
	defer rows.Close()
	out := []patientJSON{}
	for rows.Next() {
		var p patientJSON
		if err := rows.Scan(&p.ID, &p.FirstName, &p.MiddleName, &p.LastName, &p.PreferredName, &p.Gender, &p.DateOfBirth, &p.UpdatedAt); err != nil {
			s.internal(w, "list patients", err)
			return
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list patients", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "server_time": serverTime})
}

type noteJSON struct {
	ID          int64  `json:"id"`
	PatientID   string `json:"patient_id"`
	ProviderID  string `json:"provider_id"`
	VisitDate   string `json:"visit_date"`
	ContentType string `json:"content_type"`
	Content     string `json:"content"`
	ExternalID  string `json:"external_id"`
	Version     int    `json:"version"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const noteSelect = `
	SELECT d.id, d.patient_id, d.provider_id, d.visit_date, v.content_type, v.content, d.external_id, v.version,
		d.created_at, d.updated_at
	FROM documents d JOIN document_versions v ON v.document_id = d.id
		AND v.version = (SELECT MAX(version) FROM document_versions WHERE document_id = d.id)`

func scanNote(sc interface{ Scan(...any) error }) (noteJSON, error) {
	var n noteJSON
	err := sc.Scan(&n.ID, &n.PatientID, &n.ProviderID, &n.VisitDate, &n.ContentType, &n.Content, &n.ExternalID, &n.Version,
		&n.CreatedAt, &n.UpdatedAt)
	return n, err
}

func patientExists(ctx context.Context, q querier, id string) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM patients WHERE id = ?)`, id).Scan(&ok)
	return ok, err
}

func (s *Server) noPatient(id string) *apiErr {
	return &apiErr{status: http.StatusNotFound, code: "not_found",
		msg: fmt.Sprintf("No patient %q in %s; list patients with GET /api/patients.", id, s.name)}
}

func (s *Server) handleListNotes(w http.ResponseWriter, r *http.Request, _ grant) {
	id := r.PathValue("id")
	ok, err := patientExists(r.Context(), s.db, id)
	if err != nil {
		s.internal(w, "find patient", err)
		return
	}
	if !ok {
		s.noPatient(id).write(w)
		return
	}
	rows, err := s.db.QueryContext(r.Context(), noteSelect+` WHERE d.patient_id = ? ORDER BY d.id`, id)
	if err != nil {
		s.internal(w, "list notes", err)
		return
	}
	defer rows.Close()
	out := []noteJSON{}
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			s.internal(w, "list notes", err)
			return
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list notes", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// apiErr is a refusal with no effect on the chart.
type apiErr struct {
	status    int
	code, msg string
	fields    map[string]string
}

func (e *apiErr) write(w http.ResponseWriter) {
	writeJSON(w, e.status, errorBody{Error: e.code, Message: e.msg, Fields: e.fields})
}

// invalidFields is a 422 naming every bad field; its message is the first, by field name.
func invalidFields(fields map[string]string) *apiErr {
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	msg := names[0] + ": " + fields[names[0]]
	if len(names) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(names)-1)
	}
	return &apiErr{status: http.StatusUnprocessableEntity, code: "invalid_request", msg: msg, fields: fields}
}

// readBody reads a JSON object into v, refusing unknown fields so a misspelt one is not silently lost.
func readBody(w http.ResponseWriter, r *http.Request, v any) ([]byte, *apiErr) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		return nil, &apiErr{status: http.StatusRequestEntityTooLarge, code: "invalid_request",
			msg: fmt.Sprintf("The request body could not be read or is larger than %d bytes.", maxJSONBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, &apiErr{status: http.StatusBadRequest, code: "invalid_request",
			msg: "The request body must be a JSON object with the documented fields: " + err.Error() + "."}
	}
	if dec.More() {
		return nil, &apiErr{status: http.StatusBadRequest, code: "invalid_request", msg: "The request body must hold one JSON object."}
	}
	return body, nil
}

type pushRequest struct {
	ProviderID  string `json:"provider_id"`
	VisitDate   string `json:"visit_date"`
	Content     string `json:"content"`
	ContentType string `json:"content_type"`
	ExternalID  string `json:"external_id"`
}

func checkContent(fields map[string]string, content, contentType string, typeRequired bool) {
	switch {
	case strings.TrimSpace(content) == "":
		fields["content"] = "is required and must not be blank"
	case len(content) > maxContentLen:
		fields["content"] = fmt.Sprintf("is longer than %d bytes", maxContentLen)
	}
	if (typeRequired || contentType != "") && !slices.Contains(contentTypes, contentType) {
		fields["content_type"] = "must be one of " + strings.Join(contentTypes, ", ")
	}
}

func (s *Server) handlePushNote(w http.ResponseWriter, r *http.Request, g grant) {
	var req pushRequest
	body, e := readBody(w, r, &req)
	if e != nil {
		e.write(w)
		return
	}
	fields := map[string]string{}
	if req.ProviderID == "" {
		fields["provider_id"] = "is required: the id of one of GET /api/providers"
	}
	if _, err := time.Parse(time.DateOnly, req.VisitDate); err != nil {
		fields["visit_date"] = "must be a date like 2026-01-31"
	}
	checkContent(fields, req.Content, req.ContentType, true)
	if len(req.ExternalID) > maxIDLen {
		fields["external_id"] = fmt.Sprintf("must be at most %d characters", maxIDLen)
	}
	if len(fields) > 0 {
		invalidFields(fields).write(w)
		return
	}
	patient := r.PathValue("id")
	s.idempotent(w, r, g, body, func(ctx context.Context, tx *sql.Tx, key string) (int, any, error) {
		if ok, err := patientExists(ctx, tx, patient); err != nil {
			return 0, nil, err
		} else if !ok {
			return 0, nil, s.noPatient(patient)
		}
		var known bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM providers WHERE id = ?)`, req.ProviderID).Scan(&known); err != nil {
			return 0, nil, err
		}
		if !known {
			return 0, nil, invalidFields(map[string]string{"provider_id": fmt.Sprintf(
				"%q is not a %s provider; map the clinician to one of GET /api/providers", req.ProviderID, s.name)})
		}
		now := sqlitedb.FormatTime(s.now())
		res, err := tx.ExecContext(ctx, `INSERT INTO documents (patient_id, provider_id, visit_date, external_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, patient, req.ProviderID, req.VisitDate, req.ExternalID, now, now)
		if err != nil {
			return 0, nil, err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return 0, nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO document_versions (document_id, version, content, content_type, idempotency_key, created_at)
			VALUES (?, 1, ?, ?, ?, ?)`, id, req.Content, req.ContentType, key, now); err != nil {
			return 0, nil, err
		}
		n, err := scanNote(tx.QueryRowContext(ctx, noteSelect+` WHERE d.id = ?`, id))
		return http.StatusCreated, n, err
	})
}

type replaceRequest struct {
	Content     string `json:"content"`
	ContentType string `json:"content_type"`
}

// handleReplaceNote replaces a note's content. The chart shows the new version; the old ones are kept.
func (s *Server) handleReplaceNote(w http.ResponseWriter, r *http.Request, g grant) {
	var req replaceRequest
	body, e := readBody(w, r, &req)
	if e != nil {
		e.write(w)
		return
	}
	fields := map[string]string{}
	checkContent(fields, req.Content, req.ContentType, false)
	if len(fields) > 0 {
		invalidFields(fields).write(w)
		return
	}
	patient := r.PathValue("id")
	noteID, err := strconv.ParseInt(r.PathValue("note"), 10, 64)
	notFound := &apiErr{status: http.StatusNotFound, code: "not_found",
		msg: fmt.Sprintf("No note %q for patient %q; list them with GET /api/patients/{id}/notes.", r.PathValue("note"), patient)}
	if err != nil {
		notFound.write(w)
		return
	}
	s.idempotent(w, r, g, body, func(ctx context.Context, tx *sql.Tx, key string) (int, any, error) {
		cur, err := scanNote(tx.QueryRowContext(ctx, noteSelect+` WHERE d.id = ? AND d.patient_id = ?`, noteID, patient))
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, notFound
		}
		if err != nil {
			return 0, nil, err
		}
		ct := req.ContentType
		if ct == "" {
			ct = cur.ContentType
		}
		now := sqlitedb.FormatTime(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO document_versions (document_id, version, content, content_type, idempotency_key, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, noteID, cur.Version+1, req.Content, ct, key, now); err != nil {
			return 0, nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE documents SET updated_at = ? WHERE id = ?`, now, noteID); err != nil {
			return 0, nil, err
		}
		n, err := scanNote(tx.QueryRowContext(ctx, noteSelect+` WHERE d.id = ?`, noteID))
		return http.StatusOK, n, err
	})
}

func (e *apiErr) Error() string { return e.msg }

// idempotent runs effect and answers with its result. With an Idempotency-Key the key is looked up,
// the effect made and the answer stored in one write transaction (taken at BEGIN), so concurrent
// retries see either nothing or the finished answer, and a retry is answered with the first answer
// (Idempotent-Replayed: true) without a second effect. A refusal (*apiErr) has no effect and is not
// stored, so a corrected retry with the same key runs.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, g grant, body []byte,
	effect func(ctx context.Context, tx *sql.Tx, key string) (int, any, error)) {
	ctx := r.Context()
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIDLen {
		invalidFields(map[string]string{"Idempotency-Key": fmt.Sprintf("must be at most %d characters", maxIDLen)}).write(w)
		return
	}
	route := r.Method + " " + r.URL.Path
	sum := sha256.Sum256(append([]byte(route+"\n"), body...))
	var (
		status   int
		out      []byte
		replayed bool
		refusal  *apiErr
	)
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if key != "" {
			var prevRoute string
			var prevHash []byte
			err := tx.QueryRowContext(ctx, `SELECT route, request_hash, status, body FROM idempotency_keys WHERE user_id = ? AND key = ?`,
				g.userID, key).Scan(&prevRoute, &prevHash, &status, &out)
			switch {
			case err == nil && !bytes.Equal(prevHash, sum[:]):
				refusal = &apiErr{status: http.StatusUnprocessableEntity, code: "idempotency_key_reused",
					msg: fmt.Sprintf("This Idempotency-Key was used for a different request (%s); use a new key for a new request.", prevRoute)}
				return nil
			case err == nil:
				replayed = true
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("read idempotency key: %w", err)
			}
		}
		st, v, err := effect(ctx, tx, key)
		if errors.As(err, &refusal) {
			return errRefused
		}
		if err != nil {
			return err
		}
		if out, err = json.Marshal(v); err != nil {
			return fmt.Errorf("encode response: %w", err)
		}
		status = st
		if key == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, key, route, request_hash, status, body, effects, created_at)
			VALUES (?, ?, ?, ?, ?, ?, 1, ?)`, g.userID, key, route, sum[:], status, out, sqlitedb.FormatTime(s.now()))
		return err
	})
	switch {
	case refusal != nil:
		refusal.write(w)
	case err != nil:
		s.internal(w, "write note", err)
	default:
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeRaw(w, status, out)
	}
}

// errRefused rolls back a transaction whose effect refused the request.
var errRefused = errors.New("request refused")

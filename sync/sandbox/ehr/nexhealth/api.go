package nexhealth

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/internal/ehrkit"
	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

const (
	maxUpload      = 25 << 20 // one PDF note is far smaller
	maxMemory      = 8 << 20  // multipart parts above this spill to temporary files
	defaultPerPage = 50
	maxPerPage     = 300
	dateLayout     = "2006-01-02"
)

// documentTypes are the document center folders a document may be filed under; ids run 1, 2, … so
// readUpload checks one by range.
var documentTypes = []documentTypeBody{{1, "Clinical Notes"}, {2, "Miscellaneous"}}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /authenticates", s.authenticate)
	mux.HandleFunc("GET /providers", s.scoped(s.listProviders))
	mux.HandleFunc("GET /patients", s.scoped(s.listPatients))
	mux.HandleFunc("GET /document_types", s.scoped(s.listDocumentTypes))
	mux.HandleFunc("POST /patients/{id}/documents", s.scoped(s.createDocument))
	mux.HandleFunc("GET /patients/{id}/documents", s.scoped(s.listDocuments))
	mux.HandleFunc("GET /patients/{id}/documents/{document_id}", s.scoped(s.getDocument))
	mux.HandleFunc("GET /sync_status", s.scoped(s.syncStatus))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "No such NexHealth API route: "+r.Method+" "+r.URL.Path+".")
	})
	return mux
}

// envelope is every response, as NexHealth's: code is true on success; error lists what went wrong.
type envelope struct {
	Code        bool     `json:"code"`
	Description []string `json:"description"`
	Data        any      `json:"data"`
	Error       []string `json:"error"`
	Count       *int     `json:"count,omitempty"`
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

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/vnd.Nexhealth+json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeEnvelope(w http.ResponseWriter, status int, e envelope) {
	body, err := marshal(e)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"code":false,"description":[],"data":null,"error":["The sandbox could not encode its response."]}`)
	}
	writeRaw(w, status, body)
}

func errorEnvelope(msg string) envelope {
	return envelope{Description: []string{}, Error: []string{msg}}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeEnvelope(w, status, errorEnvelope(msg))
}

func writeData(w http.ResponseWriter, status int, description string, data any, count *int) {
	writeEnvelope(w, status, envelope{Code: true, Description: []string{description}, Data: data, Error: []string{}, Count: count})
}

func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, "The sandbox EHR failed to "+what+"; retry, and report it if it persists.")
}

// scoped admits requests with a valid bearer token, the sandbox institution's subdomain (403 when
// missing or another) and one of its locations (404 when missing or unknown), and passes the location on.
func (s *Server) scoped(next func(w http.ResponseWriter, r *http.Request, location int64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.bearer(w, r) {
			return
		}
		q := r.URL.Query()
		sub := q.Get("subdomain")
		switch {
		case sub == "":
			writeError(w, http.StatusForbidden, "The subdomain query parameter is required: the institution's subdomain from the Developer Portal (Institutions tab).")
			return
		case sub != SampleSubdomain:
			writeError(w, http.StatusForbidden, fmt.Sprintf("You do not have access to the institution %q. Check the subdomain in the Developer Portal, or ask the practice to grant access.", sub))
			return
		}
		raw := q.Get("location_id")
		if raw == "" {
			writeError(w, http.StatusNotFound, "The location_id query parameter is required: the id of one of the institution's locations.")
			return
		}
		loc, err := strconv.ParseInt(raw, 10, 64)
		var found bool
		if err == nil {
			err = s.db.QueryRowContext(r.Context(), `SELECT EXISTS (SELECT 1 FROM locations WHERE id = ?)`, loc).Scan(&found)
			if err != nil {
				s.internal(w, "look up the location", err)
				return
			}
		}
		if !found {
			writeError(w, http.StatusNotFound, fmt.Sprintf("Location %q was not found in institution %q. Check the location id in the Developer Portal.", raw, sub))
			return
		}
		next(w, r, loc)
	}
}

type page struct{ number, size int }

func parsePage(q url.Values) (page, error) {
	p := page{1, defaultPerPage}
	for _, f := range []struct {
		name   string
		dst    *int
		lo, hi int
	}{{"page", &p.number, 1, maxPage}, {"per_page", &p.size, 1, maxPerPage}} {
		raw := q.Get(f.name)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < f.lo || n > f.hi {
			return p, fmt.Errorf("%s must be a whole number from %d to %d", f.name, f.lo, f.hi)
		}
		*f.dst = n
	}
	return p, nil
}

const maxPage = 1<<31 - 1

type providerBody struct {
	ID            int64   `json:"id"`
	Email         string  `json:"email"`
	FirstName     string  `json:"first_name"`
	MiddleName    *string `json:"middle_name"`
	LastName      string  `json:"last_name"`
	Name          string  `json:"name"`
	NPI           string  `json:"npi"`
	InstitutionID int64   `json:"institution_id"`
	Inactive      bool    `json:"inactive"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func joinName(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func (s *Server) listProviders(w http.ResponseWriter, r *http.Request, loc int64) {
	p, err := parsePage(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+".")
		return
	}
	var total int
	if err := s.db.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM provider_locations WHERE location_id = ?`, loc).Scan(&total); err != nil {
		s.internal(w, "count providers", err)
		return
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT p.id, p.email, p.first_name, p.middle_name, p.last_name, p.suffix, p.npi, p.created_at, p.updated_at
		FROM providers p JOIN provider_locations pl ON pl.provider_id = p.id WHERE pl.location_id = ? ORDER BY p.id LIMIT ? OFFSET ?`,
		loc, p.size, (p.number-1)*p.size)
	if err != nil {
		s.internal(w, "list providers", err)
		return
	}
	defer rows.Close()
	out := []providerBody{}
	for rows.Next() {
		var b providerBody
		var middle, suffix string
		if err := rows.Scan(&b.ID, &b.Email, &b.FirstName, &middle, &b.LastName, &suffix, &b.NPI, &b.CreatedAt, &b.UpdatedAt); err != nil {
			s.internal(w, "list providers", err)
			return
		}
		b.MiddleName, b.Name, b.InstitutionID = nullable(middle), joinName(b.FirstName, middle, b.LastName, suffix), institutionID
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list providers", err)
		return
	}
	writeData(w, http.StatusOK, "Providers", out, &total)
}

type bioBody struct {
	DateOfBirth   string  `json:"date_of_birth"`
	Gender        string  `json:"gender"`
	PhoneNumber   string  `json:"phone_number"`
	PreferredName *string `json:"preferred_name"`
}

type patientBody struct {
	ID            int64   `json:"id"`
	FirstName     string  `json:"first_name"`
	MiddleName    *string `json:"middle_name"`
	LastName      string  `json:"last_name"`
	Name          string  `json:"name"`
	InstitutionID int64   `json:"institution_id"`
	ProviderID    *int64  `json:"provider_id"`
	LocationIDs   []int64 `json:"location_ids"`
	Bio           bioBody `json:"bio"`
	Inactive      bool    `json:"inactive"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
}

// listPatients is GET /patients: the location's patients by id, those changed at or after
// updated_since (RFC 3339) when given; data is {"patients": [...]} and count the total matching.
func (s *Server) listPatients(w http.ResponseWriter, r *http.Request, loc int64) {
	q := r.URL.Query()
	p, err := parsePage(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+".")
		return
	}
	since := ""
	if raw := q.Get("updated_since"); raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("updated_since %q is not a time; use RFC 3339, e.g. 2026-01-02T15:04:05Z.", raw))
			return
		}
		since = sqlitedb.FormatTime(t)
	}
	var total int
	if err := s.db.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM patients WHERE location_id = ? AND updated_at >= ?`, loc, since).Scan(&total); err != nil {
		s.internal(w, "count patients", err)
		return
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT id, provider_id, first_name, middle_name, last_name, preferred_name, gender, date_of_birth,
		phone_number, created_at, updated_at FROM patients WHERE location_id = ? AND updated_at >= ? ORDER BY id LIMIT ? OFFSET ?`,
		loc, since, p.size, (p.number-1)*p.size)
	if err != nil {
		s.internal(w, "list patients", err)
		return
	}
	defer rows.Close()
	out := []patientBody{}
	for rows.Next() {
		var b patientBody
		var middle, preferred string
		var provider sql.NullInt64
		if err := rows.Scan(&b.ID, &provider, &b.FirstName, &middle, &b.LastName, &preferred, &b.Bio.Gender, &b.Bio.DateOfBirth,
			&b.Bio.PhoneNumber, &b.CreatedAt, &b.UpdatedAt); err != nil {
			s.internal(w, "list patients", err)
			return
		}
		if provider.Valid {
			b.ProviderID = &provider.Int64
		}
		b.MiddleName, b.Bio.PreferredName = nullable(middle), nullable(preferred)
		b.Name, b.InstitutionID, b.LocationIDs = joinName(b.FirstName, b.LastName), institutionID, []int64{loc}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list patients", err)
		return
	}
	writeData(w, http.StatusOK, "Patients", map[string]any{"patients": out}, &total)
}

type documentTypeBody struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func (s *Server) listDocumentTypes(w http.ResponseWriter, r *http.Request, loc int64) {
	n := len(documentTypes)
	writeData(w, http.StatusOK, "Document types", documentTypes, &n)
}

type documentBody struct {
	ID             int64   `json:"id"`
	PatientID      int64   `json:"patient_id"`
	LocationID     int64   `json:"location_id"`
	DocumentTypeID *int64  `json:"document_type_id"`
	ProviderID     *int64  `json:"provider_id"`
	VisitDate      *string `json:"visit_date"`
	FileName       string  `json:"file_name"`
	Status         string  `json:"status"`
	StatusMessage  *string `json:"status_message"`
	CreatedAt      string  `json:"created_at"`
	ConfirmedAt    *string `json:"confirmed_at"`
}

func nonZero(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func toBody(d Document) documentBody {
	b := documentBody{ID: d.ID, PatientID: d.PatientID, LocationID: d.LocationID, DocumentTypeID: nonZero(d.DocumentTypeID),
		ProviderID: nonZero(d.ProviderID), VisitDate: nullable(d.VisitDate), FileName: d.FileName, Status: d.Status,
		CreatedAt: sqlitedb.FormatTime(d.CreatedAt)}
	switch d.Status {
	case "completed":
		b.ConfirmedAt = nullable(sqlitedb.FormatTime(d.ConfirmAt))
	case "failed":
		b.ConfirmedAt = nullable(sqlitedb.FormatTime(d.ConfirmAt))
		b.StatusMessage = nullable("The health record system rejected the document (sandbox fault injection). Write it again as a new document.")
	}
	return b
}

// upload is a parsed document write.
type upload struct {
	fileName          string
	content           []byte
	docType, provider int64
	visitDate         string
}

// readUpload parses the multipart body: file (the PDF, required), document_type_id, and the sandbox's
// provider_id and visit_date. A body that cannot be read at all is unreadable (not worth keeping
// under an Idempotency-Key: the next try may arrive whole); problems with fields come back one
// message each.
func readUpload(w http.ResponseWriter, r *http.Request) (u upload, unreadable string, errs []string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return u, "Send the document as multipart/form-data with the PDF in the \"file\" field.", nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(maxMemory); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return u, fmt.Sprintf("The upload is larger than %d MB.", maxUpload>>20), nil
		}
		return u, "The multipart body could not be read: " + err.Error() + ".", nil
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		errs = append(errs, "file is required: the document as a PDF.")
	} else {
		defer f.Close()
		u.fileName = hdr.Filename
		if u.content, err = io.ReadAll(f); err != nil {
			return u, "The file could not be read: " + err.Error() + ".", nil
		}
		switch {
		case !bytes.HasPrefix(u.content, []byte("%PDF-")):
			errs = append(errs, "file is not a PDF (it does not start with %PDF-); only PDF documents can be written.")
		case !bytes.Contains(u.content[max(0, len(u.content)-1024):], []byte("%%EOF")):
			errs = append(errs, "file is a truncated PDF (no %%EOF at its end); send the whole file.")
		}
		if strings.TrimSpace(u.fileName) == "" {
			errs = append(errs, "file needs a file name; it names the document in the health record system.")
		}
	}
	ints := []struct {
		name string
		dst  *int64
	}{{"document_type_id", &u.docType}, {"provider_id", &u.provider}}
	for _, f := range ints {
		if raw := r.FormValue(f.name); raw != "" {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Sprintf("%s must be a positive whole number, not %q.", f.name, raw))
				continue
			}
			*f.dst = n
		}
	}
	if u.docType > int64(len(documentTypes)) {
		errs = append(errs, fmt.Sprintf("document_type_id %d is not a document type here; see GET /document_types.", u.docType))
	}
	if u.visitDate = r.FormValue("visit_date"); u.visitDate != "" {
		if _, err := time.Parse(dateLayout, u.visitDate); err != nil {
			errs = append(errs, fmt.Sprintf("visit_date %q is not a date as YYYY-MM-DD.", u.visitDate))
		}
	}
	return u, "", errs
}

// createDocument is POST /patients/{id}/documents. 201 means accepted: the document is pending and
// becomes completed (or failed) after the processing delay.
func (s *Server) createDocument(w http.ResponseWriter, r *http.Request, loc int64) {
	patient, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Patient %q was not found at this location.", r.PathValue("id")))
		return
	}
	s.mu.Lock()
	writesDown := !s.writeDownSince.IsZero()
	s.mu.Unlock()
	if writesDown {
		writeError(w, http.StatusServiceUnavailable, "The sync's writes service is down (write_status red; see GET /sync_status), so nothing can be written now. Retry later.")
		return
	}
	u, unreadable, errs := readUpload(w, r)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if unreadable != "" {
		writeError(w, http.StatusBadRequest, unreadable)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	s.idempotent(w, r, func(ctx context.Context, tx *sql.Tx) (int, envelope, bool, error) {
		var found bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM patients WHERE id = ? AND location_id = ?)`, patient, loc).Scan(&found); err != nil {
			return 0, envelope{}, false, fmt.Errorf("look up patient: %w", err)
		}
		if !found {
			return http.StatusNotFound, errorEnvelope(fmt.Sprintf("Patient %d was not found at location %d.", patient, loc)), false, nil
		}
		if u.provider != 0 {
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM provider_locations WHERE provider_id = ? AND location_id = ?)`,
				u.provider, loc).Scan(&found); err != nil {
				return 0, envelope{}, false, fmt.Errorf("look up provider: %w", err)
			}
			if !found {
				errs = append(errs, fmt.Sprintf("provider_id %d is not a provider at location %d; see GET /providers.", u.provider, loc))
			}
		}
		if len(errs) > 0 {
			return http.StatusBadRequest, envelope{Description: []string{}, Error: errs}, false, nil
		}
		now := s.now()
		s.mu.Lock()
		confirm := now.Add(s.processingDelay)
		outcome := "completed"
		if s.failNext > 0 {
			s.failNext--
			outcome = "failed"
		}
		s.mu.Unlock()
		row := tx.QueryRowContext(ctx, `INSERT INTO documents (patient_id, location_id, document_type_id, provider_id, visit_date, file_name,
			content, outcome, idempotency_key, created_at, confirm_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+docColumns,
			patient, loc, nullInt(u.docType), nullInt(u.provider), sql.NullString{String: u.visitDate, Valid: u.visitDate != ""},
			u.fileName, u.content, outcome, sql.NullString{String: key, Valid: key != ""}, sqlitedb.FormatTime(now), sqlitedb.FormatTime(confirm))
		d, err := s.scanDoc(row, false)
		if err != nil {
			return 0, envelope{}, false, err
		}
		return http.StatusCreated, envelope{Code: true, Error: []string{},
			Description: []string{"Document accepted; it is written to the health record system shortly. Check its status."},
			Data:        toBody(d)}, true, nil
	})
}

func nullInt(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: n != 0} }

// idempotent runs a write under the request's Idempotency-Key: a key already answered is replayed;
// otherwise do runs in one transaction with the recording of its answer and effect.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, tx *sql.Tx) (int, envelope, bool, error)) {
	ctx := r.Context()
	c, replay, err := s.keys.Begin(ctx, r.Header.Get("Idempotency-Key"), r.Method+" "+r.URL.Path)
	switch {
	case errors.Is(err, ehrkit.ErrKeyTooLong), errors.Is(err, ehrkit.ErrKeyReused):
		writeError(w, http.StatusBadRequest, "Idempotency-Key: "+err.Error()+".")
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
		st, e, effect, err := do(ctx, tx)
		if err != nil {
			return err
		}
		if body, err = marshal(e); err != nil {
			return err
		}
		status = st
		return c.Record(ctx, tx, st, body, effect)
	})
	if err != nil {
		s.internal(w, "write the document", err)
		return
	}
	writeRaw(w, status, body)
}

func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request, loc int64) {
	patient, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Patient %q was not found at this location.", r.PathValue("id")))
		return
	}
	var found bool
	if err := s.db.QueryRowContext(r.Context(), `SELECT EXISTS (SELECT 1 FROM patients WHERE id = ? AND location_id = ?)`, patient, loc).Scan(&found); err != nil {
		s.internal(w, "look up the patient", err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Patient %d was not found at location %d.", patient, loc))
		return
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT `+docColumns+` FROM documents WHERE patient_id = ? AND location_id = ? ORDER BY id`, patient, loc)
	if err != nil {
		s.internal(w, "list documents", err)
		return
	}
	defer rows.Close()
	out := []documentBody{}
	for rows.Next() {
		d, err := s.scanDoc(rows, false)
		if err != nil {
			s.internal(w, "list documents", err)
			return
		}
		out = append(out, toBody(d))
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list documents", err)
		return
	}
	n := len(out)
	writeData(w, http.StatusOK, "Documents", out, &n)
}

// getDocument is GET /patients/{id}/documents/{document_id}: how a client learns that an accepted
// write was confirmed (status completed) or rejected (failed).
func (s *Server) getDocument(w http.ResponseWriter, r *http.Request, loc int64) {
	patient, err1 := strconv.ParseInt(r.PathValue("id"), 10, 64)
	doc, err2 := strconv.ParseInt(r.PathValue("document_id"), 10, 64)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusNotFound, "No such document for this patient at this location.")
		return
	}
	d, err := s.scanDoc(s.db.QueryRowContext(r.Context(), `SELECT `+docColumns+` FROM documents WHERE id = ? AND patient_id = ? AND location_id = ?`,
		doc, patient, loc), false)
	if errors.Is(err, sql.ErrNoRows) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Document %d was not found for patient %d at location %d.", doc, patient, loc))
		return
	}
	if err != nil {
		s.internal(w, "read the document", err)
		return
	}
	writeData(w, http.StatusOK, "Document", toBody(d), nil)
}

type emrBody struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type locationBody struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type syncStatusBody struct {
	InstitutionID  int64          `json:"institution_id"`
	SyncSourceType string         `json:"sync_source_type"`
	SyncSourceName string         `json:"sync_source_name"`
	EMR            emrBody        `json:"emr"`
	ReadStatus     string         `json:"read_status"`
	ReadStatusAt   string         `json:"read_status_at"`
	WriteStatus    string         `json:"write_status"`
	WriteStatusAt  string         `json:"write_status_at"`
	Locations      []locationBody `json:"locations"`
}

// syncStatus is GET /sync_status. A green service reports now (its heartbeat is continuous); a red
// one the moment it went down, so the gap shows how stale the data are.
func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request, loc int64) {
	now := s.now()
	s.mu.Lock()
	readDown, writeDown := s.readDownSince, s.writeDownSince
	s.mu.Unlock()
	status := func(down time.Time) (string, string) {
		if down.IsZero() {
			return "green", sqlitedb.FormatTime(now)
		}
		return "red", sqlitedb.FormatTime(down)
	}
	b := syncStatusBody{InstitutionID: institutionID, SyncSourceType: "DataSource", SyncSourceName: "Riverside sandbox server",
		EMR: emrBody{ID: 11, Name: "sandbox_ehr"}}
	b.ReadStatus, b.ReadStatusAt = status(readDown)
	b.WriteStatus, b.WriteStatusAt = status(writeDown)
	for _, l := range locations {
		b.Locations = append(b.Locations, locationBody{l.id, l.name})
	}
	n := 1
	writeData(w, http.StatusOK, "Sync status", []syncStatusBody{b}, &n)
}

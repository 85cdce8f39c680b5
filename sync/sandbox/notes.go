package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

const (
	// audioRetention is how long an uploaded recording is kept (the note's audio.expires_at).
	audioRetention = 30 * 24 * time.Hour
	// audioURLTTL is how long a signed audio URL works.
	audioURLTTL = time.Hour
)

type templateBody struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Sections    []string `json:"sections"`
}

func loadTemplate(ctx context.Context, q querier, id int64) (templateBody, error) {
	var t templateBody
	var sections string
	err := q.QueryRowContext(ctx, `SELECT id, name, description, sections FROM templates WHERE id = ?`, id).
		Scan(&t.ID, &t.Name, &t.Description, &sections)
	if errors.Is(err, sql.ErrNoRows) {
		return t, errNotFound
	}
	if err != nil {
		return t, fmt.Errorf("load template %d: %w", id, err)
	}
	if err := json.Unmarshal([]byte(sections), &t.Sections); err != nil {
		return t, fmt.Errorf("load template %d sections: %w", id, err)
	}
	return t, nil
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request, _ principal) {
	rows, err := s.db.QueryContext(r.Context(), `SELECT id FROM templates ORDER BY id`)
	if err != nil {
		s.internal(w, "list templates", err)
		return
	}
	ids, err := scanIDs(rows)
	if err != nil {
		s.internal(w, "list templates", err)
		return
	}
	list := make([]templateBody, 0, len(ids))
	for _, id := range ids {
		t, err := loadTemplate(r.Context(), s.db, id)
		if err != nil {
			s.internal(w, "load template", err)
			return
		}
		list = append(list, t)
	}
	writeJSON(w, http.StatusOK, struct {
		Data []templateBody `json:"data"`
	}{list})
}

type audioBody struct {
	Duration   *float64 `json:"duration,omitempty"` // seconds; known once transcribed
	Bitrate    *int64   `json:"bitrate,omitempty"`
	Size       int64    `json:"size"`
	UploadedAt string   `json:"uploaded_at"`
	ExpiresAt  string   `json:"expires_at"`
	FileURL    string   `json:"file_url"`
}

type noteHas struct {
	Content       bool `json:"content"`
	Transcription bool `json:"transcription"`
	Signed        bool `json:"signed"`
}

type noteBody struct {
	ID                       int64         `json:"id"`
	Name                     string        `json:"name"`
	Transcription            *string       `json:"transcription"`
	Analysis                 *string       `json:"analysis"`
	Template                 *templateBody `json:"template"`
	Patient                  *patientBody  `json:"patient"`
	Audio                    *audioBody    `json:"audio"`
	Has                      noteHas       `json:"has"`
	TeamID                   int64         `json:"team_id"`
	UserID                   int64         `json:"user_id"`
	User                     *userBody     `json:"user"`
	Codes                    codes         `json:"codes"`
	Screeners                []screener    `json:"screeners"`
	TranscriptionStartedAt   *string       `json:"transcription_started_at"`
	TranscriptionCompletedAt *string       `json:"transcription_completed_at"`
	AnalysisStartedAt        *string       `json:"analysis_started_at"`
	AnalysisCompletedAt      *string       `json:"analysis_completed_at"`
	ErrorState               *string       `json:"error_state"`
	CreatedAt                string        `json:"created_at"`
	UpdatedAt                string        `json:"updated_at"`
}

// processing reports whether the pipeline still owns the note (neither drafted nor failed).
func (n *noteBody) processing() bool { return n.AnalysisCompletedAt == nil && n.ErrorState == nil }

// loadNote reads one of the team's notes. origin ("http://host") makes the audio file URL absolute.
func (s *Server) loadNote(ctx context.Context, q querier, teamID, id int64, origin string) (noteBody, error) {
	var n noteBody
	var patientID sql.NullInt64
	var templateID int64
	var transcription, analysis, codesJSON, screenersJSON, audioFile, audioUploaded, audioExpires, signed sql.NullString
	var audioSize sql.NullInt64
	var audioDuration sql.NullFloat64
	var ts [4]sql.NullString
	var errState sql.NullString
	err := q.QueryRowContext(ctx, `
		SELECT id, name, transcription, analysis, template_id, patient_id, team_id, user_id, codes, screeners,
			audio_file, audio_size, audio_duration, audio_uploaded_at, audio_expires_at, signed_at,
			transcription_started_at, transcription_completed_at, analysis_started_at, analysis_completed_at,
			error_state, created_at, updated_at
		FROM progress_notes WHERE id = ? AND team_id = ?`, id, teamID).Scan(
		&n.ID, &n.Name, &transcription, &analysis, &templateID, &patientID, &n.TeamID, &n.UserID, &codesJSON, &screenersJSON,
		&audioFile, &audioSize, &audioDuration, &audioUploaded, &audioExpires, &signed,
		&ts[0], &ts[1], &ts[2], &ts[3], &errState, &n.CreatedAt, &n.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return n, errNotFound
	}
	if err != nil {
		return n, fmt.Errorf("load note: %w", err)
	}
	n.Transcription, n.Analysis = strPtr(transcription), strPtr(analysis)
	n.TranscriptionStartedAt, n.TranscriptionCompletedAt = strPtr(ts[0]), strPtr(ts[1])
	n.AnalysisStartedAt, n.AnalysisCompletedAt = strPtr(ts[2]), strPtr(ts[3])
	n.ErrorState = strPtr(errState)
	n.Has = noteHas{
		Content:       analysis.String != "",
		Transcription: transcription.String != "",
		Signed:        signed.Valid,
	}
	n.Codes = codes{ICD10: []code{}, CPT: []code{}}
	if codesJSON.Valid {
		if err := json.Unmarshal([]byte(codesJSON.String), &n.Codes); err != nil {
			return n, fmt.Errorf("load note codes: %w", err)
		}
	}
	n.Screeners = []screener{}
	if screenersJSON.Valid {
		if err := json.Unmarshal([]byte(screenersJSON.String), &n.Screeners); err != nil {
			return n, fmt.Errorf("load note screeners: %w", err)
		}
	}
	t, err := loadTemplate(ctx, q, templateID)
	if err != nil {
		return n, err
	}
	n.Template = &t
	if patientID.Valid {
		p, err := loadPatient(ctx, q, teamID, patientID.Int64)
		if err != nil {
			return n, err
		}
		n.Patient = &p
	}
	u, err := loadUser(ctx, q, n.UserID)
	if err != nil {
		return n, err
	}
	n.User = &u
	if audioFile.Valid {
		a := &audioBody{
			Size:       audioSize.Int64,
			UploadedAt: audioUploaded.String,
			ExpiresAt:  audioExpires.String,
			FileURL:    s.signedAudioURL(origin, n.ID),
		}
		if audioDuration.Valid && audioDuration.Float64 > 0 {
			d := audioDuration.Float64
			bitrate := int64(float64(audioSize.Int64) * 8 / d)
			a.Duration, a.Bitrate = &d, &bitrate
		}
		n.Audio = a
	}
	return n, nil
}

func origin(r *http.Request) string { return requestScheme(r) + "://" + r.Host }

// noteOr404 loads the note named by the path, answering 404 (or 500) itself when it cannot.
func (s *Server) noteOr404(w http.ResponseWriter, r *http.Request, p principal) (noteBody, bool) {
	id, ok := pathID(w, r, "Progress note")
	if !ok {
		return noteBody{}, false
	}
	n, err := s.loadNote(r.Context(), s.db, p.teamID, id, origin(r))
	if errors.Is(err, errNotFound) {
		writeMessage(w, http.StatusNotFound, "Progress note not found.")
		return n, false
	}
	if err != nil {
		s.internal(w, "load note", err)
		return n, false
	}
	return n, true
}

func (s *Server) listNotes(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	var errs fieldErrors
	pr := parsePage(q, &errs)
	var patientID int64
	if raw := q.Get("patient_id"); raw != "" {
		var err error
		if patientID, err = strconv.ParseInt(raw, 10, 64); err != nil {
			errs.add("patient_id", "The patient id field must be an integer.")
		}
	}
	order := "DESC"
	switch q.Get("sort_by") {
	case "", "latest":
	case "oldest":
		order = "ASC"
	default:
		errs.add("sort_by", "The selected sort by is invalid; use latest or oldest.")
	}
	if !errs.empty() {
		errs.write(w)
		return
	}
	where, args := "team_id = ?", []any{p.teamID}
	if q.Get("patient_id") != "" {
		where += " AND patient_id = ?"
		args = append(args, patientID)
	}
	ctx := r.Context()
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM progress_notes WHERE "+where, args...).Scan(&total); err != nil {
		s.internal(w, "count notes", err)
		return
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM progress_notes WHERE "+where+
		" ORDER BY created_at "+order+", id "+order+" LIMIT ? OFFSET ?", append(args, pr.perPage, pr.offset())...)
	if err != nil {
		s.internal(w, "list notes", err)
		return
	}
	ids, err := scanIDs(rows)
	if err != nil {
		s.internal(w, "list notes", err)
		return
	}
	items := make([]noteBody, 0, len(ids))
	for _, id := range ids {
		n, err := s.loadNote(ctx, s.db, p.teamID, id, origin(r))
		if errors.Is(err, errNotFound) {
			continue // deleted between the two queries
		}
		if err != nil {
			s.internal(w, "load note", err)
			return
		}
		items = append(items, n)
	}
	writeJSON(w, http.StatusOK, paginate(r, pr, total, items))
}

func (s *Server) getNote(w http.ResponseWriter, r *http.Request, p principal) {
	if n, ok := s.noteOr404(w, r, p); ok {
		writeJSON(w, http.StatusOK, n)
	}
}

// noteUpload is a parsed create-note form.
type noteUpload struct {
	fields    map[string]string
	documents []string
	// file is the uploaded audio, already in the audio folder under a random name; "" when none.
	file        string
	fileSize    int64
	contentType string
	fileParts   int
}

// readNoteForm streams a multipart create-note form: text fields into memory (bounded), the audio
// straight into the audio folder, so a large recording never sits in memory or in /tmp.
func (s *Server) readNoteForm(ctx context.Context, mr *multipart.Reader) (noteUpload, *fieldErrors, error) {
	up := noteUpload{fields: map[string]string{}}
	var errs fieldErrors
	for {
		if err := ctx.Err(); err != nil {
			return up, nil, err
		}
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return up, &errs, nil
		}
		if err != nil {
			return up, nil, fmt.Errorf("read form: %w", err)
		}
		name := part.FormName()
		switch {
		case name == "file":
			up.fileParts++
			if up.fileParts > 1 {
				_, _ = io.Copy(io.Discard, part)
				continue
			}
			if err := s.saveUpload(part, &up); err != nil {
				return up, nil, err
			}
		case name == "documents" || strings.HasPrefix(name, "documents["):
			v, err := readField(part)
			if err != nil {
				return up, nil, err
			}
			up.documents = append(up.documents, v)
		case name == "name" || name == "note" || name == "context" || name == "patient_id" || name == "model_id":
			v, err := readField(part)
			if errors.Is(err, errFieldTooLong) {
				errs.add(name, fmt.Sprintf("The %s field must not be greater than %d bytes.", label(name), maxTextField))
				continue
			}
			if err != nil {
				return up, nil, err
			}
			up.fields[name] = v
		default:
			_, _ = io.Copy(io.Discard, part) // unknown fields are ignored, as the API does
		}
	}
}

var errFieldTooLong = errors.New("form field too long")

func readField(part *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxTextField+1))
	if err != nil {
		return "", fmt.Errorf("read form field: %w", err)
	}
	if len(b) > maxTextField {
		_, _ = io.Copy(io.Discard, part)
		return "", errFieldTooLong
	}
	return string(b), nil
}

// saveUpload writes the file part to a new 0600 file in the audio folder and syncs it, so the
// database never names audio that is not on disk.
func (s *Server) saveUpload(part *multipart.Part, up *noteUpload) error {
	f, err := os.CreateTemp(s.audioDir, "audio-*") // CreateTemp makes the file 0600
	if err != nil {
		return fmt.Errorf("store audio: %w", err)
	}
	head := make([]byte, 512)
	hn, _ := io.ReadFull(part, head)
	head = head[:hn]
	n, err := io.Copy(f, io.MultiReader(bytes.NewReader(head), part))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("store audio: %w", err)
	}
	up.file, up.fileSize, up.contentType = filepath.Base(f.Name()), n, sniffAudio(head)
	return nil
}

// sniffAudio names the audio format from the file's first bytes.
func sniffAudio(head []byte) string {
	switch {
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return "audio/wav"
	case len(head) >= 4 && string(head[0:4]) == "fLaC":
		return "audio/flac"
	case len(head) >= 4 && string(head[0:4]) == "OggS":
		return "audio/ogg"
	case len(head) >= 3 && string(head[0:3]) == "ID3", len(head) >= 2 && head[0] == 0xFF && head[1]&0xE0 == 0xE0:
		return "audio/mpeg"
	}
	return http.DetectContentType(head)
}

func (s *Server) removeAudio(file string) {
	if file == "" {
		return
	}
	if err := os.Remove(filepath.Join(s.audioDir, file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("remove audio file", "err", err)
	}
}

// createNote accepts a multipart form with name and either an audio file or the note text, and hands
// the note to the pipeline: POST /v1/progress-notes.
func (s *Server) createNote(w http.ResponseWriter, r *http.Request, p principal) {
	c, ok := s.beginIdempotent(w, r, p)
	if !ok {
		return
	}
	ctx := r.Context()
	defer c.release(ctx)
	if !s.limitUpload(w, r) {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeMessage(w, http.StatusUnsupportedMediaType, "Send the note as multipart/form-data: a name and either an audio file (file) or the note text (note).")
		return
	}
	up, errs, err := s.readNoteForm(ctx, mr)
	keep := false
	defer func() {
		if !keep {
			s.removeAudio(up.file)
		}
	}()
	if err != nil {
		if ctx.Err() == nil {
			s.uploadFailed(w, err)
		}
		return
	}
	in, err := s.validateNote(ctx, p, up, errs)
	if err != nil {
		s.internal(w, "validate note", err)
		return
	}
	if !errs.empty() {
		s.reply(ctx, w, c, http.StatusUnprocessableEntity, errs.body())
		return
	}
	now := s.now()
	var body []byte
	err = sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var uploaded, expires, contentType any
		var file, size any
		if up.file != "" {
			uploaded, expires = sqlitedb.FormatTime(now), sqlitedb.FormatTime(now.Add(audioRetention))
			file, size, contentType = up.file, up.fileSize, up.contentType
		}
		docs, err := json.Marshal(in.documents)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO progress_notes (team_id, user_id, patient_id, template_id, name, source_text, context, documents,
				audio_file, audio_content_type, audio_size, audio_uploaded_at, audio_expires_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.teamID, p.userID, in.patientID, in.templateID, in.name, nullString(in.note), nullString(in.context), string(docs),
			file, contentType, size, uploaded, expires, sqlitedb.FormatTime(now), sqlitedb.FormatTime(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		n, err := s.loadNote(ctx, tx, p.teamID, id, origin(r))
		if err != nil {
			return err
		}
		if body, err = marshal(n); err != nil {
			return err
		}
		return c.record(ctx, tx, http.StatusCreated, body, true)
	})
	if err != nil {
		s.internal(w, "create note", err)
		return
	}
	keep = true
	s.pipe.wake()
	writeRaw(w, http.StatusCreated, body)
}

type noteInput struct {
	name, note, context string
	patientID           sql.NullInt64
	templateID          int64
	documents           []int64
}

// validateNote checks the form, adding what is wrong with it to errs; it fails only when a lookup
// fails.
func (s *Server) validateNote(ctx context.Context, p principal, up noteUpload, errs *fieldErrors) (noteInput, error) {
	in := noteInput{
		name:       strings.TrimSpace(up.fields["name"]),
		note:       strings.TrimSpace(up.fields["note"]),
		context:    strings.TrimSpace(up.fields["context"]),
		templateID: 1,
		documents:  []int64{},
	}
	switch {
	case errs.has("name"):
	case in.name == "":
		errs.add("name", required("name"))
	default:
		checkLen(errs, "name", in.name, maxNameLen)
	}
	_, hasNote := up.fields["note"]
	switch {
	case up.fileParts > 1:
		errs.add("file", "Send one audio file per note.")
	case up.file != "" && hasNote:
		errs.add("note", "The note field is prohibited when file is present; send either an audio file or the note text.")
	case up.file != "" && up.fileSize == 0:
		errs.add("file", "The file field must not be empty; send the recording.")
	case up.file == "" && in.note == "" && !errs.has("note"):
		errs.add("file", "The file field is required when note is not present.")
		errs.add("note", "The note field is required when file is not present.")
	}
	if raw := strings.TrimSpace(up.fields["patient_id"]); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			errs.add("patient_id", "The patient id field must be an integer.")
		} else {
			var exists bool
			if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM patients WHERE id = ? AND team_id = ?)`, id, p.teamID).Scan(&exists); err != nil {
				return in, fmt.Errorf("look up patient: %w", err)
			}
			if !exists {
				errs.add("patient_id", "The selected patient id is invalid: no such patient in your team.")
			}
			in.patientID = sql.NullInt64{Int64: id, Valid: true}
		}
	}
	if raw := strings.TrimSpace(up.fields["model_id"]); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			errs.add("model_id", "The model id field must be an integer.")
		} else {
			in.templateID = id
		}
	}
	if !errs.has("model_id") {
		var exists bool
		if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM templates WHERE id = ?)`, in.templateID).Scan(&exists); err != nil {
			return in, fmt.Errorf("look up template: %w", err)
		}
		if !exists {
			errs.add("model_id", "The selected model id is invalid; GET /v1/templates lists the ids.")
		}
	}
	for _, d := range up.documents {
		id, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
		if err != nil || id < 0 {
			errs.add("documents", "Each documents entry must be a document id (a whole number).")
			break
		}
		in.documents = append(in.documents, id)
	}
	return in, nil
}

// updateNote edits name, transcription and analysis: PUT /v1/progress-notes/{id}.
func (s *Server) updateNote(w http.ResponseWriter, r *http.Request, p principal) {
	in, ok := readJSON(w, r)
	if !ok {
		return
	}
	n, ok := s.noteOr404(w, r, p)
	if !ok {
		return
	}
	var errs fieldErrors
	name, hasName, nameNull := in.str("name", &errs)
	transcription, hasTranscription, _ := in.str("transcription", &errs)
	analysis, hasAnalysis, _ := in.str("analysis", &errs)
	name = strings.TrimSpace(name)
	if hasName && (nameNull || name == "") {
		errs.add("name", required("name"))
	}
	checkLen(&errs, "name", name, maxNameLen)
	switch {
	case !errs.empty():
	case n.Has.Signed:
		errs.add("note", "Unsign the note before editing it.")
	case n.processing():
		errs.add("note", "The note is still being processed; edit it once analysis_completed_at or error_state is set.")
	}
	if !errs.empty() {
		errs.write(w)
		return
	}
	ctx := r.Context()
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		// Signed and processing are checked again under the write lock.
		res, err := tx.ExecContext(ctx, `
			UPDATE progress_notes SET
				name = CASE WHEN ?1 THEN ?2 ELSE name END,
				transcription = CASE WHEN ?3 THEN ?4 ELSE transcription END,
				analysis = CASE WHEN ?5 THEN ?6 ELSE analysis END,
				updated_at = ?7
			WHERE id = ?8 AND signed_at IS NULL AND (analysis_completed_at IS NOT NULL OR error_state IS NOT NULL)`,
			hasName, name, hasTranscription, nullString(transcription), hasAnalysis, nullString(analysis),
			sqlitedb.FormatTime(s.now()), n.ID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return errNoteChanged
		}
		return nil
	})
	if errors.Is(err, errNoteChanged) {
		invalid(w, "note", "The note was signed or changed meanwhile; reload it and try again.")
		return
	}
	if err != nil {
		s.internal(w, "update note", err)
		return
	}
	s.getNote(w, r, p)
}

var errNoteChanged = errors.New("note changed concurrently")

func (s *Server) deleteNote(w http.ResponseWriter, r *http.Request, p principal) {
	id, ok := pathID(w, r, "Progress note")
	if !ok {
		return
	}
	var file sql.NullString
	err := s.db.QueryRowContext(r.Context(), `DELETE FROM progress_notes WHERE id = ? AND team_id = ? RETURNING audio_file`, id, p.teamID).Scan(&file)
	if errors.Is(err, sql.ErrNoRows) {
		writeMessage(w, http.StatusNotFound, "Progress note not found.")
		return
	}
	if err != nil {
		s.internal(w, "delete note", err)
		return
	}
	s.removeAudio(file.String)
	writeMessage(w, http.StatusOK, "Progress note deleted successfully")
}

// signNote marks a drafted note signed. Signing a signed note changes nothing (a retried sign is safe).
func (s *Server) signNote(w http.ResponseWriter, r *http.Request, p principal) {
	n, ok := s.noteOr404(w, r, p)
	if !ok {
		return
	}
	switch {
	case n.Has.Signed:
		writeJSON(w, http.StatusOK, n)
		return
	case n.processing():
		invalid(w, "note", "The note is still being processed; sign it once analysis_completed_at is set.")
		return
	case !n.Has.Content:
		invalid(w, "analysis", "There is nothing to sign: the note's analysis is empty. Write it (PUT) first.")
		return
	}
	s.setSigned(w, r, p, n.ID, true)
}

// unsignNote withdraws the signature. Unsigning an unsigned note changes nothing.
func (s *Server) unsignNote(w http.ResponseWriter, r *http.Request, p principal) {
	n, ok := s.noteOr404(w, r, p)
	if !ok {
		return
	}
	if !n.Has.Signed {
		writeJSON(w, http.StatusOK, n)
		return
	}
	s.setSigned(w, r, p, n.ID, false)
}

func (s *Server) setSigned(w http.ResponseWriter, r *http.Request, p principal, id int64, sign bool) {
	now := sqlitedb.FormatTime(s.now())
	var signedAt any
	if sign {
		signedAt = now
	}
	if _, err := s.db.ExecContext(r.Context(), `UPDATE progress_notes SET signed_at = ?, updated_at = ? WHERE id = ? AND team_id = ?`,
		signedAt, now, id, p.teamID); err != nil {
		s.internal(w, "sign note", err)
		return
	}
	s.getNote(w, r, p)
}

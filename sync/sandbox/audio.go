package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

// audioSignature is the HMAC that makes an audio URL valid for one note until one moment.
func (s *Server) audioSignature(id, expires int64) []byte {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "audio/%d/%d", id, expires)
	return m.Sum(nil)
}

// signedAudioURL returns a URL that serves the note's audio without a bearer token for audioURLTTL.
func (s *Server) signedAudioURL(origin string, id int64) string {
	expires := s.now().Add(audioURLTTL).Unix()
	q := url.Values{}
	q.Set("expires", strconv.FormatInt(expires, 10))
	q.Set("signature", hex.EncodeToString(s.audioSignature(id, expires)))
	return fmt.Sprintf("%s/api/files/audio/%d?%s", origin, id, q.Encode())
}

// noteAudioURL answers GET /v1/progress-notes/{id}/audio-url with a fresh signed URL.
func (s *Server) noteAudioURL(w http.ResponseWriter, r *http.Request, p principal) {
	n, ok := s.noteOr404(w, r, p)
	if !ok {
		return
	}
	if n.Audio == nil {
		writeMessage(w, http.StatusNotFound, "This progress note has no audio: it was created from text.")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		URL string `json:"url"`
	}{n.Audio.FileURL})
}

// serveAudio serves a note's recording to whoever holds a valid signed URL (no bearer token, like a
// storage bucket's presigned link): GET /api/files/audio/{id}?expires=…&signature=….
func (s *Server) serveAudio(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeMessage(w, http.StatusNotFound, "Audio not found.")
		return
	}
	q := r.URL.Query()
	expires, err1 := strconv.ParseInt(q.Get("expires"), 10, 64)
	sig, err2 := hex.DecodeString(q.Get("signature"))
	if err1 != nil || err2 != nil || !hmac.Equal(sig, s.audioSignature(id, expires)) {
		writeMessage(w, http.StatusForbidden, "Invalid signature. Ask for a new link: GET /v1/progress-notes/{id}/audio-url.")
		return
	}
	if !s.now().Before(time.Unix(expires, 0)) {
		writeMessage(w, http.StatusForbidden, "This link has expired. Ask for a new one: GET /v1/progress-notes/{id}/audio-url.")
		return
	}
	var file, contentType sql.NullString
	var uploaded string
	err = s.db.QueryRowContext(r.Context(), `SELECT audio_file, audio_content_type, COALESCE(audio_uploaded_at, created_at) FROM progress_notes WHERE id = ?`, id).
		Scan(&file, &contentType, &uploaded)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !file.Valid) {
		writeMessage(w, http.StatusNotFound, "Audio not found: the note or its recording was deleted.")
		return
	}
	if err != nil {
		s.internal(w, "look up audio", err)
		return
	}
	f, err := os.Open(filepath.Join(s.audioDir, file.String))
	if errors.Is(err, os.ErrNotExist) {
		writeMessage(w, http.StatusNotFound, "Audio not found: the recording is no longer stored.")
		return
	}
	if err != nil {
		s.internal(w, "open audio", err)
		return
	}
	defer f.Close()
	modTime, _ := sqlitedb.ParseTime(uploaded)
	if contentType.Valid {
		w.Header().Set("Content-Type", contentType.String)
	}
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", modTime, f)
}

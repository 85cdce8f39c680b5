package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
	"github.com/nextvisit/scribe/sync/sandbox/live"
	"github.com/nextvisit/scribe/sync/sandbox/recognize"
)

const (
	defaultStreamTokenTTL = 60 * time.Second
	maxStreamTokenTTL     = 600 * time.Second
	// MaxSessionDuration caps one live transcription session.
	MaxSessionDuration = time.Hour
)

type wordBody struct {
	Text       string  `json:"text"`
	Start      int64   `json:"start"` // ms
	End        int64   `json:"end"`   // ms
	Confidence float64 `json:"confidence"`
}

type transcriptionBody struct {
	Text     string     `json:"text"`
	Words    []wordBody `json:"words"`
	Duration float64    `json:"duration"` // seconds
}

func transcriptionFrom(res recognize.Result) transcriptionBody {
	t := transcriptionBody{Text: res.Text, Words: make([]wordBody, 0, len(res.Words)), Duration: res.Duration.Seconds()}
	for _, w := range res.Words {
		t.Words = append(t.Words, wordBody{Text: w.Text, Start: w.Start.Milliseconds(), End: w.End.Milliseconds(), Confidence: round2(w.Confidence)})
	}
	return t
}

// transcribe recognizes one uploaded WAV or FLAC file: POST /v1/transcriptions (multipart, file).
func (s *Server) transcribe(w http.ResponseWriter, r *http.Request, p principal) {
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
		writeMessage(w, http.StatusUnsupportedMediaType, "Send the audio as multipart/form-data with the recording in the file field.")
		return
	}
	var pcm []int16
	found := false
	for !found {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.uploadFailed(w, err)
			return
		}
		if part.FormName() != "file" {
			_, _ = io.Copy(io.Discard, part)
			continue
		}
		found = true
		body := &countingReader{r: part}
		pcm, err = recognize.DecodeAudio(body, maxAudioDuration)
		s.live.AddAudioBytes(body.n)
		if errors.Is(err, recognize.ErrAudioFormat) {
			s.reply(ctx, w, c, http.StatusUnprocessableEntity, oneError("file", "The file could not be read as audio: "+err.Error()))
			return
		}
		if err != nil {
			s.uploadFailed(w, err)
			return
		}
	}
	if !found {
		s.reply(ctx, w, c, http.StatusUnprocessableEntity, oneError("file", required("file")))
		return
	}
	res, err := s.rec.Transcribe(ctx, pcm)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if re, ok := errors.AsType[*recognize.RemoteError](err); ok {
			s.log.Warn("recognizer failed", "status", re.Status)
			writeMessage(w, http.StatusBadGateway, "The transcription server behind the sandbox failed: "+re.Error())
			return
		}
		s.internal(w, "transcribe", err)
		return
	}
	body, err := marshal(transcriptionFrom(res))
	if err != nil {
		s.internal(w, "encode transcription", err)
		return
	}
	err = sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO transcription_usage (user_id, source, duration, created_at) VALUES (?, 'file', ?, ?)`,
			p.userID, res.Duration.Seconds(), sqlitedb.FormatTime(s.now())); err != nil {
			return err
		}
		return c.record(ctx, tx, http.StatusOK, body, true)
	})
	if err != nil {
		s.internal(w, "record transcription", err)
		return
	}
	writeRaw(w, http.StatusOK, body)
}

func oneError(field, msg string) validationBody {
	var e fieldErrors
	e.add(field, msg)
	return e.body()
}

// limitUpload bounds an upload's body, refusing at once one that declares a larger size; it reports
// whether the request may go on.
func (s *Server) limitUpload(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > s.maxUpload {
		s.uploadTooLarge(w)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxUpload)
	return true
}

func (s *Server) uploadTooLarge(w http.ResponseWriter) {
	writeMessage(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The upload is larger than %d MB; split the recording or compress it (FLAC).", s.maxUpload>>20))
}

// uploadFailed answers a body that could not be read: too large, or cut off.
func (s *Server) uploadFailed(w http.ResponseWriter, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		s.uploadTooLarge(w)
		return
	}
	writeMessage(w, http.StatusBadRequest, "The multipart form could not be read: "+err.Error()+".")
}

type streamingTokenBody struct {
	Token                     string `json:"token"`
	ExpiresInSeconds          int64  `json:"expires_in_seconds"`
	URL                       string `json:"url"`
	MaxSessionDurationSeconds int64  `json:"max_session_duration_seconds"`
}

// createStreamingToken mints a single-use token for one live session: POST /v1/transcription/token.
func (s *Server) createStreamingToken(w http.ResponseWriter, r *http.Request, p principal) {
	in, ok := readJSON(w, r)
	if !ok {
		return
	}
	var errs fieldErrors
	ttl := defaultStreamTokenTTL
	if n, present := in.integer("expires_in_seconds", &errs); present {
		if n < 1 || n > int64(maxStreamTokenTTL/time.Second) {
			errs.add("expires_in_seconds", fmt.Sprintf("The expires in seconds field must be between 1 and %d.", int64(maxStreamTokenTTL/time.Second)))
		}
		ttl = time.Duration(n) * time.Second
	}
	if !errs.empty() {
		errs.write(w)
		return
	}
	token := newToken("nvst_")
	now := s.now()
	// The fault, if on, expires the token earlier than the lifetime announced below.
	expires := now.Add(s.faults.streamTTL(ttl))
	if _, err := s.db.ExecContext(r.Context(), `INSERT INTO streaming_tokens (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		p.userID, hashToken(token), sqlitedb.FormatTime(now), sqlitedb.FormatTime(expires)); err != nil {
		s.internal(w, "store streaming token", err)
		return
	}
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: "/api/v1/transcription/stream"}
	writeJSON(w, http.StatusCreated, streamingTokenBody{
		Token:                     token,
		ExpiresInSeconds:          int64(ttl / time.Second),
		URL:                       u.String(),
		MaxSessionDurationSeconds: int64(MaxSessionDuration / time.Second),
	})
}

// redeemStreamingToken spends a streaming token; it fails with live.ErrTokenUnknown, ErrTokenUsed or
// ErrTokenExpired. The check and the marking are one statement, so of two concurrent redemptions exactly
// one wins.
func (s *Server) redeemStreamingToken(ctx context.Context, token string) (userID int64, err error) {
	now := sqlitedb.FormatTime(s.now())
	h := hashToken(token)
	err = s.db.QueryRowContext(ctx, `UPDATE streaming_tokens SET used_at = ?1
		WHERE token_hash = ?2 AND used_at IS NULL AND expires_at > ?1 RETURNING user_id`, now, h).Scan(&userID)
	if err == nil {
		return userID, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("redeem streaming token: %w", err)
	}
	var used sql.NullString
	err = s.db.QueryRowContext(ctx, `SELECT used_at FROM streaming_tokens WHERE token_hash = ?`, h).Scan(&used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, live.ErrTokenUnknown
	case err != nil:
		return 0, fmt.Errorf("redeem streaming token: %w", err)
	case used.Valid:
		return 0, live.ErrTokenUsed
	default:
		return 0, live.ErrTokenExpired
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

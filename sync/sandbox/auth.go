package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
	"golang.org/x/crypto/bcrypt"
)

// passwordCost is bcrypt's cost for the sample users. The sandbox's passwords are public sample
// credentials printed at start, so a slow hash protects nothing here; the cost is the minimum so the
// project's race-enabled tests, which sign in hundreds of times, stay fast. The hash still means no
// password is ever stored in plain text.
const passwordCost = bcrypt.MinCost

// dummyHash is compared against when the email is unknown, so both failures take the same time.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), passwordCost)

// principal is the signed-in user a request acts for.
type principal struct {
	userID  int64
	teamID  int64
	tokenID int64
}

// hashToken is how tokens are stored: only their SHA-256, so a copy of the database holds no usable
// token. Tokens are 256 random bits, so a fast hash is enough.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newToken returns a fresh random token with a recognizable prefix (so secret scanners can spot it).
func newToken(prefix string) string { return prefix + rand.Text() + rand.Text() }

func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authed wraps a handler that needs a signed-in user; without a valid bearer token it answers 401.
func (s *Server) authed(fn func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token == "" {
			writeMessage(w, http.StatusUnauthorized, msgUnauthenticated)
			return
		}
		p, err := s.authenticate(r.Context(), token)
		switch {
		case errors.Is(err, errNoToken):
			writeMessage(w, http.StatusUnauthorized, msgUnauthenticated)
			return
		case err != nil:
			s.internal(w, "authenticate", err)
			return
		}
		fn(w, r, p)
	}
}

var errNoToken = errors.New("no such token, or expired")

func (s *Server) authenticate(ctx context.Context, token string) (principal, error) {
	now := sqlitedb.FormatTime(s.now())
	var p principal
	err := s.db.QueryRowContext(ctx, `
		UPDATE user_tokens SET last_used_at = ?1
		WHERE token_hash = ?2 AND expires_at > ?1
		RETURNING id, user_id, (SELECT team_id FROM users WHERE users.id = user_tokens.user_id)`,
		now, hashToken(token)).Scan(&p.tokenID, &p.userID, &p.teamID)
	if errors.Is(err, sql.ErrNoRows) {
		return principal{}, errNoToken
	}
	if err != nil {
		return principal{}, fmt.Errorf("look up token: %w", err)
	}
	return p, nil
}

// internal answers 500 and logs the cause (an error from the sandbox's own storage, never input).
func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("request failed", "step", what, "err", err)
	writeMessage(w, http.StatusInternalServerError, msgInternal)
}

type newTokenBody struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

// createToken signs in: POST /v1/tokens {email, password, device_name}.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	in, ok := readJSON(w, r)
	if !ok {
		return
	}
	var errs fieldErrors
	email, _, _ := in.str("email", &errs)
	password, _, _ := in.str("password", &errs)
	device, _, _ := in.str("device_name", &errs)
	for _, f := range []struct{ name, val string }{{"email", email}, {"password", password}, {"device_name", device}} {
		if f.val == "" && !errs.has(f.name) {
			errs.add(f.name, required(f.name))
		}
	}
	checkLen(&errs, "email", email, maxNameLen)
	checkLen(&errs, "device_name", device, maxNameLen)
	if !errs.empty() {
		errs.write(w)
		return
	}
	ctx := r.Context()
	var userID int64
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT id, password_hash FROM users WHERE email = ?`, strings.TrimSpace(email)).Scan(&userID, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		writeMessage(w, http.StatusUnauthorized, "These credentials do not match our records.")
		return
	case err != nil:
		s.internal(w, "look up user", err)
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		writeMessage(w, http.StatusUnauthorized, "These credentials do not match our records.")
		return
	}
	token := newToken("nvsb_")
	now := s.now()
	expires := now.Add(s.faults.userTTL())
	err = sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		// Expired tokens are dead weight; clear this user's at each sign-in.
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_tokens WHERE user_id = ? AND expires_at <= ?`, userID, sqlitedb.FormatTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO user_tokens (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			userID, device, hashToken(token), sqlitedb.FormatTime(now), sqlitedb.FormatTime(expires))
		return err
	})
	if err != nil {
		s.internal(w, "store token", err)
		return
	}
	writeJSON(w, http.StatusCreated, newTokenBody{Token: token, ExpiresAt: sqlitedb.FormatTime(expires)})
}

type tokenInfo struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Current    bool    `json:"current"`
	LastUsedAt *string `json:"last_used_at"`
	ExpiresAt  string  `json:"expires_at"`
	CreatedAt  string  `json:"created_at"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p principal) {
	rows, err := s.db.QueryContext(r.Context(), `
		SELECT id, name, last_used_at, expires_at, created_at FROM user_tokens
		WHERE user_id = ? AND expires_at > ? ORDER BY id`, p.userID, sqlitedb.FormatTime(s.now()))
	if err != nil {
		s.internal(w, "list tokens", err)
		return
	}
	defer rows.Close()
	list := []tokenInfo{}
	for rows.Next() {
		var t tokenInfo
		var last sql.NullString
		if err := rows.Scan(&t.ID, &t.Name, &last, &t.ExpiresAt, &t.CreatedAt); err != nil {
			s.internal(w, "list tokens", err)
			return
		}
		if last.Valid {
			t.LastUsedAt = &last.String
		}
		t.Current = t.ID == p.tokenID
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list tokens", err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Data []tokenInfo `json:"data"`
	}{list})
}

func (s *Server) revokeCurrentToken(w http.ResponseWriter, r *http.Request, p principal) {
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM user_tokens WHERE id = ?`, p.tokenID); err != nil {
		s.internal(w, "revoke token", err)
		return
	}
	writeMessage(w, http.StatusOK, "Signed out; the token is revoked.")
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p principal) {
	id, ok := pathID(w, r, "Token")
	if !ok {
		return
	}
	res, err := s.db.ExecContext(r.Context(), `DELETE FROM user_tokens WHERE id = ? AND user_id = ?`, id, p.userID)
	if err != nil {
		s.internal(w, "revoke token", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		writeMessage(w, http.StatusNotFound, "Token not found.")
		return
	}
	writeMessage(w, http.StatusOK, "The token is revoked.")
}

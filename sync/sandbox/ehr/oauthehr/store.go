package oauthehr

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

// tokenStore keeps the library's grants in SQLite. Codes, access and refresh tokens are stored only as
// SHA-256 hashes: whoever reads the file cannot use them. Expiry is kept as an absolute time on the EHR's
// clock (Config.Now); the library checks expiry against time.Now, so rows are handed back with their
// remaining life counted from time.Now, which keeps both views of "expired" the same.
type tokenStore struct{ s *Server }

var _ oauth2.TokenStore = (*tokenStore)(nil)

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// nullHash is NULL for an absent secret, so the UNIQUE columns allow many rows without one.
func nullHash(secret string) any {
	if secret == "" {
		return nil
	}
	return hashSecret(secret)
}

func (st *tokenStore) expiry(secret string, ttl time.Duration) any {
	if secret == "" || ttl <= 0 {
		return nil
	}
	return sqlitedb.FormatTime(st.s.now().Add(ttl))
}

func (st *tokenStore) Create(ctx context.Context, info oauth2.TokenInfo) error {
	if ttl := st.s.faults.accessTokenTTL(); ttl > 0 && info.GetAccess() != "" && ttl < info.GetAccessExpiresIn() {
		// Set on info itself so the token response's expires_in tells the client the shortened life.
		info.SetAccessExpiresIn(ttl)
	}
	_, err := st.s.db.ExecContext(ctx, `
		INSERT INTO oauth_tokens (client_id, user_id, scope, redirect_uri, code_challenge, code_challenge_method,
			code_hash, code_expires_at, access_hash, access_expires_at, refresh_hash, refresh_expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		info.GetClientID(), info.GetUserID(), info.GetScope(), info.GetRedirectURI(), info.GetCodeChallenge(),
		string(info.GetCodeChallengeMethod()),
		nullHash(info.GetCode()), st.expiry(info.GetCode(), info.GetCodeExpiresIn()),
		nullHash(info.GetAccess()), st.expiry(info.GetAccess(), info.GetAccessExpiresIn()),
		nullHash(info.GetRefresh()), st.expiry(info.GetRefresh(), info.GetRefreshExpiresIn()),
		sqlitedb.FormatTime(st.s.now()))
	if err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}

func (st *tokenStore) remove(ctx context.Context, column, secret string) error {
	if secret == "" {
		// The library asks to remove a refreshed grant's old access token, which this store never hands
		// back (only its hash is kept); removing the old refresh token removes the whole row instead.
		return nil
	}
	if _, err := st.s.db.ExecContext(ctx, `DELETE FROM oauth_tokens WHERE `+column+` = ?`, hashSecret(secret)); err != nil {
		return fmt.Errorf("remove token: %w", err)
	}
	return nil
}

func (st *tokenStore) RemoveByCode(ctx context.Context, code string) error {
	return st.remove(ctx, "code_hash", code)
}

func (st *tokenStore) RemoveByAccess(ctx context.Context, access string) error {
	return st.remove(ctx, "access_hash", access)
}

func (st *tokenStore) RemoveByRefresh(ctx context.Context, refresh string) error {
	return st.remove(ctx, "refresh_hash", refresh)
}

func (st *tokenStore) GetByCode(ctx context.Context, code string) (oauth2.TokenInfo, error) {
	return st.get(ctx, "code_hash", code)
}

func (st *tokenStore) GetByAccess(ctx context.Context, access string) (oauth2.TokenInfo, error) {
	return st.get(ctx, "access_hash", access)
}

func (st *tokenStore) GetByRefresh(ctx context.Context, refresh string) (oauth2.TokenInfo, error) {
	return st.get(ctx, "refresh_hash", refresh)
}

// get returns the grant whose column holds the hash of secret, or nil (the library's "not found").
// Only the secret asked for is filled in: the others are not known.
func (st *tokenStore) get(ctx context.Context, column, secret string) (oauth2.TokenInfo, error) {
	if secret == "" {
		return nil, nil
	}
	var t models.Token
	var method string
	var codeExp, accessExp, refreshExp sql.NullString
	err := st.s.db.QueryRowContext(ctx, `
		SELECT client_id, user_id, scope, redirect_uri, code_challenge, code_challenge_method,
			code_expires_at, access_expires_at, refresh_expires_at
		FROM oauth_tokens WHERE `+column+` = ?`, hashSecret(secret)).Scan(
		&t.ClientID, &t.UserID, &t.Scope, &t.RedirectURI, &t.CodeChallenge, &method, &codeExp, &accessExp, &refreshExp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	t.CodeChallengeMethod = method
	wall := time.Now()
	life := func(exp sql.NullString) (time.Time, time.Duration, error) {
		if !exp.Valid {
			return wall, 0, nil
		}
		at, err := sqlitedb.ParseTime(exp.String)
		if err != nil {
			return time.Time{}, 0, err
		}
		left := at.Sub(st.s.now())
		if left <= 0 {
			left = -time.Nanosecond // 0 would mean "never expires" to the library
		}
		return wall, left, nil
	}
	switch column {
	case "code_hash":
		t.Code = secret
		t.CodeCreateAt, t.CodeExpiresIn, err = life(codeExp)
	case "access_hash":
		t.Access = secret
		t.AccessCreateAt, t.AccessExpiresIn, err = life(accessExp)
	case "refresh_hash":
		t.Refresh = secret
		t.RefreshCreateAt, t.RefreshExpiresIn, err = life(refreshExp)
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// grant is what a valid bearer token allows.
type grant struct {
	userID   string
	clientID string
	scopes   map[string]bool
}

// errExpired says the bearer token was valid once.
var errExpired = errors.New("access token expired")

// lookupAccess checks a bearer token against the EHR's clock.
func (s *Server) lookupAccess(ctx context.Context, access string) (grant, error) {
	var g grant
	var scope string
	var exp sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT user_id, client_id, scope, access_expires_at FROM oauth_tokens WHERE access_hash = ?`,
		hashSecret(access)).Scan(&g.userID, &g.clientID, &scope, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return grant{}, errNotFound
	}
	if err != nil {
		return grant{}, fmt.Errorf("read access token: %w", err)
	}
	if exp.Valid {
		at, err := sqlitedb.ParseTime(exp.String)
		if err != nil {
			return grant{}, err
		}
		if !s.now().Before(at) {
			return grant{}, errExpired
		}
	}
	g.scopes = map[string]bool{}
	for _, sc := range splitScope(scope) {
		g.scopes[sc] = true
	}
	return g, nil
}

package oauthehr

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"golang.org/x/crypto/bcrypt"
)

func (s *Server) newOAuthServer() *server.Server {
	m := manage.NewDefaultManager()
	m.SetAuthorizeCodeExp(CodeTTL)
	m.SetAuthorizeCodeTokenCfg(&manage.Config{AccessTokenExp: AccessTokenTTL, RefreshTokenExp: RefreshTokenTTL, IsGenerateRefresh: true})
	m.SetRefreshTokenCfg(&manage.RefreshingConfig{
		AccessTokenExp: AccessTokenTTL, RefreshTokenExp: RefreshTokenTTL, IsGenerateRefresh: true,
		// Rotation: a used refresh token and the access token issued with it stop working.
		IsRemoveAccess: true, IsRemoveRefreshing: true, IsResetRefreshTime: true,
	})
	m.MapTokenStorage(&tokenStore{s: s})
	m.MapClientStorage(clientStore{})
	// Any loopback port, as RFC 8252 §7.3 asks; the library's default compares against a fixed domain.
	m.SetValidateURIHandler(func(_, redirectURI string) error {
		if err := checkRedirectURI(redirectURI); err != nil {
			return oerrors.ErrInvalidRedirectURI
		}
		return nil
	})

	srv := server.NewServer(&server.Config{
		TokenType:                   "Bearer",
		AllowedResponseTypes:        []oauth2.ResponseType{oauth2.Code},
		AllowedGrantTypes:           []oauth2.GrantType{oauth2.AuthorizationCode, oauth2.Refreshing},
		AllowedCodeChallengeMethods: []oauth2.CodeChallengeMethod{oauth2.CodeChallengeS256},
		ForcePKCE:                   true,
	}, m)
	srv.SetClientInfoHandler(server.ClientFormHandler)
	srv.SetUserAuthorizationHandler(func(_ http.ResponseWriter, r *http.Request) (string, error) {
		// Only handleConsent calls the library's authorize handler, after the admin logged in and allowed.
		id, ok := r.Context().Value(consentUserKey{}).(string)
		if !ok || id == "" {
			return "", oerrors.ErrAccessDenied
		}
		return id, nil
	})
	// A refresh may narrow the grant, never widen it.
	srv.SetRefreshingScopeHandler(func(tgr *oauth2.TokenGenerateRequest, oldScope string) (bool, error) {
		old := splitScope(oldScope)
		for _, sc := range splitScope(tgr.Scope) {
			if !slices.Contains(old, sc) {
				return false, nil
			}
		}
		return true, nil
	})
	// RFC 6749 §5.2: token errors are 400, except invalid_client (401); the library answers 401 for
	// several, which a client would take for "credentials wrong" rather than "grant unusable".
	srv.SetResponseErrorHandler(func(re *oerrors.Response) {
		if re.StatusCode > 0 && re.StatusCode < 500 && !errors.Is(re.Error, oerrors.ErrInvalidClient) {
			re.StatusCode = http.StatusBadRequest
		}
	})
	srv.SetInternalErrorHandler(func(err error) *oerrors.Response {
		s.log.Error("oauth server", "err", err)
		return nil
	})
	return srv
}

// clientStore knows the one client: Nextvisit Scribe, public (no secret; PKCE protects its codes).
type clientStore struct{}

var _ oauth2.ClientStore = clientStore{}

func (clientStore) GetByID(_ context.Context, id string) (oauth2.ClientInfo, error) {
	if id != ClientID {
		return nil, oerrors.ErrInvalidClient
	}
	return &models.Client{ID: ClientID, Public: true}, nil
}

type consentUserKey struct{}

func splitScope(scope string) []string { return strings.Fields(scope) }

var supportedScopes = []string{ScopePatientsRead, ScopeNotesWrite}

// checkRedirectURI accepts only http://127.0.0.1:{port}/callback, the loopback redirect of a native app
// (RFC 8252 §7.3): the EHR never sends a code anywhere but back to the machine that asked.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect_uri is not a URL: %w", err)
	}
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.User != nil || u.Path != "/callback" ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New("redirect_uri must be http://127.0.0.1:{port}/callback (a loopback redirect, RFC 8252)")
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 {
		return errors.New("redirect_uri must name a port: http://127.0.0.1:{port}/callback")
	}
	return nil
}

// authzError is a refused authorization request. When redirect is set, the client and redirect URI were
// valid and the error goes back to the client (RFC 6749 §4.1.2.1); otherwise the browser shows it.
type authzError struct {
	redirect    bool
	code        string
	description string
}

// checkAuthorize validates an authorization request before the admin sees any page, so a bad request
// never reaches a login form, and the pages can trust the query they carry.
func checkAuthorize(q url.Values) *authzError {
	if q.Get("client_id") != ClientID {
		return &authzError{description: fmt.Sprintf("Unknown client_id %q; the registered client is %q.", q.Get("client_id"), ClientID)}
	}
	if err := checkRedirectURI(q.Get("redirect_uri")); err != nil {
		return &authzError{description: "Invalid redirect_uri: " + err.Error() + "."}
	}
	bad := func(code, desc string) *authzError { return &authzError{redirect: true, code: code, description: desc} }
	if q.Get("response_type") != "code" {
		return bad("unsupported_response_type", "response_type must be code")
	}
	switch cc := q.Get("code_challenge"); {
	case cc == "":
		return bad("invalid_request", "code_challenge is required (PKCE with S256)")
	case q.Get("code_challenge_method") != "S256":
		return bad("invalid_request", "code_challenge_method must be S256; plain is not accepted")
	case len(cc) != 43 || strings.ContainsFunc(cc, func(r rune) bool { return !isBase64URL(r) }):
		return bad("invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)")
	}
	for _, sc := range splitScope(q.Get("scope")) {
		if !slices.Contains(supportedScopes, sc) {
			return bad("invalid_scope", fmt.Sprintf("unknown scope %q; supported: %s", sc, strings.Join(supportedScopes, " ")))
		}
	}
	return nil
}

func isBase64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// requestedScopes are the scopes asked for; none means all.
func requestedScopes(q url.Values) []string {
	if sc := splitScope(q.Get("scope")); len(sc) > 0 {
		return sc
	}
	return supportedScopes
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, q url.Values, e *authzError) {
	if !e.redirect {
		s.render(w, http.StatusBadRequest, page{Title: "Cannot authorize", Error: e.description})
		return
	}
	u, _ := url.Parse(q.Get("redirect_uri")) // checked by checkAuthorize
	v := url.Values{"error": {e.code}, "error_description": {e.description}}
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// session is a logged-in administrator in one browser.
type session struct {
	userID  string
	email   string
	csrf    string
	expires int64 // unix seconds on the EHR clock
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) cookieName() string { return strings.ToLower(s.name) + "_session" }

func (s *Server) currentSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sha256.Sum256([]byte(c.Value))
	se, ok := s.sessions[key]
	if ok && s.now().Unix() >= se.expires {
		delete(s.sessions, key)
		return session{}, false
	}
	return se, ok
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := checkAuthorize(q); e != nil {
		s.refuse(w, r, q, e)
		return
	}
	se, ok := s.currentSession(r)
	if !ok {
		s.render(w, http.StatusOK, page{Title: "Sign in", Login: true, Request: q.Encode(), SampleEmail: AdminEmail(s.name)})
		return
	}
	s.renderConsent(w, q, se)
}

func (s *Server) renderConsent(w http.ResponseWriter, q url.Values, se session) {
	var scopes []scopeItem
	for _, sc := range requestedScopes(q) {
		scopes = append(scopes, scopeItem{Name: sc, Description: scopeDescriptions[sc]})
	}
	s.render(w, http.StatusOK, page{Title: "Authorize Nextvisit", Consent: true, Request: q.Encode(), CSRF: se.csrf,
		Email: se.email, Scopes: scopes})
}

var scopeDescriptions = map[string]string{
	ScopePatientsRead: "Read your patient roster and providers",
	ScopeNotesWrite:   "Write notes into patient charts",
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, page{Title: "Sign in", Error: "The sign-in form could not be read; go back to the app and connect again."})
		return
	}
	q, err := url.ParseQuery(r.PostForm.Get("request"))
	if err != nil {
		s.render(w, http.StatusBadRequest, page{Title: "Sign in", Error: "The authorization request was damaged; go back to the app and connect again."})
		return
	}
	if e := checkAuthorize(q); e != nil {
		s.refuse(w, r, q, e)
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	var id, hash string
	err = s.db.QueryRowContext(r.Context(), `SELECT id, password_hash FROM admins WHERE email = ? COLLATE NOCASE`, email).Scan(&id, &hash)
	if err != nil || bcrypt.CompareHashAndPassword([]byte(hash), []byte(r.PostForm.Get("password"))) != nil {
		s.render(w, http.StatusUnauthorized, page{Title: "Sign in", Login: true, Request: q.Encode(), SampleEmail: AdminEmail(s.name),
			Error: "The email or password is wrong."})
		return
	}
	value := randomToken()
	s.mu.Lock()
	for k, old := range s.sessions {
		if s.now().Unix() >= old.expires {
			delete(s.sessions, k) // so abandoned sessions do not pile up
		}
	}
	s.sessions[sha256.Sum256([]byte(value))] = session{userID: id, email: email, csrf: randomToken(),
		expires: s.now().Add(sessionTTL).Unix()}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: value, Path: s.prefix + "/oauth/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, s.prefix+"/oauth/authorize?"+q.Encode(), http.StatusSeeOther)
}

func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, page{Title: "Authorize", Error: "The consent form could not be read; go back to the app and connect again."})
		return
	}
	q, err := url.ParseQuery(r.PostForm.Get("request"))
	if err != nil {
		s.render(w, http.StatusBadRequest, page{Title: "Authorize", Error: "The authorization request was damaged; go back to the app and connect again."})
		return
	}
	if e := checkAuthorize(q); e != nil {
		s.refuse(w, r, q, e)
		return
	}
	se, ok := s.currentSession(r)
	if !ok {
		s.render(w, http.StatusOK, page{Title: "Sign in", Login: true, Request: q.Encode(), SampleEmail: AdminEmail(s.name),
			Error: "Your session ended; sign in again."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(se.csrf)) != 1 {
		s.render(w, http.StatusForbidden, page{Title: "Authorize", Error: "The consent form is stale or forged; go back to the app and connect again."})
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		s.refuse(w, r, q, &authzError{redirect: true, code: "access_denied", description: "the administrator denied access"})
		return
	}
	// The admin may untick scopes: grant what was both asked for and left ticked.
	var granted []string
	for _, sc := range requestedScopes(q) {
		if slices.Contains(r.PostForm["scope"], sc) {
			granted = append(granted, sc)
		}
	}
	if len(granted) == 0 {
		s.refuse(w, r, q, &authzError{redirect: true, code: "access_denied", description: "no scope was granted"})
		return
	}
	q.Set("scope", strings.Join(granted, " "))
	ar := r.Clone(context.WithValue(r.Context(), consentUserKey{}, se.userID))
	ar.Method = http.MethodGet
	ar.URL.RawQuery = q.Encode()
	ar.Form, ar.PostForm, ar.Body = nil, nil, http.NoBody
	if err := s.oauth.HandleAuthorizeRequest(w, ar); err != nil {
		s.log.Error("authorize", "err", err)
		s.render(w, http.StatusInternalServerError, page{Title: "Authorize", Error: "The authorization failed; see the sandbox log."})
	}
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := s.oauth.HandleTokenRequest(w, r); err != nil {
		s.log.Error("token", "err", err)
		apiError(w, http.StatusInternalServerError, "server_error", "The token request failed; see the sandbox log.")
	}
}

type scopeItem struct{ Name, Description string }

type page struct {
	EHR, Title, Error, Request, CSRF, Email, SampleEmail, SamplePassword, Action string
	Login, Consent                                                               bool
	Scopes                                                                       []scopeItem
}

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · {{.EHR}} (sandbox)</title></head>
<body>
<h1>{{.EHR}} <small>(sandbox)</small></h1>
<h2>{{.Title}}</h2>
{{if .Error}}<p role="alert" class="error">{{.Error}}</p>{{end}}
{{if .Login}}
<form method="post" action="{{.Action}}/oauth/login">
<input type="hidden" name="request" value="{{.Request}}">
<label>Email <input type="email" name="email" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<p>Sample administrator: {{.SampleEmail}} / {{.SamplePassword}}</p>
{{end}}
{{if .Consent}}
<p>Signed in as {{.Email}}. <strong>Nextvisit Scribe</strong> asks to:</p>
<form method="post" action="{{.Action}}/oauth/consent">
<input type="hidden" name="request" value="{{.Request}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{range .Scopes}}<label><input type="checkbox" name="scope" value="{{.Name}}" checked> {{.Description}} ({{.Name}})</label><br>
{{end}}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
{{end}}
</body></html>
`))

func (s *Server) render(w http.ResponseWriter, status int, p page) {
	p.EHR, p.Action, p.SamplePassword = s.name, s.prefix, AdminPassword
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The pages hold a CSRF token and carry an authorization request: never inside someone else's frame.
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := pages.Execute(w, p); err != nil {
		s.log.Error("render page", "err", err)
	}
}

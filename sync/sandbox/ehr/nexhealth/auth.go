package nexhealth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"
)

// Bearer tokens are HS256 JSON Web Tokens, as NexHealth's are, with the claims its documentation shows
// (sub, scp, iat, exp, jti). exp is in whole seconds, rounded up.

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type claims struct {
	Sub string `json:"sub"`
	Scp string `json:"scp"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
	Jti string `json:"jti"`
}

var (
	errTokenInvalid = errors.New("the bearer token is not valid; POST /authenticates with your API key for a new one")
	errTokenExpired = errors.New("the bearer token has expired; POST /authenticates with your API key for a new one")
)

func (s *Server) issueToken() (string, error) {
	s.mu.Lock()
	ttl := s.tokenTTL
	s.mu.Unlock()
	now := s.now()
	c := claims{Sub: "1", Scp: "api_user", Iat: now.Unix(), Exp: int64(math.Ceil(float64(now.Add(ttl).UnixNano()) / 1e9)), Jti: rand.Text()}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signing + "." + s.sign(signing), nil
}

func (s *Server) sign(signing string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(signing))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) checkToken(token string) error {
	head, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || head != jwtHeader || !hmac.Equal([]byte(sig), []byte(s.sign(head+"."+payload))) {
		return errTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return errTokenInvalid
	}
	var c claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return errTokenInvalid
	}
	if !s.now().Before(time.Unix(c.Exp, 0)) {
		return errTokenExpired
	}
	return nil
}

type tokenBody struct {
	Token string `json:"token"`
}

// authenticate is POST /authenticates: the API key is the whole Authorization header, no scheme.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.Header.Get("Authorization"))
	switch {
	case key == "":
		writeError(w, http.StatusUnauthorized, "No API key was sent. Send your NexHealth API key as the Authorization header (the key itself, no \"Bearer\").")
		return
	case strings.HasPrefix(key, "Bearer "):
		writeError(w, http.StatusUnauthorized, "Send the API key itself as the Authorization header, without \"Bearer\"; bearer tokens are for the other routes.")
		return
	case subtle.ConstantTimeCompare([]byte(key), []byte(SampleAPIKey)) != 1:
		writeError(w, http.StatusUnauthorized, "The API key is not valid. Copy it again from the NexHealth Developer Portal (API Key tab; rotate it there if it was lost) and connect again.")
		return
	}
	token, err := s.issueToken()
	if err != nil {
		s.internal(w, "issue a bearer token", err)
		return
	}
	writeData(w, http.StatusOK, "Authenticated", tokenBody{token}, nil)
}

// bearer admits requests with a valid "Authorization: Bearer <token>".
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	switch {
	case h == "":
		writeError(w, http.StatusUnauthorized, "Not authenticated. POST /authenticates with your API key, then send \"Authorization: Bearer <token>\".")
		return false
	case !ok:
		writeError(w, http.StatusUnauthorized, "The Authorization header must be \"Bearer <token>\" with a token from POST /authenticates (an API key is only accepted there).")
		return false
	}
	if err := s.checkToken(strings.TrimSpace(token)); err != nil {
		msg := err.Error()
		writeError(w, http.StatusUnauthorized, strings.ToUpper(msg[:1])+msg[1:]+".")
		return false
	}
	return true
}

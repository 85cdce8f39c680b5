package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"golang.org/x/oauth2"
)

// RefreshMargin is how much life an access token must have left to be used;
// with less, it is refreshed first, so a request never sets out with a token
// that expires on the way.
const RefreshMargin = time.Minute

// SourceConfig configures a TokenSource.
type SourceConfig struct {
	ClientID      string
	TokenEndpoint string
	// HTTPClient talks to the token endpoint; default ehr.NewHTTPClient().
	HTTPClient *http.Client
	// Now is the clock expiry is judged by; default time.Now.
	Now func() time.Time
	// OnRefresh is told each new token so the app can store it: refresh
	// tokens rotate, and the old one stops working once used.
	OnRefresh func(ctx context.Context, tok *oauth2.Token)
}

// TokenSource hands out a valid access token, refreshing it with the
// refresh token when less than RefreshMargin is left. Refreshes are one at
// a time (a rotated refresh token can be used once). When the server
// refuses the refresh, the grant is gone: that and every later call return
// an error matching ehr.ErrReauthorize.
type TokenSource struct {
	cfg  SourceConfig
	conf *oauth2.Config

	mu   sync.Mutex
	tok  *oauth2.Token
	dead error // why the grant is unusable; set once, never cleared
}

// NewTokenSource starts from tok, as Authorize returned it or as stored.
func NewTokenSource(cfg SourceConfig, tok *oauth2.Token) *TokenSource {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		// Not oauth2's default, http.DefaultClient, which has no timeout.
		cfg.HTTPClient = ehr.NewHTTPClient()
	}
	s := &TokenSource{cfg: cfg, conf: &oauth2.Config{ClientID: cfg.ClientID,
		Endpoint: oauth2.Endpoint{TokenURL: cfg.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}}
	switch {
	case tok == nil || (tok.AccessToken == "" && tok.RefreshToken == ""):
		s.dead = errors.New("there is no token; connect first")
	default:
		c := *tok
		s.tok = &c
	}
	return s
}

// Token returns a token valid for at least RefreshMargin (or one with no
// stated expiry), refreshing first when needed.
func (s *TokenSource) Token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return nil, s.deadErr()
	}
	if s.tok.AccessToken != "" && (s.tok.Expiry.IsZero() || s.tok.Expiry.Sub(s.cfg.Now()) >= RefreshMargin) {
		return s.copyTok(), nil
	}
	return s.refreshLocked(ctx)
}

// Refresh gets a new access token because the API refused stale, which
// looked valid by the clock (revoked, or the server's clock runs ahead).
// When another caller has already replaced stale, its token is returned
// without a second refresh.
func (s *TokenSource) Refresh(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return nil, s.deadErr()
	}
	if stale != nil && s.tok.AccessToken != stale.AccessToken {
		return s.copyTok(), nil
	}
	return s.refreshLocked(ctx)
}

// Forget drops the tokens: the connection is being disconnected, and any
// later call returns ErrReauthorize.
func (s *TokenSource) Forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = nil
	if s.dead == nil {
		s.dead = errors.New("the connection was disconnected")
	}
}

func (s *TokenSource) deadErr() error {
	return fmt.Errorf("%w: %w", ehr.ErrReauthorize, s.dead)
}

func (s *TokenSource) copyTok() *oauth2.Token {
	c := *s.tok
	return &c
}

func (s *TokenSource) refreshLocked(ctx context.Context) (*oauth2.Token, error) {
	if s.tok.RefreshToken == "" {
		s.dead = errors.New("the access token expired and there is no refresh token")
		return nil, s.deadErr()
	}
	// Keep the old refresh token only if the server does not rotate it:
	// golang.org/x/oauth2 copies it onto a response without one.
	nt, err := s.conf.TokenSource(withClient(ctx, s.cfg.HTTPClient), &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
	if err != nil {
		if refused(err) {
			s.dead = fmt.Errorf("the EHR refused the refresh token: %w", err)
			return nil, s.deadErr()
		}
		return nil, fmt.Errorf("refresh the access token: %w", err)
	}
	if nt.ExpiresIn > 0 {
		// Judge expiry by the same clock that checks it.
		nt.Expiry = s.cfg.Now().Add(time.Duration(nt.ExpiresIn) * time.Second)
	}
	s.tok = nt
	if s.cfg.OnRefresh != nil {
		s.cfg.OnRefresh(ctx, s.copyTok())
	}
	return s.copyTok(), nil
}

// refused reports whether the token endpoint said no to the grant itself
// (RFC 6749 §5.2), as opposed to failing (5xx, 429, the network), which a
// later try may get past.
func refused(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	switch re.ErrorCode {
	case "invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_scope":
		return true
	}
	return re.Response != nil && (re.Response.StatusCode == http.StatusBadRequest || re.Response.StatusCode == http.StatusUnauthorized)
}

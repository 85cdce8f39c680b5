package oauthflow_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	"github.com/nextvisit/scribe/sync/ehr/oauthflow"
	"golang.org/x/oauth2"
)

var names = []string{"Osmind", "Kalix"}

func discover(t *testing.T, e *ehrtest.OAuthEHR) oauthflow.Metadata {
	t.Helper()
	md, err := oauthflow.Discover(t.Context(), nil, e.Issuer)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return md
}

// connect runs the whole flow with b as the browser.
func connect(t *testing.T, e *ehrtest.OAuthEHR, b *ehrtest.Browser) (*oauth2.Token, error) {
	t.Helper()
	return oauthflow.Authorize(t.Context(), oauthflow.Config{ClientID: ehrtest.ClientID,
		Scopes: []string{"patients.read", "notes.write"}, OpenBrowser: b.Open(t)}, discover(t, e))
}

// apiStatus is the status of GET /api/providers with the access token.
func apiStatus(t *testing.T, e *ehrtest.OAuthEHR, access string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.APIBase+"/providers", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDiscover(t *testing.T) {
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			e := ehrtest.NewOAuthEHR(t, name, nil)
			md := discover(t, e)
			if md.Issuer != e.Issuer || md.AuthorizationEndpoint != e.Issuer+"/oauth/authorize" || md.TokenEndpoint != e.Issuer+"/oauth/token" {
				t.Errorf("metadata %+v, want endpoints under %s", md, e.Issuer)
			}
		})
	}
	t.Run("PathInserted", func(t *testing.T) {
		// Only the RFC 8414 location answers: /.well-known/... before the issuer's path.
		var hits []string
		var mu sync.Mutex
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, r.URL.Path)
			mu.Unlock()
			if r.URL.Path != "/.well-known/oauth-authorization-server/tenant" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			iss := srv.URL + "/tenant"
			w.Write([]byte(`{"issuer":"` + iss + `","authorization_endpoint":"` + iss + `/a","token_endpoint":"` + iss + `/t"}`))
		}))
		defer srv.Close()
		md, err := oauthflow.Discover(t.Context(), srv.Client(), srv.URL+"/tenant/")
		if err != nil {
			t.Fatalf("Discover: %v", err)
		}
		if md.TokenEndpoint != srv.URL+"/tenant/t" || len(hits) != 1 {
			t.Errorf("metadata %+v after requests %v", md, hits)
		}
	})
	t.Run("IssuerMismatch", func(t *testing.T) {
		e := ehrtest.NewOAuthEHR(t, "Osmind", nil)
		// A server relaying Osmind's metadata under its own URL is not Osmind.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := http.Get(e.Issuer + "/.well-known/oauth-authorization-server")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.Header().Set("Content-Type", "application/json")
			io.Copy(w, resp.Body)
		}))
		defer srv.Close()
		_, err := oauthflow.Discover(t.Context(), nil, srv.URL+"/osmind")
		if err == nil || !strings.Contains(err.Error(), "names issuer") {
			t.Errorf("Discover of a relayed document: %v, want an issuer mismatch", err)
		}
	})
	t.Run("Nothing", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		if _, err := oauthflow.Discover(t.Context(), nil, srv.URL+"/x"); err == nil || !strings.Contains(err.Error(), "no authorization server metadata") {
			t.Errorf("Discover with no metadata: %v", err)
		}
	})
	t.Run("BadIssuer", func(t *testing.T) {
		if _, err := oauthflow.Discover(t.Context(), nil, "ftp://x/y"); err == nil || !strings.Contains(err.Error(), "must be an http(s) URL") {
			t.Errorf("Discover(ftp): %v", err)
		}
	})
}

// TestAuthorizeWholeFlow is the flow end to end with the test as the
// browser: authorize URL, login form, consent, redirect to the loopback
// listener, code exchange, and the token working on the API.
func TestAuthorizeWholeFlow(t *testing.T) {
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			e := ehrtest.NewOAuthEHR(t, name, nil)
			var opened string
			b := e.Admin()
			open := b.Open(t)
			tok, err := oauthflow.Authorize(t.Context(), oauthflow.Config{ClientID: ehrtest.ClientID,
				Scopes: []string{"patients.read", "notes.write"},
				OpenBrowser: func(ctx context.Context, u string) error {
					opened = u
					return open(ctx, u)
				}}, discover(t, e))
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			u, err := url.Parse(opened)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 ||
				!strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") || !strings.HasSuffix(q.Get("redirect_uri"), "/callback") {
				t.Errorf("authorization URL %s lacks PKCE S256, a random state or the loopback redirect", opened)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Expiry.IsZero() || tok.Extra("scope") != "patients.read notes.write" {
				t.Errorf("token %+v scope %v", tok, tok.Extra("scope"))
			}
			if st := apiStatus(t, e, tok.AccessToken); st != http.StatusOK {
				t.Errorf("API with the new token: %d", st)
			}
			// The listener is gone once the flow is over.
			if _, err := http.Get(q.Get("redirect_uri")); err == nil {
				t.Errorf("the loopback listener still answers after the flow")
			}
		})
	}
}

func TestAuthorizeDenied(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Kalix", nil)
	b := e.Admin()
	b.Decision = "deny"
	_, err := connect(t, e, b)
	var ce *oauthflow.CallbackError
	if !errors.Is(err, oauthflow.ErrDenied) || !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Fatalf("Authorize denied: %v, want ErrDenied", err)
	}
}

func TestAuthorizeStateMismatch(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Osmind", nil)
	b := e.Admin()
	b.Tamper = func(u *url.URL) {
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
	}
	_, err := connect(t, e, b)
	if !errors.Is(err, oauthflow.ErrStateMismatch) {
		t.Fatalf("Authorize with a forged state: %v, want ErrStateMismatch", err)
	}
}

func TestAuthorizeTimeoutAndCancel(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Osmind", nil)
	md := discover(t, e)
	t.Run("Timeout", func(t *testing.T) {
		_, err := oauthflow.Authorize(t.Context(), oauthflow.Config{ClientID: ehrtest.ClientID, Timeout: 20 * time.Millisecond,
			OpenBrowser: func(context.Context, string) error { return nil }}, md) // nobody signs in
		if !errors.Is(err, oauthflow.ErrTimeout) {
			t.Fatalf("Authorize with no browser: %v, want ErrTimeout", err)
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		_, err := oauthflow.Authorize(ctx, oauthflow.Config{ClientID: ehrtest.ClientID,
			OpenBrowser: func(context.Context, string) error { cancel(); return nil }}, md) // the user pressed Cancel
		if !errors.Is(err, context.Canceled) || errors.Is(err, oauthflow.ErrTimeout) {
			t.Fatalf("Authorize cancelled: %v, want context.Canceled", err)
		}
	})
	t.Run("BrowserFails", func(t *testing.T) {
		boom := errors.New("no browser")
		_, err := oauthflow.Authorize(t.Context(), oauthflow.Config{ClientID: ehrtest.ClientID,
			OpenBrowser: func(context.Context, string) error { return boom }}, md)
		if !errors.Is(err, boom) {
			t.Fatalf("Authorize with a failing browser: %v", err)
		}
	})
}

// clock is a settable client clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestTokenSourceRefreshesBeforeExpiry(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Osmind", nil)
	tok, err := connect(t, e, e.Admin())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	tok.Expiry = c.now().Add(time.Hour)
	var saved []*oauth2.Token
	ts := oauthflow.NewTokenSource(oauthflow.SourceConfig{ClientID: ehrtest.ClientID, TokenEndpoint: discover(t, e).TokenEndpoint,
		Now: c.now, OnRefresh: func(_ context.Context, t *oauth2.Token) { saved = append(saved, t) }}, tok)

	c.advance(58 * time.Minute) // two minutes left: use it
	got, err := ts.Token(t.Context())
	if err != nil || got.AccessToken != tok.AccessToken || len(saved) != 0 {
		t.Fatalf("with 2 min left: %v, same token %v, %d refreshes; want the same token", err, got != nil && got.AccessToken == tok.AccessToken, len(saved))
	}
	c.advance(90 * time.Second) // 30 s left: refresh first
	got, err = ts.Token(t.Context())
	if err != nil {
		t.Fatalf("Token with 30 s left: %v", err)
	}
	if got.AccessToken == tok.AccessToken || got.RefreshToken == tok.RefreshToken || len(saved) != 1 || saved[0].AccessToken != got.AccessToken {
		t.Fatalf("with 30 s left: want a refreshed, rotated token reported to OnRefresh (%d reports)", len(saved))
	}
	if got.Expiry.Sub(c.now()) != time.Hour {
		t.Errorf("new expiry %v from now, want 1h by the source's clock", got.Expiry.Sub(c.now()))
	}
	if st := apiStatus(t, e, got.AccessToken); st != http.StatusOK {
		t.Errorf("API with the refreshed token: %d", st)
	}
	if st := apiStatus(t, e, tok.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("API with the rotated-away token: %d, want 401", st)
	}

	// Refresh after the API refused a token: one refresh however many callers saw the same stale token.
	r1, err := ts.Refresh(t.Context(), got)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	r2, err := ts.Refresh(t.Context(), got)
	if err != nil || r2.AccessToken != r1.AccessToken || len(saved) != 2 {
		t.Errorf("second Refresh of the same stale token: %v, %d refreshes; want the first's token and no new refresh", err, len(saved))
	}
}

func TestTokenSourceRefusedRefresh(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Kalix", nil)
	tok, err := connect(t, e, e.Admin())
	if err != nil {
		t.Fatal(err)
	}
	endpoint := discover(t, e).TokenEndpoint
	// Another copy of the app used the refresh token first: it was rotated away.
	other := oauthflow.NewTokenSource(oauthflow.SourceConfig{ClientID: ehrtest.ClientID, TokenEndpoint: endpoint}, tok)
	if _, err := other.Refresh(t.Context(), tok); err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Minute)
	ts := oauthflow.NewTokenSource(oauthflow.SourceConfig{ClientID: ehrtest.ClientID, TokenEndpoint: endpoint}, &stale)
	_, err = ts.Token(t.Context())
	var re *oauth2.RetrieveError
	if !errors.Is(err, ehr.ErrReauthorize) || !errors.As(err, &re) {
		t.Fatalf("Token with a used refresh token: %v, want ErrReauthorize wrapping the server's answer", err)
	}
	// The grant stays dead without asking the server again.
	e.Server.Faults().SetErrorRate(1)
	if _, err := ts.Token(t.Context()); !errors.Is(err, ehr.ErrReauthorize) {
		t.Errorf("Token again: %v, want ErrReauthorize", err)
	}
}

func TestTokenSourceTransientRefresh(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Osmind", nil)
	tok, err := connect(t, e, e.Admin())
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now() // due for refresh
	ts := oauthflow.NewTokenSource(oauthflow.SourceConfig{ClientID: ehrtest.ClientID, TokenEndpoint: discover(t, e).TokenEndpoint}, tok)
	e.Server.Faults().SetErrorRate(1)
	_, err = ts.Token(t.Context())
	var re *oauth2.RetrieveError
	if err == nil || errors.Is(err, ehr.ErrReauthorize) || !errors.As(err, &re) || re.Response.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Token while the token endpoint answers 503: %v, want a transient error with the 503", err)
	}
	e.Server.Faults().Reset()
	got, err := ts.Token(t.Context())
	if err != nil || got.AccessToken == tok.AccessToken {
		t.Fatalf("Token once the server is back: %v", err)
	}
}

func TestTokenSourceForget(t *testing.T) {
	ts := oauthflow.NewTokenSource(oauthflow.SourceConfig{ClientID: "x", TokenEndpoint: "http://127.0.0.1:1/token"},
		&oauth2.Token{AccessToken: "a", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)})
	if _, err := ts.Token(t.Context()); err != nil {
		t.Fatalf("Token: %v", err)
	}
	ts.Forget()
	if _, err := ts.Token(t.Context()); !errors.Is(err, ehr.ErrReauthorize) {
		t.Errorf("Token after Forget: %v, want ErrReauthorize", err)
	}
	if _, err := oauthflow.NewTokenSource(oauthflow.SourceConfig{}, nil).Token(t.Context()); !errors.Is(err, ehr.ErrReauthorize) {
		t.Errorf("Token with no token: %v, want ErrReauthorize", err)
	}
}

package oauthflow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"golang.org/x/oauth2"
)

// Errors of the authorization flow; check them with errors.Is.
var (
	// ErrDenied: the administrator refused on the consent page
	// (error=access_denied).
	ErrDenied = errors.New("access was denied on the EHR's consent page")
	// ErrStateMismatch: the redirect's state is not the one this flow sent,
	// so the code may belong to someone else's request.
	ErrStateMismatch = errors.New("the redirect's state does not match the request")
	// ErrTimeout: no redirect came back within Config.Timeout.
	ErrTimeout = errors.New("no answer from the browser in time")
)

// DefaultTimeout is how long Authorize waits for the browser when
// Config.Timeout is zero: long enough to sign in, short enough that a
// forgotten window does not hold a port for ever.
const DefaultTimeout = 5 * time.Minute

// Config is one client's authorization flow.
type Config struct {
	ClientID string
	Scopes   []string
	// HTTPClient talks to the token endpoint; default ehr.NewHTTPClient().
	HTTPClient *http.Client
	// OpenBrowser shows the authorization URL to the user: platform.OpenURL
	// in the app, a func that prints the URL for --no-browser, the test's
	// own HTTP client in tests. Required.
	OpenBrowser func(ctx context.Context, url string) error
	// Timeout bounds the wait for the redirect; default DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
}

// CallbackError is an error the authorization server sent back to the
// redirect (RFC 6749 §4.1.2.1). access_denied matches ErrDenied.
type CallbackError struct {
	Code        string
	Description string
}

func (e *CallbackError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("the EHR refused the authorization: %s (%s)", e.Description, e.Code)
	}
	return "the EHR refused the authorization: " + e.Code
}

// Is makes an access_denied callback match ErrDenied.
func (e *CallbackError) Is(target error) bool {
	return target == ErrDenied && e.Code == "access_denied"
}

// Authorize runs the authorization code flow with PKCE S256: it listens on
// 127.0.0.1 with a free port, opens the authorization URL through
// OpenBrowser, waits for the redirect to /callback (or ctx, or the
// timeout), checks state, and exchanges the code for tokens. The returned
// token carries the granted scope in Extra("scope") when the server says.
func Authorize(ctx context.Context, cfg Config, md Metadata) (*oauth2.Token, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("authorize: Config.ClientID is empty; give the client id registered with the EHR")
	}
	if cfg.OpenBrowser == nil {
		return nil, errors.New("authorize: Config.OpenBrowser is nil; pass platform.OpenURL or a func that shows the URL")
	}
	if err := md.check(); err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		// Not oauth2's default, http.DefaultClient, which has no timeout.
		cfg.HTTPClient = ehr.NewHTTPClient()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Timeout, ErrTimeout)
	defer cancel()

	// RFC 8252 §7.3: the loopback IP literal, not "localhost", which a
	// resolver or firewall may send elsewhere; port 0 lets the OS pick.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("authorize: listen for the redirect on 127.0.0.1: %w", err)
	}
	conf := &oauth2.Config{
		ClientID:    cfg.ClientID,
		Scopes:      cfg.Scopes,
		RedirectURL: fmt.Sprintf("http://%s/callback", ln.Addr()),
		Endpoint: oauth2.Endpoint{AuthURL: md.AuthorizationEndpoint, TokenURL: md.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInParams}, // a public client: no secret, client_id in the form
	}
	state := randomString()
	verifier := oauth2.GenerateVerifier()

	results := make(chan callbackResult, 1)
	srv := &http.Server{Handler: callbackHandler(state, results), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("oauth redirect listener", "err", err)
		}
	}()
	defer func() {
		// The browser got its page before the result was sent; a short
		// grace lets that response finish, then the listener is closed.
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		<-served
	}()

	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	log.Info("oauth authorize: waiting for the browser", "redirect", conf.RedirectURL)
	if err := cfg.OpenBrowser(ctx, authURL); err != nil {
		return nil, fmt.Errorf("authorize: open the browser: %w", err)
	}

	var res callbackResult
	select {
	case res = <-results:
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), ErrTimeout) {
			return nil, fmt.Errorf("authorize: waited %s for the browser to come back; connect again: %w", cfg.Timeout, ErrTimeout)
		}
		return nil, fmt.Errorf("authorize: %w", context.Cause(ctx))
	}
	if res.err != nil {
		return nil, fmt.Errorf("authorize: %w", res.err)
	}
	tok, err := conf.Exchange(withClient(ctx, cfg.HTTPClient), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("authorize: exchange the code for tokens: %w", err)
	}
	log.Info("oauth authorize: connected", "scope", tok.Extra("scope"))
	return tok, nil
}

type callbackResult struct {
	code string
	err  error
}

var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nextvisit Scribe</title></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

// callbackHandler serves /callback: the first redirect that arrives decides
// the flow, and later ones are told the flow is over.
func callbackHandler(state string, results chan<- callbackResult) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var res callbackResult
		switch {
		case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1:
			res.err = fmt.Errorf("%w; start the connection again from Scribe", ErrStateMismatch)
		case q.Get("error") != "":
			res.err = &CallbackError{Code: q.Get("error"), Description: q.Get("error_description")}
		case q.Get("code") == "":
			res.err = errors.New("the redirect carried neither a code nor an error; connect again")
		default:
			res.code = q.Get("code")
		}
		select {
		case results <- res:
		default:
			res = callbackResult{err: errors.New("this sign-in has already been handled; return to Scribe")}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		page := struct{ Title, Text string }{"Connected", "You can close this window and return to Nextvisit Scribe."}
		status := http.StatusOK
		if res.err != nil {
			page = struct{ Title, Text string }{"Not connected", strings.TrimPrefix(res.err.Error(), "authorize: ")}
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		_ = callbackPage.Execute(w, page) // the browser went away: nothing to tell it
	})
	return mux
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// withClient hands client to golang.org/x/oauth2, which takes it from the
// context; nil leaves its default.
func withClient(ctx context.Context, client *http.Client) context.Context {
	if client == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, client)
}

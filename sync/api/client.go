package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
)

// The Nextvisit servers (from the API reference).
const (
	ProductionURL = "https://nextvisit.app/api"
	BetaURL       = "https://ea.nextvisit.app/api"
)

// exampleURL is what error messages offer as a well-formed server address.
const exampleURL = ProductionURL

// Options configure a Client. The zero value is usable.
type Options struct {
	// HTTPClient sends the requests; nil means a client whose transport times out waiting for response
	// headers after two minutes (there is no overall timeout: uploads take as long as they take; use ctx).
	HTTPClient *http.Client
	// Token is the bearer token from Login; empty for a client that is about to sign in.
	Token  string
	Logger *slog.Logger
	// MaxAttempts bounds how many times one idempotent request is sent (0 means 4; 1 means no retries).
	MaxAttempts int
	// UserAgent defaults to "Scribe/<module version>".
	UserAgent string
}

// Client is the hand-written face of the generated ClientWithResponses: sign-in, typed errors,
// retries (in its doer), pagination. It is safe for concurrent use; WithToken makes cheap copies.
type Client struct {
	base  *url.URL
	raw   *ClientWithResponses
	doer  *retryDoer
	log   *slog.Logger
	ua    string
	token string
}

// New makes a client for the server at baseURL (e.g. ProductionURL, or a sandbox's URL).
func New(baseURL string, opts Options) (*Client, error) {
	base, err := ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if opts.MaxAttempts < 0 {
		return nil, fmt.Errorf("api client: MaxAttempts is %d; use 0 for the default (4) or 1 for no retries", opts.MaxAttempts)
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 4
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = NewHTTPClient()
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = defaultUserAgent()
	}
	d := newRetryDoer(hc, opts.MaxAttempts, log)
	raw, err := NewClientWithResponses(base.String(), WithHTTPClient(d))
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	return &Client{base: base, raw: raw, doer: d, log: log, ua: ua, token: opts.Token}, nil
}

// WithToken returns a copy of c that sends token as its bearer token (e.g. after Login).
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// BaseURL is the server's base URL without a trailing slash, e.g. "https://nextvisit.app/api".
func (c *Client) BaseURL() string { return c.base.String() }

// ParseBaseURL checks a server address typed by a person or read from a flag: an absolute http(s) URL
// with a host and no query, user name or password, https unless the host is loopback. A trailing
// slash is dropped.
func ParseBaseURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, fmt.Errorf("the server URL is empty; enter one such as %s", exampleURL)
	}
	// Never echo something that may hold a password back into an error message.
	shown := fmt.Sprintf("%q", s)
	if strings.Contains(s, "@") {
		shown = "the server URL"
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL; enter one such as %s", shown, exampleURL)
	}
	switch {
	case u.Scheme == "":
		return nil, fmt.Errorf("%s is not a URL: it does not start with https:// (or http://); enter one such as %s", shown, exampleURL)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%s uses %s://, but only https:// and http:// are supported; enter one such as %s", shown, u.Scheme, exampleURL)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%s has no host name; enter one such as %s", shown, exampleURL)
	case u.User != nil:
		return nil, fmt.Errorf("the server URL must not contain a user name or password; enter one such as %s", exampleURL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("%s must not contain a ?query or #fragment; enter one such as %s", shown, exampleURL)
	}
	if port := u.Port(); port == "" && strings.HasSuffix(u.Host, ":") {
		return nil, fmt.Errorf("%s has an empty port; enter one such as %s", shown, exampleURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		// Passwords, tokens and patient data would cross the network in clear text; only the sandbox on
		// this machine may use http.
		return nil, fmt.Errorf("%s uses plain http://, which is only allowed for this machine (127.0.0.1, localhost); enter an https:// URL such as %s", shown, exampleURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewHTTPClient is the client New uses when Options has none: its own connection pool, and a transport
// that times out waiting for response headers after two minutes. Share one across Clients so their
// connections can be closed together.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{Transport: t}
}

func defaultUserAgent() string {
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = strings.TrimPrefix(bi.Main.Version, "v")
	}
	return "Scribe/" + v
}

// editRequest adds the headers every request carries. It runs as a per-call editor (not a client
// option) so that WithToken copies share one generated client.
func (c *Client) editRequest(_ context.Context, req *http.Request) error {
	if !validToken(c.token) {
		// The token itself stays out of the message.
		return errors.New("the stored token contains characters a token cannot have; sign in again")
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return nil
}

func validToken(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return false
		}
	}
	return true
}

// call runs one generated operation and sorts out its error. The doer returns typed errors (status,
// network, context) wrapped in *doerError; anything else after the request went out came from decoding
// the body, so it is ErrBadResponse; before that, it came from building the request.
func call[R any](ctx context.Context, c *Client, op func(ctx context.Context, editors ...RequestEditorFn) (*R, error)) (*R, error) {
	sent := false
	markSent := func(context.Context, *http.Request) error {
		sent = true
		return nil
	}
	r, err := op(ctx, c.editRequest, markSent)
	if err == nil {
		return r, nil
	}
	var de *doerError
	switch {
	case errors.As(err, &de):
		return nil, de.err
	case sent:
		return nil, badResponse("%v", err)
	default:
		return nil, fmt.Errorf("prepare request: %w", err)
	}
}

// decoded returns what the generated parser decoded for the expected status, or says why there is none
// (a 2xx that is not JSON: a captive portal, a proxy page, the wrong server).
func decoded[T any](v *T, r *http.Response) (T, error) {
	if v != nil {
		return *v, nil
	}
	var zero T
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		if ct == "" {
			ct = "no content type"
		}
		return zero, badResponse("expected JSON, got %s", ct)
	}
	return zero, badResponse("unexpected answer %s", r.Status)
}

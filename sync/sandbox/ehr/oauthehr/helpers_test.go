package oauthehr

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable Config.Now.
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

type env struct {
	srv   *Server
	ts    *httptest.Server
	base  string // issuer: ts.URL + prefix
	clock *clock
	dir   string
}

func newEnv(t *testing.T, name string) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	srv, err := New(t.Context(), Config{Name: name, Dir: dir, Now: c.now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	mux := http.NewServeMux()
	mux.Handle(srv.Prefix()+"/", srv.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &env{srv: srv, ts: ts, base: ts.URL + srv.Prefix(), clock: c, dir: dir}
}

// loopback is the app's redirect listener on 127.0.0.1 with a free port.
type loopback struct {
	uri string
	got chan url.Values
}

func newLoopback(t *testing.T) *loopback {
	t.Helper()
	lb := &loopback{got: make(chan url.Values, 4)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		lb.got <- r.URL.Query()
		io.WriteString(w, "You can close this window.")
	}))
	t.Cleanup(ts.Close)
	lb.uri = ts.URL + "/callback"
	if !strings.HasPrefix(lb.uri, "http://127.0.0.1:") {
		t.Fatalf("loopback listener at %s, want 127.0.0.1", lb.uri)
	}
	return lb
}

// wait returns the callback's query, failing if the browser never arrived.
func (lb *loopback) wait(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-lb.got:
		return q
	case <-t.Context().Done():
		t.Fatal("no redirect reached the loopback listener")
		return nil
	}
}

func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeURL(endpoint string, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	return endpoint + "?" + q.Encode()
}

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func noRedirects(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

var hiddenRE = regexp.MustCompile(`name="(request|csrf)" value="([^"]*)"`)

// formFields reads the hidden inputs of an HTML page.
func formFields(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("request") == "" {
		t.Fatalf("no request field in page:\n%s", page)
	}
	return v
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// login opens the authorize URL in the browser and signs in, returning the consent page.
func login(t *testing.T, e *env, b *http.Client, authURL string) string {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="`+e.srv.Prefix()+`/oauth/login"`) {
		t.Fatalf("authorize: %d, want the login page:\n%s", resp.StatusCode, page)
	}
	form := formFields(t, page)
	form.Set("email", AdminEmail(e.srv.name))
	form.Set("password", AdminPassword)
	resp, err = b.PostForm(e.base+"/oauth/login", form)
	if err != nil {
		t.Fatal(err)
	}
	page = readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `/oauth/consent"`) {
		t.Fatalf("after login: %d, want the consent page:\n%s", resp.StatusCode, page)
	}
	return page
}

// consent submits the consent page with the given decision and the scopes left ticked.
func consent(t *testing.T, e *env, b *http.Client, page, decision string, scopes ...string) *http.Response {
	t.Helper()
	form := formFields(t, page)
	form.Set("decision", decision)
	form["scope"] = scopes
	resp, err := b.PostForm(e.base+"/oauth/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	return resp
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func postToken(t *testing.T, e *env, form url.Values) (int, tokenResponse) {
	t.Helper()
	resp, err := http.PostForm(e.base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	var tr tokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatalf("token response %q: %v", body, err)
	}
	return resp.StatusCode, tr
}

// connect runs the whole browser flow and the code exchange, granting scopes.
func connect(t *testing.T, e *env, scopes ...string) tokenResponse {
	t.Helper()
	lb := newLoopback(t)
	verifier, challenge := pkce()
	b := newBrowser(t)
	page := login(t, e, b, authorizeURL(e.base+"/oauth/authorize", map[string]string{
		"response_type": "code", "client_id": ClientID, "redirect_uri": lb.uri, "state": "st-1",
		"code_challenge": challenge, "code_challenge_method": "S256", "scope": "patients.read notes.write"}))
	consent(t, e, b, page, "allow", scopes...)
	q := lb.wait(t)
	if q.Get("state") != "st-1" || q.Get("code") == "" {
		t.Fatalf("callback %v, want a code and state st-1", q)
	}
	status, tr := postToken(t, e, url.Values{"grant_type": {"authorization_code"}, "client_id": {ClientID},
		"code": {q.Get("code")}, "redirect_uri": {lb.uri}, "code_verifier": {verifier}})
	if status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("token exchange: %d %+v", status, tr)
	}
	return tr
}

type apiResult struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, e *env, token, method, path, body string, headers ...string) apiResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return apiResult{status: resp.StatusCode, header: resp.Header, body: readAll(t, resp)}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

package oauthehr

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDiscovery(t *testing.T) {
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, name)
			resp, err := http.Get(e.base + "/.well-known/oauth-authorization-server")
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("metadata: %d %s", resp.StatusCode, body)
			}
			md := decode[metadata](t, body)
			if md.Issuer != e.base || md.AuthorizationEndpoint != e.base+"/oauth/authorize" || md.TokenEndpoint != e.base+"/oauth/token" {
				t.Errorf("endpoints %+v, want under %s", md, e.base)
			}
			if !slices.Equal(md.CodeChallengeMethodsSupported, []string{"S256"}) ||
				!slices.Equal(md.ScopesSupported, []string{"patients.read", "notes.write"}) ||
				!slices.Equal(md.GrantTypesSupported, []string{"authorization_code", "refresh_token"}) ||
				!slices.Equal(md.ResponseTypesSupported, []string{"code"}) {
				t.Errorf("metadata %+v", md)
			}
			// RFC 8414 §3 also places it after /.well-known when the issuer has a path; the handler
			// answers there when the caller routes that path to it.
			rec := httptest.NewRecorder()
			req := httptest.NewRequestWithContext(t.Context(), "GET", "/.well-known/oauth-authorization-server"+e.srv.Prefix(), nil)
			req.Host = strings.TrimPrefix(e.ts.URL, "http://")
			e.srv.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || decode[metadata](t, rec.Body.String()).Issuer != e.base {
				t.Errorf("path-inserted metadata: %d %s", rec.Code, rec.Body.String())
			}
		})
	}
}

// TestWholeFlow is the connector's path end to end, with the test as the browser: authorize URL, login
// form, consent, redirect to a loopback listener, code exchange with the verifier, API calls, expiry and
// refresh.
func TestWholeFlow(t *testing.T) {
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, name)
			lb := newLoopback(t)
			verifier, challenge := pkce()
			b := newBrowser(t)
			page := login(t, e, b, authorizeURL(e.base+"/oauth/authorize", map[string]string{
				"response_type": "code", "client_id": ClientID, "redirect_uri": lb.uri, "state": "xyz-42",
				"code_challenge": challenge, "code_challenge_method": "S256", "scope": "patients.read notes.write"}))
			if !strings.Contains(page, "Write notes into patient charts") {
				t.Errorf("consent page does not describe notes.write:\n%s", page)
			}
			consent(t, e, b, page, "allow", "patients.read", "notes.write")
			q := lb.wait(t)
			if q.Get("state") != "xyz-42" || q.Get("code") == "" {
				t.Fatalf("callback %v", q)
			}
			exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {ClientID}, "code": {q.Get("code")},
				"redirect_uri": {lb.uri}, "code_verifier": {verifier}}
			status, tok := postToken(t, e, exchange)
			if status != http.StatusOK || tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.ExpiresIn != 3600 ||
				tok.Scope != "patients.read notes.write" {
				t.Fatalf("token: %d %+v", status, tok)
			}
			if status, again := postToken(t, e, exchange); status != http.StatusBadRequest || again.Error != "invalid_grant" {
				t.Errorf("code used twice: %d %+v, want invalid_grant", status, again)
			}

			r := call(t, e, tok.AccessToken, "GET", "/api/providers", "")
			provs := decode[struct{ Data []providerJSON }](t, r.body).Data
			if r.status != 200 || len(provs) != 3 || provs[0].Name == "Dr. Sam Rivera" || !strings.Contains(provs[0].Name, "Rivera") {
				t.Fatalf("providers: %d %+v", r.status, provs)
			}
			r = call(t, e, tok.AccessToken, "GET", "/api/patients", "")
			all := decode[struct{ Data []patientJSON }](t, r.body).Data
			if r.status != 200 || len(all) != 25 {
				t.Fatalf("patients: %d, %d of them", r.status, len(all))
			}
			mid := all[12].UpdatedAt
			r = call(t, e, tok.AccessToken, "GET", "/api/patients?updated_since="+url.QueryEscape(mid), "")
			since := decode[struct{ Data []patientJSON }](t, r.body).Data
			if r.status != 200 || len(since) != 12 || since[0].ID != all[13].ID {
				t.Fatalf("patients updated since %s: %d, %d of them", mid, r.status, len(since))
			}

			patient, provider := all[3].ID, provs[1].ID
			push := fmt.Sprintf(`{"provider_id":%q,"visit_date":"2026-03-01","content":"S: better sleep","content_type":"text/plain","external_id":"enc-1"}`, provider)
			first := call(t, e, tok.AccessToken, "POST", "/api/patients/"+patient+"/notes", push, "Idempotency-Key", "push-1")
			if first.status != http.StatusCreated {
				t.Fatalf("push: %d %s", first.status, first.body)
			}
			replay := call(t, e, tok.AccessToken, "POST", "/api/patients/"+patient+"/notes", push, "Idempotency-Key", "push-1")
			if replay.status != http.StatusCreated || replay.body != first.body || replay.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: %d %s, want the first answer %s", replay.status, replay.body, first.body)
			}
			if n := e.srv.EffectCount("push-1"); n != 1 {
				t.Errorf("EffectCount = %d, want 1", n)
			}
			note := decode[noteJSON](t, first.body)
			put := call(t, e, tok.AccessToken, "PUT", fmt.Sprintf("/api/patients/%s/notes/%d", patient, note.ID),
				`{"content":"S: better sleep. Addendum."}`, "Idempotency-Key", "replace-1")
			if put.status != 200 || decode[noteJSON](t, put.body).Version != 2 {
				t.Fatalf("replace: %d %s", put.status, put.body)
			}
			list := call(t, e, tok.AccessToken, "GET", "/api/patients/"+patient+"/notes", "")
			notes := decode[struct{ Data []noteJSON }](t, list.body).Data
			if len(notes) != 1 || notes[0].Content != "S: better sleep. Addendum." || notes[0].Version != 2 || notes[0].ContentType != "text/plain" {
				t.Fatalf("notes: %s", list.body)
			}
			docs, err := e.srv.Documents(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 2 || docs[0].Content != "S: better sleep" || docs[0].Current || !docs[1].Current ||
				docs[0].PatientID != patient || docs[0].ProviderID != provider || docs[0].VisitDate != "2026-03-01" ||
				docs[0].IdempotencyKey != "push-1" || docs[1].IdempotencyKey != "replace-1" || docs[0].ExternalID != "enc-1" {
				t.Fatalf("documents: %+v", docs)
			}

			// An hour later the access token has expired; the refresh token gets a new pair.
			e.clock.advance(AccessTokenTTL + time.Second)
			if r := call(t, e, tok.AccessToken, "GET", "/api/providers", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") ||
				!strings.Contains(r.body, "expired") {
				t.Fatalf("expired token: %d %s", r.status, r.body)
			}
			status, fresh := postToken(t, e, url.Values{"grant_type": {"refresh_token"}, "client_id": {ClientID}, "refresh_token": {tok.RefreshToken}})
			if status != 200 || fresh.AccessToken == "" || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken ||
				fresh.Scope != "patients.read notes.write" {
				t.Fatalf("refresh: %d %+v", status, fresh)
			}
			if r := call(t, e, fresh.AccessToken, "GET", "/api/providers", ""); r.status != 200 {
				t.Fatalf("refreshed token: %d %s", r.status, r.body)
			}
			// Rotation: the used refresh token is spent.
			if status, again := postToken(t, e, url.Values{"grant_type": {"refresh_token"}, "client_id": {ClientID}, "refresh_token": {tok.RefreshToken}}); status == 200 {
				t.Fatalf("old refresh token still works: %+v", again)
			}
			// Refresh tokens expire too.
			e.clock.advance(RefreshTokenTTL + time.Second)
			if status, late := postToken(t, e, url.Values{"grant_type": {"refresh_token"}, "client_id": {ClientID}, "refresh_token": {fresh.RefreshToken}}); status == 200 || late.Error != "invalid_grant" {
				t.Fatalf("expired refresh token: %d %+v, want invalid_grant", status, late)
			}
		})
	}
}

func TestPKCERequired(t *testing.T) {
	e := newEnv(t, "Osmind")
	lb := newLoopback(t)
	_, challenge := pkce()
	for _, tc := range []struct{ name, challenge, method, want string }{
		{"missing", "", "", "code_challenge is required"},
		{"plain", challenge, "plain", "must be S256"},
		{"method omitted", challenge, "", "must be S256"},
		{"not a hash", "short", "S256", "43 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := noRedirects(newBrowser(t)).Get(authorizeURL(e.base+"/oauth/authorize", map[string]string{
				"response_type": "code", "client_id": ClientID, "redirect_uri": lb.uri, "state": "s-" + tc.name,
				"code_challenge": tc.challenge, "code_challenge_method": tc.method}))
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			loc, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("%d Location %q, want a redirect with the error", resp.StatusCode, resp.Header.Get("Location"))
			}
			q := loc.Query()
			if !strings.HasPrefix(loc.String(), lb.uri) || q.Get("error") != "invalid_request" || q.Get("state") != "s-"+tc.name ||
				!strings.Contains(q.Get("error_description"), tc.want) || q.Get("code") != "" {
				t.Fatalf("redirect %s", loc)
			}
		})
	}

	t.Run("wrong or missing verifier", func(t *testing.T) {
		for _, verifier := range []string{"", strings.Repeat("a", 43)} {
			_, challenge := pkce()
			b := newBrowser(t)
			page := login(t, e, b, authorizeURL(e.base+"/oauth/authorize", map[string]string{
				"response_type": "code", "client_id": ClientID, "redirect_uri": lb.uri, "state": "v",
				"code_challenge": challenge, "code_challenge_method": "S256"}))
			consent(t, e, b, page, "allow", "patients.read", "notes.write")
			code := lb.wait(t).Get("code")
			status, tr := postToken(t, e, url.Values{"grant_type": {"authorization_code"}, "client_id": {ClientID},
				"code": {code}, "redirect_uri": {lb.uri}, "code_verifier": {verifier}})
			if status == 200 || tr.AccessToken != "" || tr.Error == "" {
				t.Fatalf("verifier %q: %d %+v, want refused", verifier, status, tr)
			}
		}
	})
}

func TestRedirectURIRefused(t *testing.T) {
	e := newEnv(t, "Kalix")
	_, challenge := pkce()
	for _, uri := range []string{
		"", "http://localhost:5000/callback", "https://127.0.0.1:5000/callback", "http://127.0.0.1/callback",
		"http://127.0.0.1:5000/cb", "http://127.0.0.2:5000/callback", "http://evil.example/callback",
		"http://127.0.0.1:5000/callback?x=1", "http://user@127.0.0.1:5000/callback", "http://127.0.0.1:99999/callback",
	} {
		resp, err := noRedirects(newBrowser(t)).Get(authorizeURL(e.base+"/oauth/authorize", map[string]string{
			"response_type": "code", "client_id": ClientID, "redirect_uri": uri, "state": "s",
			"code_challenge": challenge, "code_challenge_method": "S256"}))
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "redirect_uri") {
			t.Errorf("redirect_uri %q: %d Location %q, want a 400 page naming redirect_uri", uri, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, err := http.Get(authorizeURL(e.base+"/oauth/authorize", map[string]string{"response_type": "code", "client_id": "someone-else",
		"redirect_uri": "http://127.0.0.1:5000/callback", "code_challenge": challenge, "code_challenge_method": "S256"}))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "client_id") {
		t.Errorf("unknown client: %d %s", resp.StatusCode, body)
	}

	// A code issued for one loopback port cannot be exchanged naming another.
	lb := newLoopback(t)
	verifier, challenge := pkce()
	b := newBrowser(t)
	page := login(t, e, b, authorizeURL(e.base+"/oauth/authorize", map[string]string{
		"response_type": "code", "client_id": ClientID, "redirect_uri": lb.uri, "state": "p",
		"code_challenge": challenge, "code_challenge_method": "S256"}))
	consent(t, e, b, page, "allow", "patients.read")
	code := lb.wait(t).Get("code")
	status, tr := postToken(t, e, url.Values{"grant_type": {"authorization_code"}, "client_id": {ClientID}, "code": {code},
		"redirect_uri": {"http://127.0.0.1:1/callback"}, "code_verifier": {verifier}})
	if status == 200 || tr.Error != "invalid_grant" {
		t.Fatalf("exchange with another redirect_uri: %d %+v, want invalid_grant", status, tr)
	}
}

func TestMissingScope(t *testing.T) {
	e := newEnv(t, "Osmind")
	tok := connect(t, e, "patients.read") // the admin unticked "Write notes"
	if tok.Scope != "patients.read" {
		t.Fatalf("scope %q, want patients.read", tok.Scope)
	}
	if r := call(t, e, tok.AccessToken, "GET", "/api/patients", ""); r.status != 200 {
		t.Fatalf("read with patients.read: %d", r.status)
	}
	r := call(t, e, tok.AccessToken, "POST", "/api/patients/OSM-10001/notes",
		`{"provider_id":"OSM-PR-501","visit_date":"2026-03-01","content":"x","content_type":"text/plain"}`)
	body := decode[errorBody](t, r.body)
	if r.status != http.StatusForbidden || body.Error != "insufficient_scope" || body.Scope != "notes.write" ||
		!strings.Contains(body.Message, "notes.write") || !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="notes.write"`) {
		t.Fatalf("push without notes.write: %d %s", r.status, r.body)
	}
	if docs, _ := e.srv.Documents(t.Context()); len(docs) != 0 {
		t.Fatalf("a refused push landed: %+v", docs)
	}
	// A refresh cannot widen the grant.
	status, tr := postToken(t, e, url.Values{"grant_type": {"refresh_token"}, "client_id": {ClientID},
		"refresh_token": {tok.RefreshToken}, "scope": {"patients.read notes.write"}})
	if status == 200 {
		t.Fatalf("refresh widened the scope: %+v", tr)
	}
}

func TestConsentDeniedAndBadLogin(t *testing.T) {
	e := newEnv(t, "Kalix")
	lb := newLoopback(t)
	_, challenge := pkce()
	authURL := authorizeURL(e.base+"/oauth/authorize", map[string]string{"response_type": "code", "client_id": ClientID,
		"redirect_uri": lb.uri, "state": "deny-me", "code_challenge": challenge, "code_challenge_method": "S256"})

	b := newBrowser(t)
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	form := formFields(t, readAll(t, resp))
	form.Set("email", AdminEmail("Kalix"))
	form.Set("password", "wrong")
	resp, err = b.PostForm(e.base+"/oauth/login", form)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "email or password is wrong") {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, body)
	}
	// A consent post without a session or with a forged CSRF token grants nothing.
	form.Set("decision", "allow")
	form.Set("csrf", "forged")
	resp, err = b.PostForm(e.base+"/oauth/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); !strings.Contains(body, "/oauth/login") {
		t.Fatalf("consent without a session: %d, want the login page", resp.StatusCode)
	}

	page := login(t, e, b, authURL)
	forged := formFields(t, page)
	forged.Set("csrf", "forged")
	forged.Set("decision", "allow")
	resp, err = noRedirects(b).PostForm(e.base+"/oauth/consent", forged)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
		t.Fatalf("forged csrf: %d", resp.StatusCode)
	}

	consent(t, e, b, page, "deny", "patients.read", "notes.write")
	q := lb.wait(t)
	if q.Get("error") != "access_denied" || q.Get("state") != "deny-me" || q.Get("code") != "" {
		t.Fatalf("deny: callback %v", q)
	}
}

func TestTokensStoredHashed(t *testing.T) {
	e := newEnv(t, "Osmind")
	tok := connect(t, e, "patients.read", "notes.write")
	var raw []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(e.dir, "osmind.db"+suffix))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if len(raw) == 0 {
		t.Fatal("no database bytes read")
	}
	for what, secret := range map[string]string{"access": tok.AccessToken, "refresh": tok.RefreshToken} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the %s token is stored in the clear", what)
		}
		if !bytes.Contains(raw, hashSecret(secret)) {
			t.Errorf("the %s token's hash is not in the database", what)
		}
	}
	info, err := os.Stat(filepath.Join(e.dir, "osmind.db"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
}

func TestIdempotentPushConcurrent(t *testing.T) {
	e := newEnv(t, "Kalix")
	tok := connect(t, e, "patients.read", "notes.write")
	push := `{"provider_id":"klx-prov-02","visit_date":"2026-02-27","content":"D: session","content_type":"text/markdown"}`
	const n = 8
	bodies := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := call(t, e, tok.AccessToken, "POST", "/api/patients/klx-pt-0105/notes", push, "Idempotency-Key", "same-key")
			bodies[i], statuses[i] = r.body, r.status
		})
	}
	wg.Wait()
	for i := range n {
		if statuses[i] != http.StatusCreated || bodies[i] != bodies[0] {
			t.Fatalf("request %d: %d %s, want 201 %s", i, statuses[i], bodies[i], bodies[0])
		}
	}
	docs, err := e.srv.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || e.srv.EffectCount("same-key") != 1 {
		t.Fatalf("%d documents, EffectCount %d; want 1 and 1", len(docs), e.srv.EffectCount("same-key"))
	}
	// The same key for a different request is refused, not replayed.
	other := strings.Replace(push, "D: session", "D: another session", 1)
	r := call(t, e, tok.AccessToken, "POST", "/api/patients/klx-pt-0105/notes", other, "Idempotency-Key", "same-key")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "idempotency_key_reused") {
		t.Fatalf("reused key: %d %s", r.status, r.body)
	}
	// Without a key every push is a new note.
	for range 2 {
		if r := call(t, e, tok.AccessToken, "POST", "/api/patients/klx-pt-0105/notes", push); r.status != 201 {
			t.Fatalf("push without key: %d %s", r.status, r.body)
		}
	}
	if docs, _ := e.srv.Documents(t.Context()); len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
}

func TestPushValidation(t *testing.T) {
	e := newEnv(t, "Osmind")
	tok := connect(t, e, "patients.read", "notes.write")
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             []string
	}{
		{"blank", "/api/patients/OSM-10001/notes", `{}`, 422, []string{"provider_id", "visit_date", "content", "content_type"}},
		{"bad date and type", "/api/patients/OSM-10001/notes", `{"provider_id":"OSM-PR-501","visit_date":"03/01/2026","content":"x","content_type":"application/pdf"}`, 422, []string{"visit_date", "content_type"}},
		{"unknown field", "/api/patients/OSM-10001/notes", `{"provider":"OSM-PR-501"}`, 400, []string{"provider"}},
		{"unknown provider", "/api/patients/OSM-10001/notes", `{"provider_id":"klx-prov-01","visit_date":"2026-03-01","content":"x","content_type":"text/plain"}`, 422, []string{"klx-prov-01", "GET /api/providers"}},
		{"unknown patient", "/api/patients/OSM-99999/notes", `{"provider_id":"OSM-PR-501","visit_date":"2026-03-01","content":"x","content_type":"text/plain"}`, 404, []string{"OSM-99999"}},
		{"replace missing note", "/api/patients/OSM-10001/notes/77", `{"content":"x"}`, 404, []string{"77"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if strings.Contains(tc.path, "/notes/") {
				method = "PUT"
			}
			r := call(t, e, tok.AccessToken, method, tc.path, tc.body, "Idempotency-Key", "v-"+tc.name)
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("body %s does not name %q", r.body, w)
				}
			}
			if n := e.srv.EffectCount("v-" + tc.name); n != 0 {
				t.Errorf("EffectCount %d for a refused request", n)
			}
		})
	}
	if r := call(t, e, tok.AccessToken, "GET", "/api/patients?updated_since=yesterday", ""); r.status != 400 || !strings.Contains(r.body, "updated_since") {
		t.Errorf("bad updated_since: %d %s", r.status, r.body)
	}
	if r := call(t, e, "", "GET", "/api/patients", ""); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	if r := call(t, e, "not-a-token", "GET", "/api/patients", ""); r.status != 401 || !strings.Contains(r.body, "invalid_token") {
		t.Errorf("bad token: %d %s", r.status, r.body)
	}
	// A corrected retry with the key of a refused request runs.
	r := call(t, e, tok.AccessToken, "POST", "/api/patients/OSM-10001/notes",
		`{"provider_id":"OSM-PR-501","visit_date":"2026-03-01","content":"x","content_type":"text/plain"}`, "Idempotency-Key", "v-blank")
	if r.status != 201 || e.srv.EffectCount("v-blank") != 1 {
		t.Fatalf("corrected retry: %d %s", r.status, r.body)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, "Osmind")
	e.srv.Faults().SetAccessTokenTTL(time.Minute)
	tok := connect(t, e, "patients.read")
	if tok.ExpiresIn != 60 {
		t.Fatalf("expires_in %d, want 60 with the shortened lifetime", tok.ExpiresIn)
	}
	e.clock.advance(61 * time.Second)
	if r := call(t, e, tok.AccessToken, "GET", "/api/providers", ""); r.status != 401 {
		t.Fatalf("after the shortened lifetime: %d", r.status)
	}

	e.srv.Faults().Burst429(2, 1500*time.Millisecond)
	for i := range 2 {
		if r := call(t, e, "x", "GET", "/api/providers", ""); r.status != 429 || r.header.Get("Retry-After") != "2" {
			t.Fatalf("burst %d: %d Retry-After %q", i, r.status, r.header.Get("Retry-After"))
		}
	}
	if r := call(t, e, "x", "GET", "/api/providers", ""); r.status != 401 {
		t.Fatalf("after the burst: %d, want the request handled", r.status)
	}
	e.srv.Faults().SetErrorRate(1)
	if r := call(t, e, "x", "GET", "/api/providers", ""); r.status != 503 {
		t.Fatalf("error rate 1: %d", r.status)
	}
	// The login pages and the metadata are spared: a browser does not retry.
	if r := call(t, e, "", "GET", "/.well-known/oauth-authorization-server", ""); r.status != 200 {
		t.Errorf("metadata under error rate 1: %d, want it spared", r.status)
	}
	e.srv.Faults().Reset()
	if r := call(t, e, "x", "GET", "/api/providers", ""); r.status != 401 {
		t.Fatalf("after Reset: %d", r.status)
	}
	if tok := connect(t, e, "patients.read"); tok.ExpiresIn != int(AccessTokenTTL.Seconds()) {
		t.Errorf("after Reset expires_in %d, want the full %v", tok.ExpiresIn, AccessTokenTTL)
	}

	// A lost reply: the note is filed, the client sees the connection cut; the retry with the same
	// key replays without filing it again.
	write := connect(t, e, "notes.write")
	const body = `{"provider_id":"OSM-PR-501","visit_date":"2026-03-01","content":"lost reply","content_type":"text/plain"}`
	e.srv.Faults().SetLostReplyRate(1)
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.base+"/api/patients/OSM-10001/notes", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+write.AccessToken)
	req.Header.Set("Idempotency-Key", "lost-1")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("lost reply rate 1: got a reply %d", resp.StatusCode)
	}
	if n := e.srv.EffectCount("lost-1"); n != 1 {
		t.Fatalf("the lost-reply write had %d effects, want 1", n)
	}
	e.srv.Faults().SetLostReplyRate(0)
	if r := call(t, e, write.AccessToken, "POST", "/api/patients/OSM-10001/notes", body, "Idempotency-Key", "lost-1"); r.status != 201 || e.srv.EffectCount("lost-1") != 1 {
		t.Errorf("retry after a lost reply: %d, %d effects; want 201 and still 1", r.status, e.srv.EffectCount("lost-1"))
	}
}

func TestReopenAndConfig(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		s, err := New(t.Context(), Config{Name: "Kalix", Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM patients`).Scan(&n); err != nil || n != 25 {
			t.Fatalf("patients %d (%v), want 25 after each open", n, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, cfg := range []Config{{Name: "Epic", Dir: dir}, {Name: "Osmind"}, {Name: "Osmind", Dir: dir, Prefix: "osmind/"}} {
		if _, err := New(t.Context(), cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestRostersDiffer(t *testing.T) {
	o, k := spell("Osmind", seedPatients[3]), spell("Kalix", seedPatients[3])
	if o.first != "Sofia" || o.middle != "I." || k.last != "Garcia" || k.middle != "Isabel" {
		t.Fatalf("Osmind %+v, Kalix %+v", o, k)
	}
	if providerID("Osmind", 0) == providerID("Kalix", 0) || patientID("Osmind", 0) == patientID("Kalix", 0) {
		t.Fatal("the EHRs share ids")
	}
}

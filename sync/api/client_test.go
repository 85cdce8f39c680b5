package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestParseBaseURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"https://nextvisit.app/api", "https://nextvisit.app/api"},
		{"  https://ea.nextvisit.app/api/  ", "https://ea.nextvisit.app/api"},
		{"http://127.0.0.1:8080/api//", "http://127.0.0.1:8080/api"},
		{"https://nextvisit.app", "https://nextvisit.app"},
		{"http://localhost:8080/api", "http://localhost:8080/api"},
		{"http://[::1]:8080/api", "http://[::1]:8080/api"},
	} {
		u, err := ParseBaseURL(tc.in)
		if err != nil {
			t.Errorf("ParseBaseURL(%q): %v", tc.in, err)
			continue
		}
		if u.String() != tc.want {
			t.Errorf("ParseBaseURL(%q) = %q, want %q", tc.in, u, tc.want)
		}
	}
	for _, tc := range []struct {
		in, says string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"nextvisit", "does not start with https://"},
		{"nextvisit.app/api", "does not start with https://"},
		{"ht!tp://", "is not a URL"},
		{"ftp://x", "uses ftp://"},
		{"http://", "no host"},
		{"https:///api", "no host"},
		{"mailto:someone@example.com", "uses mailto://"},
		{"https://nextvisit.app/api?x=1", "?query"},
		{"https://nextvisit.app/api#top", "#fragment"},
		{"https://nextvisit.app:/api", "empty port"},
		{"https://user:hunter2@nextvisit.app/api", "user name or password"},
		{"ht!tp://user:hunter2@x", "is not a URL"},
		{"http://nextvisit.app/api", "plain http://"},
		{"http://192.168.1.20:8080/api", "plain http://"},
		{"http://localhost.nextvisit.app/api", "plain http://"},
		{"HTTP://nextvisit.app/api", "plain http://"},
	} {
		_, err := ParseBaseURL(tc.in)
		if err == nil {
			t.Errorf("ParseBaseURL(%q) accepted it", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.says) || !strings.Contains(msg, "such as https://nextvisit.app/api") {
			t.Errorf("ParseBaseURL(%q) error %q: want it to say %q and give an example", tc.in, msg, tc.says)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("ParseBaseURL(%q) error %q repeats the password", tc.in, msg)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New("nextvisit", Options{}); err == nil || !strings.Contains(err.Error(), "not a URL") {
		t.Errorf("New(nextvisit) err = %v", err)
	}
	if _, err := New(ProductionURL, Options{MaxAttempts: -1}); err == nil {
		t.Error("New accepted MaxAttempts -1")
	}
	c, err := New(BetaURL+"/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != BetaURL {
		t.Errorf("BaseURL = %q, want %q", c.BaseURL(), BetaURL)
	}
}

func TestHeadersAndTokens(t *testing.T) {
	var mu sync.Mutex
	auth := map[string]string{}
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		auth[r.Method+" "+r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		if got := r.Header.Get("User-Agent"); got != "Scribe/9.9.9" {
			t.Errorf("User-Agent = %q", got)
		}
		switch r.URL.Path {
		case "/api/v1/tokens":
			var body map[string]string
			_ = json.NewDecoder(r.Body).Decode(&body)
			if body["email"] != "doc@example.com" || body["password"] != "pw" || body["device_name"] != "laptop" {
				t.Errorf("login body = %v", body)
			}
			writeJSON(w, http.StatusCreated, map[string]any{"token": "new-token", "expires_at": "2030-01-01T00:00:00Z"})
		case "/api/v1/tokens/current":
			writeJSON(w, http.StatusOK, map[string]any{"message": "Logged out"})
		default:
			writeJSON(w, http.StatusOK, sampleUser)
		}
	})
	anon, err := New(s.base(), Options{UserAgent: "Scribe/9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := anon.Login(t.Context(), "doc@example.com", "pw", "laptop")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if tok.Token != "new-token" || tok.ExpiresAt.Year() != 2030 {
		t.Errorf("token = %+v", tok)
	}
	signed := anon.WithToken(tok.Token)
	if _, err := signed.User(t.Context()); err != nil {
		t.Fatalf("User: %v", err)
	}
	if err := signed.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if err := anon.Logout(t.Context()); err == nil {
		t.Error("Logout without a token succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	for req, want := range map[string]string{
		"POST /api/v1/tokens":           "",
		"GET /api/v1/user":              "Bearer new-token",
		"DELETE /api/v1/tokens/current": "Bearer new-token",
	} {
		if got := auth[req]; got != want {
			t.Errorf("%s Authorization = %q, want %q", req, got, want)
		}
	}
}

func TestLoginChecksInputAndAnswer(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusCreated, map[string]any{"token": "", "expires_at": "2030-01-01T00:00:00Z"})
	})
	c, _ := newTestClient(t, s.base(), Options{})
	if _, err := c.Login(t.Context(), "not an email", "pw", "laptop"); err == nil || !strings.Contains(err.Error(), "not an email address") {
		t.Errorf("Login(bad email) err = %v", err)
	}
	if got := s.hits.Load(); got != 0 {
		t.Errorf("a bad email reached the server (%d requests)", got)
	}
	if _, err := c.Login(t.Context(), "doc@example.com", "pw", "laptop"); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("Login with an empty token in the answer: err = %v", err)
	}
}

func TestBadStoredTokenIsRefusedLocally(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusOK, sampleUser)
	})
	c, _ := newTestClient(t, s.base(), Options{})
	_, err := c.WithToken("abc\r\nX-Evil: 1").User(t.Context())
	if err == nil || !strings.Contains(err.Error(), "sign in again") || strings.Contains(err.Error(), "Evil") {
		t.Errorf("err = %v", err)
	}
	if got := s.hits.Load(); got != 0 {
		t.Errorf("requests = %d, want 0", got)
	}
}

func TestOperationsUseTheirRoutes(t *testing.T) {
	type route struct{ method, path string }
	var mu sync.Mutex
	seen := map[route]string{}
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		seen[route{r.Method, r.URL.Path}] = r.URL.RawQuery
		mu.Unlock()
		patient := map[string]any{"id": 5, "first_name": "A", "last_name": "B"}
		list := func(item any) map[string]any {
			return map[string]any{"data": []any{item}, "links": map[string]any{}, "meta": map[string]any{"current_page": 1, "last_page": 1, "per_page": 15, "total": 1}}
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /api/v1/tokens":
			writeJSON(w, 200, map[string]any{"data": []any{map[string]any{"id": 1, "name": "laptop", "created_at": "2025-01-01T00:00:00Z"}}})
		case "DELETE /api/v1/tokens/3", "DELETE /api/v1/patients/5", "DELETE /api/v1/progress-notes/9":
			writeJSON(w, 200, map[string]any{"message": "deleted"})
		case "PUT /api/v1/user":
			writeJSON(w, 200, sampleUser)
		case "GET /api/v1/team/users":
			writeJSON(w, 200, map[string]any{"data": []any{sampleUser, map[string]any{"id": 8, "name": "Dr. B", "email": "b@example.com"}}})
		case "GET /api/v1/patients":
			writeJSON(w, 200, list(patient))
		case "GET /api/v1/patients/5", "PUT /api/v1/patients/5":
			writeJSON(w, 200, patient)
		case "GET /api/v1/templates":
			writeJSON(w, 200, map[string]any{"data": []any{map[string]any{"id": 1, "name": "SOAP"}}})
		case "GET /api/v1/progress-notes":
			writeJSON(w, 200, list(sampleNote(9)))
		case "GET /api/v1/progress-notes/9", "PUT /api/v1/progress-notes/9", "PUT /api/v1/progress-notes/9/sign", "PUT /api/v1/progress-notes/9/unsign":
			writeJSON(w, 200, sampleNote(9))
		case "GET /api/v1/progress-notes/9/audio-url":
			writeJSON(w, 200, map[string]any{"url": "https://files.example/a.wav?sig=1"})
		case "POST /api/v1/transcription/token":
			writeJSON(w, 201, map[string]any{"token": "st", "expires_in_seconds": 60, "url": "ws://x/v1/stream", "max_session_duration_seconds": 3600})
		case "GET /api/v1/billing/plan":
			writeJSON(w, 200, map[string]any{"name": "Solo"})
		case "GET /api/v1/billing/usage":
			writeJSON(w, 200, map[string]any{"notes_created": 3})
		case "GET /api/v1/billing/estimate":
			writeJSON(w, 200, map[string]any{"amount_cents": 4900})
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	})
	c, _ := newTestClient(t, s.base(), Options{})
	ctx := t.Context()
	name := "New name"
	check := func(op string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
	toks, err := c.Tokens(ctx)
	check("Tokens", err)
	if len(toks) != 1 || toks[0].Name != "laptop" {
		t.Errorf("tokens = %+v", toks)
	}
	check("RevokeToken", c.RevokeToken(ctx, 3))
	_, err = c.UpdateUser(ctx, UserUpdate{Name: &name})
	check("UpdateUser", err)
	team, err := c.TeamUsers(ctx)
	check("TeamUsers", err)
	if len(team) != 2 || team[0].Id != 7 || team[1].Id != 8 || team[1].Email != "b@example.com" {
		t.Errorf("team users = %+v", team)
	}
	pp, err := c.PatientsPage(ctx, PatientQuery{Search: "Jo Ann", PerPage: 20}, 0)
	check("PatientsPage", err)
	if len(pp.Items) != 1 || pp.Items[0].Id != 5 || pp.Meta.TotalItems() != 1 {
		t.Errorf("patients page = %+v", pp)
	}
	_, err = c.Patient(ctx, 5)
	check("Patient", err)
	_, err = c.UpdatePatient(ctx, 5, PatientUpdate{FirstName: &name})
	check("UpdatePatient", err)
	check("DeletePatient", c.DeletePatient(ctx, 5))
	tpls, err := c.Templates(ctx)
	check("Templates", err)
	if len(tpls) != 1 || tpls[0].Name != "SOAP" {
		t.Errorf("templates = %+v", tpls)
	}
	_, err = c.NotesPage(ctx, NoteQuery{PatientID: 5, PerPage: 10, SortBy: "oldest"}, 2)
	check("NotesPage", err)
	_, err = c.Note(ctx, 9)
	check("Note", err)
	_, err = c.UpdateNote(ctx, 9, ProgressNoteUpdate{Name: &name})
	check("UpdateNote", err)
	_, err = c.SignNote(ctx, 9)
	check("SignNote", err)
	_, err = c.UnsignNote(ctx, 9)
	check("UnsignNote", err)
	u, err := c.NoteAudioURL(ctx, 9)
	check("NoteAudioURL", err)
	if u != "https://files.example/a.wav?sig=1" {
		t.Errorf("audio url = %q", u)
	}
	check("DeleteNote", c.DeleteNote(ctx, 9))
	st, err := c.StreamingToken(ctx, 60)
	check("StreamingToken", err)
	if st.Token != "st" || st.MaxSessionDurationSeconds != 3600 {
		t.Errorf("streaming token = %+v", st)
	}
	plan, err := c.BillingPlan(ctx)
	check("BillingPlan", err)
	usage, err := c.BillingUsage(ctx)
	check("BillingUsage", err)
	est, err := c.BillingEstimate(ctx)
	check("BillingEstimate", err)
	if plan.Name != "Solo" || *usage.NotesCreated != 3 || *est.AmountCents != 4900 {
		t.Errorf("billing = %+v %+v %+v", plan, usage, est)
	}

	mu.Lock()
	defer mu.Unlock()
	for r, want := range map[route]string{
		{"GET", "/api/v1/patients"}:       "page=1&per_page=20&search=Jo+Ann",
		{"GET", "/api/v1/progress-notes"}: "page=2&patient_id=5&per_page=10&sort_by=oldest",
	} {
		q, err := url.ParseQuery(seen[r])
		if err != nil || q.Encode() != want {
			t.Errorf("%s query = %q, want %q", r.path, seen[r], want)
		}
	}
}

// A team-users answer that is not a list of users is ErrBadResponse; a server without the (inferred)
// operation is ErrNotFound, which the app answers with the signed-in user alone.
func TestTeamUsersChecksAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   any
		want   error
	}{
		{"empty list", 200, map[string]any{"data": []any{}}, ErrBadResponse},
		{"no data", 200, map[string]any{}, ErrBadResponse},
		{"user without id", 200, map[string]any{"data": []any{map[string]any{"name": "X", "email": "x@example.com"}}}, ErrBadResponse},
		{"not JSON", 200, "<html>", ErrBadResponse},
		{"no such operation", 404, map[string]any{"message": "Not Found"}, ErrNotFound},
		{"signed out", 401, map[string]any{"message": "Unauthenticated."}, ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if r.URL.Path != "/api/v1/team/users" {
					t.Errorf("request to %s", r.URL.Path)
				}
				if b, ok := tc.body.(string); ok {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(b))
					return
				}
				writeJSON(w, tc.status, tc.body)
			})
			c, _ := newTestClient(t, s.base(), Options{})
			users, err := c.TeamUsers(t.Context())
			if !errors.Is(err, tc.want) || users != nil {
				t.Errorf("TeamUsers = %+v, %v; want %v", users, err, tc.want)
			}
		})
	}
}

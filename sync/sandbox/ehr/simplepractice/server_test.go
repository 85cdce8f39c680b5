package simplepractice

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type env struct {
	t     *testing.T
	s     *Server
	base  string
	token string
}

const mount = "/simplepractice"

func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	s, err := New(t.Context(), Config{Dir: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mux := http.NewServeMux()
	mux.Handle(mount+"/", http.StripPrefix(mount, s.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, s: s, base: srv.URL + mount, token: SampleToken}
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	err    errorDetail
}

func (e *env) do(method, path, key string, body any) reply {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(e.t.Context(), method, e.base+path, r)
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out := reply{status: res.StatusCode, header: res.Header}
	if out.raw, err = io.ReadAll(res.Body); err != nil {
		e.t.Fatal(err)
	}
	if out.status >= 300 {
		var eb errorBody
		if err := json.Unmarshal(out.raw, &eb); err != nil || eb.Error.Message == "" {
			e.t.Fatalf("%s %s: error %d without an error body: %s", method, path, out.status, out.raw)
		}
		out.err = eb.Error
	}
	return out
}

func mustDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

func note(client, clinician int64, date, body string) map[string]any {
	return map[string]any{"client_id": client, "clinician_id": clinician, "date": date, "body": body, "format": "plain"}
}

func TestWhoAmIChecksTheToken(t *testing.T) {
	e := newEnv(t, "")
	r := e.do("GET", "/api/me", "", nil)
	var me meBody
	mustDecode(t, r.raw, &me)
	if r.status != 200 || me.Practice.Name != practiceName || me.User.Email == "" {
		t.Fatalf("me: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct{ name, token, want string }{
		{"none", "", "No API token"},
		{"wrong", "sp_sandbox_wrong", "not valid"},
	} {
		e.token = tc.token
		if r := e.do("GET", "/api/me", "", nil); r.status != 401 || !strings.Contains(r.err.Message, tc.want) {
			t.Errorf("%s token: %d %s, want 401 saying %q", tc.name, r.status, r.raw, tc.want)
		}
	}
	e.token = SampleToken
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.base+"/api/me", nil)
	req.Header.Set("Authorization", SampleToken) // no scheme
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("token without Bearer: %d", res.StatusCode)
	}
	e.s.SetTokenRevoked(true)
	if r := e.do("GET", "/api/me", "", nil); r.status != 401 || !strings.Contains(r.err.Message, "revoked") {
		t.Fatalf("revoked: %d %s", r.status, r.raw)
	}
	e.s.SetTokenRevoked(false)
	if r := e.do("GET", "/api/me", "", nil); r.status != 200 {
		t.Fatalf("restored: %d", r.status)
	}
}

func TestCliniciansAndClientLookup(t *testing.T) {
	e := newEnv(t, "")
	var cs struct{ Clinicians []clinicianBody }
	mustDecode(t, e.do("GET", "/api/clinicians", "", nil).raw, &cs)
	var names []string
	for _, c := range cs.Clinicians {
		names = append(names, c.Name+" <"+c.Email+">")
	}
	want := "Samuel Rivera MD <clinician@sandbox.local>; Maya Okafor PsyD <maya.okafor@sandbox.local>; Luis Ferreira LCSW <lferreira@riversidebh.example>"
	if got := strings.Join(names, "; "); got != want {
		t.Fatalf("clinicians:\n got %s\nwant %s", got, want)
	}

	var found struct{ Clients []clientBody }
	mustDecode(t, e.do("GET", "/api/clients?last_name=garcia", "", nil).raw, &found)
	if len(found.Clients) != 1 || found.Clients[0].FirstName != "Sofia" || found.Clients[0].DateOfBirth != "2001-02-14" {
		t.Fatalf("lookup garcia: %+v", found.Clients)
	}
	mustDecode(t, e.do("GET", "/api/clients?last_name=garcia&date_of_birth=2001-02-15", "", nil).raw, &found)
	if len(found.Clients) != 0 {
		t.Fatalf("lookup with another DOB: %+v", found.Clients)
	}
	if r := e.do("GET", "/api/clients", "", nil); r.status != 422 || r.err.Fields["last_name"] == "" {
		t.Fatalf("lookup without last_name: %d %s", r.status, r.raw)
	}
}

func TestPushedNoteLandsInTheChart(t *testing.T) {
	e := newEnv(t, "")
	r := e.do("POST", "/api/notes", "enc-1-v1", note(7001, 1, "2026-11-19", "S: better sleep.\nP: continue."))
	if r.status != 201 {
		t.Fatalf("push: %d %s", r.status, r.raw)
	}
	var created struct{ Note noteBody }
	mustDecode(t, r.raw, &created)
	var got struct{ Note noteBody }
	mustDecode(t, e.do("GET", fmt.Sprintf("/api/notes/%d", created.Note.ID), "", nil).raw, &got)
	if got.Note != created.Note || got.Note.Version != 1 {
		t.Fatalf("read back %+v, pushed %+v", got.Note, created.Note)
	}
	var list struct{ Notes []noteBody }
	mustDecode(t, e.do("GET", "/api/notes?client_id=7001&date=2026-11-19", "", nil).raw, &list)
	if len(list.Notes) != 1 || list.Notes[0].ID != created.Note.ID {
		t.Fatalf("list: %+v", list.Notes)
	}
	docs, err := e.s.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].PatientID != 7001 || docs[0].ProviderID != 1 || docs[0].VisitDate != "2026-11-19" ||
		docs[0].Content != "S: better sleep.\nP: continue." || docs[0].IdempotencyKey != "enc-1-v1" || e.s.EffectCount("enc-1-v1") != 1 {
		t.Fatalf("chart: %+v", docs)
	}
	if r := e.do("GET", "/api/notes/999", "", nil); r.status != 404 {
		t.Fatalf("unknown note: %d", r.status)
	}
}

func TestPushIsIdempotent(t *testing.T) {
	e := newEnv(t, "")
	first := e.do("POST", "/api/notes", "enc-2-v1", note(7002, 2, "2026-11-18", "note"))
	again := e.do("POST", "/api/notes", "enc-2-v1", note(7002, 2, "2026-11-18", "note"))
	if first.status != 201 || !bytes.Equal(first.raw, again.raw) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s / %s", first.status, first.raw, again.raw)
	}
	const n = 8
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			raw, _ := json.Marshal(note(7003, 3, "2026-11-18", "concurrent"))
			req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/api/notes", bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+SampleToken)
			req.Header.Set("Idempotency-Key", "enc-3-v1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			bodies[i], _ = io.ReadAll(res.Body)
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("concurrent answers differ:\n%s\n%s", bodies[0], bodies[i])
		}
	}
	docs, _ := e.s.Documents(t.Context())
	if len(docs) != 2 || e.s.EffectCount("enc-2-v1") != 1 || e.s.EffectCount("enc-3-v1") != 1 {
		t.Fatalf("%d notes for two pushes", len(docs))
	}
	// Without a key, each request is a new note (a client that wants once-only must send one).
	e.do("POST", "/api/notes", "", note(7004, 1, "2026-11-18", "a"))
	e.do("POST", "/api/notes", "", note(7004, 1, "2026-11-18", "a"))
	if docs, _ := e.s.Documents(t.Context()); len(docs) != 4 {
		t.Fatalf("%d notes, want 4", len(docs))
	}
}

func TestBadPushesSayWhatIsWrong(t *testing.T) {
	e := newEnv(t, "")
	cases := []struct {
		name  string
		body  any
		field string
		want  string
	}{
		{"empty", map[string]any{}, "client_id", "required"},
		{"unknown client", note(1, 1, "2026-11-19", "x"), "client_id", "no client has id 1"},
		{"unknown clinician", note(7001, 9, "2026-11-19", "x"), "clinician_id", "no clinician has id 9"},
		{"bad date", note(7001, 1, "11/19/2026", "x"), "date", "YYYY-MM-DD"},
		{"blank body", note(7001, 1, "2026-11-19", "  "), "body", "required"},
		{"bad format", map[string]any{"client_id": 7001, "clinician_id": 1, "date": "2026-11-19", "body": "x", "format": "rtf"}, "format", "plain, markdown or html"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/notes", "", tc.body)
			if r.status != 422 || !strings.Contains(r.err.Fields[tc.field], tc.want) {
				t.Fatalf("%d %s, want 422 with %s saying %q", r.status, r.raw, tc.field, tc.want)
			}
		})
	}
	for name, body := range map[string]string{
		"unknown field": `{"client_id":7001,"clinician_id":1,"date":"2026-11-19","body":"x","codes":["F41.1"]}`,
		"not JSON":      `client_id=7001`,
		"two objects":   `{"body":"x"}{"body":"y"}`,
	} {
		if r := e.do("POST", "/api/notes", "", body); r.status != 422 || !strings.Contains(r.err.Message, "not saved") {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if docs, _ := e.s.Documents(t.Context()); len(docs) != 0 {
		t.Fatalf("bad pushes saved %d notes", len(docs))
	}
	// A key first used for one request cannot be used for another.
	e.do("POST", "/api/notes", "k", note(7001, 1, "2026-11-19", "x"))
	if r := e.do("PUT", "/api/notes/1", "k", map[string]any{"body": "y"}); r.status != 422 || !strings.Contains(r.err.Message, "another request") {
		t.Fatalf("key reuse: %d %s", r.status, r.raw)
	}
}

func TestReplaceKeepsOneNote(t *testing.T) {
	e := newEnv(t, "")
	var created struct{ Note noteBody }
	mustDecode(t, e.do("POST", "/api/notes", "v1", note(7005, 2, "2026-11-17", "first")).raw, &created)
	path := fmt.Sprintf("/api/notes/%d", created.Note.ID)
	r := e.do("PUT", path, "v2", map[string]any{"body": "# second", "format": "markdown"})
	again := e.do("PUT", path, "v2", map[string]any{"body": "# second", "format": "markdown"})
	if r.status != 200 || !bytes.Equal(r.raw, again.raw) {
		t.Fatalf("replace: %d %s / %s", r.status, r.raw, again.raw)
	}
	docs, _ := e.s.Documents(t.Context())
	if len(docs) != 1 || docs[0].Content != "# second" || docs[0].Format != "markdown" || docs[0].Version != 2 || e.s.EffectCount("v2") != 1 {
		t.Fatalf("after replace: %+v", docs)
	}
	if r := e.do("PUT", path, "", map[string]any{"body": "x", "client_id": 7006}); r.status != 422 || r.err.Fields["client_id"] == "" {
		t.Fatalf("moving a note to another client: %d %s", r.status, r.raw)
	}
	if r := e.do("PUT", "/api/notes/999", "", map[string]any{"body": "x"}); r.status != 404 {
		t.Fatalf("replace unknown: %d", r.status)
	}
}

func TestLostReplyThenRetry(t *testing.T) {
	e := newEnv(t, "")
	e.s.Faults().SetLostReplyRate(1)
	raw, _ := json.Marshal(note(7001, 1, "2026-11-19", "once"))
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/api/notes", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+SampleToken)
	req.Header.Set("Idempotency-Key", "lost")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("lost reply arrived: %d", res.StatusCode)
	}
	e.s.Faults().Reset()
	e.s.Faults().Burst429(1, time.Second)
	if r := e.do("POST", "/api/notes", "lost", note(7001, 1, "2026-11-19", "once")); r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("burst: %d", r.status)
	}
	if r := e.do("POST", "/api/notes", "lost", note(7001, 1, "2026-11-19", "once")); r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
	if docs, _ := e.s.Documents(t.Context()); len(docs) != 1 {
		t.Fatalf("%d notes", len(docs))
	}
}

func TestStatePersistsAndIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sp")
	e := newEnv(t, dir)
	e.do("POST", "/api/notes", "kept", note(7001, 1, "2026-11-19", "kept"))
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "simplepractice.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Fatalf("%s is %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	e2 := newEnv(t, dir)
	if r := e2.do("POST", "/api/notes", "kept", note(7001, 1, "2026-11-19", "kept")); r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("key lost across restart: %d", r.status)
	}
	var cs struct{ Clinicians []clinicianBody }
	mustDecode(t, e2.do("GET", "/api/clinicians", "", nil).raw, &cs)
	docs, _ := e2.s.Documents(t.Context())
	if len(cs.Clinicians) != 3 || len(docs) != 1 {
		t.Fatalf("after restart: %d clinicians (seeded twice?), %d notes", len(cs.Clinicians), len(docs))
	}
}

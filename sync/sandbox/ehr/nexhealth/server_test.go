package nexhealth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	s     *Server
	clock *clock
	base  string // the mount point's URL, e.g. http://127.0.0.1:1234/nexhealth
	token string
}

const mount = "/nexhealth"

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Now = c.Now
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return mountEnv(t, s, c)
}

func mountEnv(t *testing.T, s *Server, c *clock) *env {
	mux := http.NewServeMux()
	mux.Handle(mount+"/", http.StripPrefix(mount, s.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, s: s, clock: c, base: srv.URL + mount}
	e.token = e.authenticate()
	return e
}

type reply struct {
	status int
	header http.Header
	env    struct {
		Code        bool            `json:"code"`
		Description []string        `json:"description"`
		Data        json.RawMessage `json:"data"`
		Error       []string        `json:"error"`
		Count       *int            `json:"count"`
	}
	raw []byte
}

func (e *env) do(req *http.Request) reply {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	var r reply
	r.status, r.header = res.StatusCode, res.Header
	if r.raw, err = io.ReadAll(res.Body); err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(r.raw, &r.env); err != nil {
		e.t.Fatalf("%s %s: body is not the envelope: %v\n%s", req.Method, req.URL.Path, err, r.raw)
	}
	if r.env.Code != (r.status < 300) {
		e.t.Fatalf("%s %s: status %d with code %v", req.Method, req.URL.Path, r.status, r.env.Code)
	}
	return r
}

func (e *env) authenticate() string {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.t.Context(), "POST", e.base+"/authenticates", nil)
	req.Header.Set("Authorization", SampleAPIKey)
	r := e.do(req)
	if r.status != 200 {
		e.t.Fatalf("authenticate: %d %s", r.status, r.raw)
	}
	var data tokenBody
	decode(e.t, r.env.Data, &data)
	return data.Token
}

func scope(loc int64) url.Values {
	return url.Values{"subdomain": {SampleSubdomain}, "location_id": {fmt.Sprint(loc)}}
}

func (e *env) get(path string, q url.Values) reply {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.t.Context(), "GET", e.base+path+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	return e.do(req)
}

func decode(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// pdf is a small but well-formed PDF with text, so the header and trailer checks see a real file.
func pdf(text string) []byte {
	return []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " + text + "\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

type part struct{ name, value string }

func multipartBody(t *testing.T, fileName string, file []byte, fields ...part) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", fileName)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b, mw.FormDataContentType()
}

func (e *env) postDoc(patient, loc int64, key string, file []byte, fields ...part) reply {
	e.t.Helper()
	body, ct := multipartBody(e.t, "Progress note 2026-11-19.pdf", file, fields...)
	req, _ := http.NewRequestWithContext(e.t.Context(), "POST", fmt.Sprintf("%s/patients/%d/documents?%s", e.base, patient, scope(loc).Encode()), body)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", ct)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return e.do(req)
}

func TestAuthenticateChecksTheKey(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct{ name, header, want string }{
		{"none", "", "No API key"},
		{"bearer scheme", "Bearer " + SampleAPIKey, "without \"Bearer\""},
		{"wrong key", "nex_sandbox_wrong", "not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/authenticates", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := e.do(req)
			if r.status != 401 || len(r.env.Error) != 1 || !strings.Contains(r.env.Error[0], tc.want) {
				t.Fatalf("got %d %s, want 401 saying %q", r.status, r.raw, tc.want)
			}
		})
	}
	// The token is a JWT whose claims say it lives 24 h, the sandbox lifetime.
	parts := strings.Split(e.token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", e.token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.Exp-c.Iat) * time.Second; got != DefaultTokenTTL {
		t.Fatalf("token lives %v, want %v", got, DefaultTokenTTL)
	}
}

func TestBearerTokenExpires(t *testing.T) {
	e := newEnv(t, Config{})
	q := scope(SampleLocationID)
	e.clock.Advance(DefaultTokenTTL - time.Second)
	if r := e.get("/providers", q); r.status != 200 {
		t.Fatalf("a token 1 s before expiry: %d %s", r.status, r.raw)
	}
	e.clock.Advance(time.Second)
	r := e.get("/providers", q)
	if r.status != 401 || !strings.Contains(r.env.Error[0], "expired") {
		t.Fatalf("an expired token: %d %s, want 401 saying it expired", r.status, r.raw)
	}

	// Shortened lifetimes apply to tokens issued afterwards.
	e.s.SetTokenTTL(time.Minute)
	e.token = e.authenticate()
	e.clock.Advance(59 * time.Second)
	if r := e.get("/providers", q); r.status != 200 {
		t.Fatalf("short-lived token before expiry: %d", r.status)
	}
	e.clock.Advance(time.Second)
	if r := e.get("/providers", q); r.status != 401 {
		t.Fatalf("short-lived token after expiry: %d, want 401", r.status)
	}

	for name, tok := range map[string]string{"garbage": "abc", "forged": e.token[:len(e.token)-2] + "xx", "api key": SampleAPIKey} {
		e.token = tok
		if r := e.get("/providers", q); r.status != 401 {
			t.Fatalf("%s token: %d, want 401", name, r.status)
		}
	}
}

func TestEveryRouteNeedsSubdomainAndLocation(t *testing.T) {
	e := newEnv(t, Config{})
	routes := []string{"/providers", "/patients", "/sync_status", "/document_types", "/patients/3001/documents"}
	cases := []struct {
		name   string
		q      url.Values
		status int
		want   string
	}{
		{"no subdomain", url.Values{"location_id": {"2101"}}, 403, "subdomain query parameter is required"},
		{"foreign subdomain", url.Values{"subdomain": {"someone-else"}, "location_id": {"2101"}}, 403, "do not have access"},
		{"no location", url.Values{"subdomain": {SampleSubdomain}}, 404, "location_id query parameter is required"},
		{"unknown location", url.Values{"subdomain": {SampleSubdomain}, "location_id": {"9999"}}, 404, "was not found"},
		{"non-numeric location", url.Values{"subdomain": {SampleSubdomain}, "location_id": {"main"}}, 404, "was not found"},
	}
	for _, route := range routes {
		for _, tc := range cases {
			r := e.get(route, tc.q)
			if r.status != tc.status || !strings.Contains(r.env.Error[0], tc.want) {
				t.Errorf("%s, %s: %d %s, want %d saying %q", route, tc.name, r.status, r.raw, tc.status, tc.want)
			}
		}
		if r := e.get(route, scope(SampleLocationID)); r.status != 200 {
			t.Errorf("%s scoped: %d %s", route, r.status, r.raw)
		}
	}
}

func TestProvidersPerLocation(t *testing.T) {
	e := newEnv(t, Config{})
	names := func(loc int64) []string {
		r := e.get("/providers", scope(loc))
		var ps []providerBody
		decode(t, r.env.Data, &ps)
		if r.env.Count == nil || *r.env.Count != len(ps) {
			t.Fatalf("count %v for %d providers", r.env.Count, len(ps))
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.Name+" <"+p.Email+">")
		}
		return out
	}
	main := strings.Join(names(SampleLocationID), "; ")
	want := "Samuel J. Rivera MD <srivera@riversidebh.example>; Maya Okafor PsyD <maya.okafor@sandbox.local>; Luis A. Ferreira LCSW <luis.ferreira@sandbox.local>"
	if main != want {
		t.Fatalf("main location providers:\n got %s\nwant %s", main, want)
	}
	if other := names(OtherLocationID); len(other) != 2 || !strings.Contains(other[1], "Whitfield") {
		t.Fatalf("Eastside providers: %v", other)
	}
}

func patients(t *testing.T, e *env, q url.Values) ([]patientBody, int) {
	t.Helper()
	r := e.get("/patients", q)
	if r.status != 200 {
		t.Fatalf("patients: %d %s", r.status, r.raw)
	}
	var data struct {
		Patients []patientBody `json:"patients"`
	}
	decode(t, r.env.Data, &data)
	return data.Patients, *r.env.Count
}

func TestPatientsUpdatedSinceAndPages(t *testing.T) {
	e := newEnv(t, Config{})
	q := scope(SampleLocationID)
	q.Set("per_page", "300")
	all, total := patients(t, e, q)
	if total != len(all) || total < 20 {
		t.Fatalf("%d patients, count %d", len(all), total)
	}
	for _, p := range all {
		if p.Bio.DateOfBirth == "" || p.LocationIDs[0] != SampleLocationID {
			t.Fatalf("patient %+v lacks a date of birth or is at another location", p)
		}
	}

	// updated_since returns exactly those changed at or after it.
	since := all[total/2].UpdatedAt
	var want []int64
	for _, p := range all {
		if p.UpdatedAt >= since {
			want = append(want, p.ID)
		}
	}
	q.Set("updated_since", since)
	got, n := patients(t, e, q)
	if n != len(want) || len(got) != len(want) || len(want) == 0 || len(want) == total {
		t.Fatalf("updated_since %s: %d patients (count %d), want %d of %d", since, len(got), n, len(want), total)
	}

	// An edit after the last sync is the only thing a later sync finds.
	e.clock.Advance(time.Hour)
	mark := e.clock.Now().Format(time.RFC3339)
	if got, _ := patients(t, e, url.Values{"subdomain": {SampleSubdomain}, "location_id": {"2101"}, "updated_since": {mark}}); len(got) != 0 {
		t.Fatalf("nothing changed yet, got %d", len(got))
	}
	if err := e.s.EditPatient(t.Context(), all[0].ID, "555-9999"); err != nil {
		t.Fatal(err)
	}
	got, _ = patients(t, e, url.Values{"subdomain": {SampleSubdomain}, "location_id": {"2101"}, "updated_since": {mark}})
	if len(got) != 1 || got[0].ID != all[0].ID || got[0].Bio.PhoneNumber != "555-9999" {
		t.Fatalf("after one edit: %+v", got)
	}

	// Pages partition the list.
	seen := map[int64]bool{}
	for page := 1; ; page++ {
		ps, n := patients(t, e, url.Values{"subdomain": {SampleSubdomain}, "location_id": {"2101"}, "per_page": {"7"}, "page": {fmt.Sprint(page)}})
		if n != total {
			t.Fatalf("page %d count %d, want %d", page, n, total)
		}
		if len(ps) == 0 {
			break
		}
		for _, p := range ps {
			if seen[p.ID] {
				t.Fatalf("patient %d on two pages", p.ID)
			}
			seen[p.ID] = true
		}
	}
	if len(seen) != total {
		t.Fatalf("pages held %d patients, want %d", len(seen), total)
	}

	for _, bad := range []url.Values{{"updated_since": {"yesterday"}}, {"per_page": {"0"}}, {"page": {"x"}}} {
		q := scope(SampleLocationID)
		for k, v := range bad {
			q[k] = v
		}
		if r := e.get("/patients", q); r.status != 400 || len(r.env.Error) != 1 {
			t.Errorf("%v: %d %s, want 400", bad, r.status, r.raw)
		}
	}
}

func (e *env) document(patient, id int64) documentBody {
	e.t.Helper()
	r := e.get(fmt.Sprintf("/patients/%d/documents/%d", patient, id), scope(SampleLocationID))
	if r.status != 200 {
		e.t.Fatalf("get document: %d %s", r.status, r.raw)
	}
	var d documentBody
	decode(e.t, r.env.Data, &d)
	return d
}

func TestDocumentIsAcceptedThenConfirmed(t *testing.T) {
	e := newEnv(t, Config{})
	file := pdf("Progress note for the visit")
	r := e.postDoc(3001, SampleLocationID, "push-1", file, part{"document_type_id", "1"}, part{"provider_id", "901"}, part{"visit_date", "2026-11-19"})
	if r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.raw)
	}
	var created documentBody
	decode(t, r.env.Data, &created)
	if created.Status != "pending" || created.ConfirmedAt != nil {
		t.Fatalf("a fresh document is %q (confirmed %v), want pending", created.Status, created.ConfirmedAt)
	}
	e.clock.Advance(DefaultProcessingDelay - time.Millisecond)
	if d := e.document(3001, created.ID); d.Status != "pending" {
		t.Fatalf("before the delay: %q", d.Status)
	}
	e.clock.Advance(time.Millisecond)
	d := e.document(3001, created.ID)
	if d.Status != "completed" || d.ConfirmedAt == nil {
		t.Fatalf("after the delay: %q confirmed %v", d.Status, d.ConfirmedAt)
	}

	docs, err := e.s.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	got := docs[0]
	if got.PatientID != 3001 || got.ProviderID != 901 || got.VisitDate != "2026-11-19" || got.DocumentTypeID != 1 ||
		!bytes.Equal(got.Content, file) || got.Status != "completed" || got.IdempotencyKey != "push-1" || got.FileName != "Progress note 2026-11-19.pdf" {
		t.Fatalf("chart holds %+v", got)
	}
	if n := e.s.EffectCount("push-1"); n != 1 {
		t.Fatalf("EffectCount %d, want 1", n)
	}

	list := e.get("/patients/3001/documents", scope(SampleLocationID))
	if list.status != 200 || *list.env.Count != 1 {
		t.Fatalf("list: %d %s", list.status, list.raw)
	}
	// The document is the patient's at this location only.
	if r := e.get(fmt.Sprintf("/patients/3002/documents/%d", created.ID), scope(SampleLocationID)); r.status != 404 {
		t.Fatalf("another patient's document: %d, want 404", r.status)
	}
}

func TestProcessingDelayIsSwitchable(t *testing.T) {
	e := newEnv(t, Config{ProcessingDelay: 10 * time.Second})
	e.s.SetProcessingDelay(time.Minute)
	r := e.postDoc(3001, SampleLocationID, "", pdf("x"))
	var created documentBody
	decode(t, r.env.Data, &created)
	e.clock.Advance(59 * time.Second)
	if d := e.document(3001, created.ID); d.Status != "pending" {
		t.Fatalf("at 59 s of 1 min: %q", d.Status)
	}
	e.clock.Advance(time.Second)
	if d := e.document(3001, created.ID); d.Status != "completed" {
		t.Fatalf("at 1 min: %q", d.Status)
	}
}

func TestRejectedWriteEndsFailed(t *testing.T) {
	e := newEnv(t, Config{})
	e.s.FailNextDocuments(1)
	var first, second documentBody
	decode(t, e.postDoc(3001, SampleLocationID, "", pdf("a")).env.Data, &first)
	decode(t, e.postDoc(3001, SampleLocationID, "", pdf("b")).env.Data, &second)
	e.clock.Advance(DefaultProcessingDelay)
	if d := e.document(3001, first.ID); d.Status != "failed" || d.StatusMessage == nil {
		t.Fatalf("first: %+v, want failed with a message", d)
	}
	if d := e.document(3001, second.ID); d.Status != "completed" {
		t.Fatalf("second: %q, want completed", d.Status)
	}
}

func TestDocumentWriteIsIdempotent(t *testing.T) {
	e := newEnv(t, Config{})
	first := e.postDoc(3001, SampleLocationID, "note-7-v1", pdf("v1"))
	again := e.postDoc(3001, SampleLocationID, "note-7-v1", pdf("v1"))
	if first.status != 201 || again.status != 201 || !bytes.Equal(first.raw, again.raw) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s / %d %s replayed=%q", first.status, first.raw, again.status, again.raw, again.header.Get("Idempotent-Replayed"))
	}

	// Concurrent retries of one push: one document, every caller sees the same answer.
	const n = 8
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body, ct := multipartBody(t, "n.pdf", pdf("v2"))
			req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/patients/3002/documents?"+scope(SampleLocationID).Encode(), body)
			req.Header.Set("Authorization", "Bearer "+e.token)
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Idempotency-Key", "note-8-v1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			bodies[i], _ = io.ReadAll(res.Body)
			if res.StatusCode != 201 {
				t.Errorf("concurrent push %d: %d %s", i, res.StatusCode, bodies[i])
			}
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("concurrent answers differ:\n%s\n%s", bodies[0], bodies[i])
		}
	}
	docs, err := e.s.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || e.s.EffectCount("note-7-v1") != 1 || e.s.EffectCount("note-8-v1") != 1 || e.s.EffectCount("never-sent") != 0 {
		t.Fatalf("%d documents, effects %d %d", len(docs), e.s.EffectCount("note-7-v1"), e.s.EffectCount("note-8-v1"))
	}

	// A key belongs to one request.
	if r := e.postDoc(3003, SampleLocationID, "note-7-v1", pdf("v1")); r.status != 400 || !strings.Contains(r.env.Error[0], "another request") {
		t.Fatalf("key reused for another patient: %d %s", r.status, r.raw)
	}
}

func TestDocumentBadInputWritesNothing(t *testing.T) {
	e := newEnv(t, Config{})
	cases := []struct {
		name    string
		patient int64
		file    []byte
		fields  []part
		status  int
		want    string
	}{
		{"no file", 3001, nil, nil, 400, "file is required"},
		{"not a PDF", 3001, []byte("PK\x03\x04 a zip"), nil, 400, "not a PDF"},
		{"truncated PDF", 3001, []byte("%PDF-1.4\n1 0 obj"), nil, 400, "truncated"},
		{"bad document type", 3001, pdf("x"), []part{{"document_type_id", "99"}}, 400, "not a document type"},
		{"provider elsewhere", 3001, pdf("x"), []part{{"provider_id", "904"}}, 400, "not a provider at location"},
		{"bad visit date", 3001, pdf("x"), []part{{"visit_date", "19/11/2026"}}, 400, "YYYY-MM-DD"},
		{"unknown patient", 99999, pdf("x"), nil, 404, "not found"},
		{"patient at the other location", 3026, pdf("x"), nil, 404, "not found at location 2101"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postDoc(tc.patient, SampleLocationID, "", tc.file, tc.fields...)
			if r.status != tc.status || !strings.Contains(strings.Join(r.env.Error, " "), tc.want) {
				t.Fatalf("%d %s, want %d saying %q", r.status, r.raw, tc.status, tc.want)
			}
		})
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/patients/3001/documents?"+scope(SampleLocationID).Encode(), strings.NewReader(`{"file":"x"}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	if r := e.do(req); r.status != 400 || !strings.Contains(r.env.Error[0], "multipart/form-data") {
		t.Fatalf("JSON body: %d %s", r.status, r.raw)
	}
	if docs, err := e.s.Documents(t.Context()); err != nil || len(docs) != 0 {
		t.Fatalf("bad input wrote %d documents (%v)", len(docs), err)
	}
}

func TestSyncStatusReadsAndWrites(t *testing.T) {
	e := newEnv(t, Config{})
	status := func() syncStatusBody {
		r := e.get("/sync_status", scope(SampleLocationID))
		var ss []syncStatusBody
		decode(t, r.env.Data, &ss)
		if len(ss) != 1 {
			t.Fatalf("sync_status: %s", r.raw)
		}
		return ss[0]
	}
	now := func() string { return e.clock.Now().UTC().Format("2006-01-02T15:04:05.000000Z") }
	if s := status(); s.ReadStatus != "green" || s.WriteStatus != "green" || s.ReadStatusAt != now() || s.WriteStatusAt != now() {
		t.Fatalf("healthy: %+v at %s", s, now())
	}
	down := now()
	e.s.SetWritesUp(false)
	e.clock.Advance(20 * time.Minute)
	if s := status(); s.WriteStatus != "red" || s.WriteStatusAt != down || s.ReadStatus != "green" || s.ReadStatusAt != now() {
		t.Fatalf("writes down: %+v", s)
	}
	if r := e.postDoc(3001, SampleLocationID, "k", pdf("x")); r.status != 503 || !strings.Contains(r.env.Error[0], "write_status red") {
		t.Fatalf("write while writes are down: %d %s", r.status, r.raw)
	}
	e.s.SetWritesUp(true)
	e.s.SetReadsUp(false)
	if s := status(); s.WriteStatus != "green" || s.ReadStatus != "red" {
		t.Fatalf("reads down: %+v", s)
	}
	// The refused write kept no claim on its key: the retry is written.
	if r := e.postDoc(3001, SampleLocationID, "k", pdf("x")); r.status != 201 || e.s.EffectCount("k") != 1 {
		t.Fatalf("retry once writes are up: %d %s", r.status, r.raw)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Config{})
	e.s.Faults().Burst429(1, 1500*time.Millisecond)
	r := e.get("/providers", scope(SampleLocationID))
	if r.status != 429 || r.header.Get("Retry-After") != "2" {
		t.Fatalf("burst: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	e.s.Faults().SetErrorRate(1)
	if r := e.get("/providers", scope(SampleLocationID)); r.status != 503 {
		t.Fatalf("error rate 1: %d", r.status)
	}
	e.s.Faults().Reset()

	// A lost reply: the write happened, the client saw a broken connection; the retry with the same key
	// gets the original answer and the chart holds one document.
	e.s.Faults().SetLostReplyRate(1)
	body, ct := multipartBody(t, "n.pdf", pdf("lost"))
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/patients/3001/documents?"+scope(SampleLocationID).Encode(), body)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Idempotency-Key", "lost-1")
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("lost reply arrived: %d", res.StatusCode)
	}
	e.s.Faults().Reset()
	if r := e.postDoc(3001, SampleLocationID, "lost-1", pdf("lost")); r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after a lost reply: %d %s", r.status, r.raw)
	}
	if docs, _ := e.s.Documents(t.Context()); len(docs) != 1 || e.s.EffectCount("lost-1") != 1 {
		t.Fatalf("%d documents after a lost reply and a retry", len(docs))
	}
}

func TestStatePersistsAndIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nexhealth")
	e := newEnv(t, Config{Dir: dir})
	if r := e.postDoc(3001, SampleLocationID, "kept", pdf("kept")); r.status != 201 {
		t.Fatal(r.status)
	}
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.s.EffectCount("kept"); n != 0 {
		t.Fatalf("EffectCount after Close: %d", n)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "nexhealth.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Fatalf("%s is %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	s2, err := New(t.Context(), Config{Dir: dir, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	e2 := mountEnv(t, s2, e.clock)
	e2.token = e.token // issued before the restart, still good
	if r := e2.get("/providers", scope(SampleLocationID)); r.status != 200 {
		t.Fatalf("old token after restart: %d", r.status)
	}
	if r := e2.postDoc(3001, SampleLocationID, "kept", pdf("kept")); r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("key not kept across restart: %d %s", r.status, r.raw)
	}
	_, total := patients(t, e2, scope(SampleLocationID))
	docs, _ := s2.Documents(t.Context())
	if total != 25 || len(docs) != 1 || s2.EffectCount("kept") != 1 {
		t.Fatalf("after restart: %d patients, %d documents", total, len(docs))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(t.Context(), Config{}); err == nil || !strings.Contains(err.Error(), "Config.Dir") {
		t.Fatalf("no Dir: %v", err)
	}
	if _, err := New(t.Context(), Config{Dir: t.TempDir(), TokenTTL: -time.Second}); err == nil {
		t.Fatal("negative TokenTTL accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := New(ctx, Config{Dir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

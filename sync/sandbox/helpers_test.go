package sandbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests talk to the sandbox over real HTTP with plain net/http and encoding/json, and decode into
// their own types below (taken from the API description), never the server's, so that a field renamed
// on one side shows up as a failure.

type apiUser struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	TeamID    int64  `json:"team_id"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type apiPatient struct {
	ID                int64            `json:"id"`
	UUID              string           `json:"uuid"`
	FirstName         string           `json:"first_name"`
	MiddleName        *string          `json:"middle_name"`
	LastName          string           `json:"last_name"`
	Gender            *string          `json:"gender"`
	DateOfBirth       *string          `json:"date_of_birth"`
	Notes             *string          `json:"notes"`
	LatestMedications []map[string]any `json:"latest_medications"`
	User              *apiUser         `json:"user"`
	Timeline          []map[string]any `json:"timeline"`
	Encounters        []map[string]any `json:"encounters"`
	Meta              map[string]any   `json:"meta"`
	CreatedAt         string           `json:"created_at"`
	UpdatedAt         string           `json:"updated_at"`
}

type apiTemplate struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Sections    []string `json:"sections"`
}

type apiCode struct {
	Code        string  `json:"code"`
	Description string  `json:"description"`
	Confidence  float64 `json:"confidence"`
}

type apiNote struct {
	ID            int64        `json:"id"`
	Name          string       `json:"name"`
	Transcription *string      `json:"transcription"`
	Analysis      *string      `json:"analysis"`
	Template      *apiTemplate `json:"template"`
	Patient       *apiPatient  `json:"patient"`
	Audio         *struct {
		Duration   *float64 `json:"duration"`
		Bitrate    *int64   `json:"bitrate"`
		Size       int64    `json:"size"`
		UploadedAt string   `json:"uploaded_at"`
		ExpiresAt  string   `json:"expires_at"`
		FileURL    string   `json:"file_url"`
	} `json:"audio"`
	Has struct {
		Content       bool `json:"content"`
		Transcription bool `json:"transcription"`
		Signed        bool `json:"signed"`
	} `json:"has"`
	TeamID int64    `json:"team_id"`
	UserID int64    `json:"user_id"`
	User   *apiUser `json:"user"`
	Codes  struct {
		ICD10 []apiCode `json:"icd10"`
		CPT   []apiCode `json:"cpt"`
	} `json:"codes"`
	Screeners []struct {
		Name     string `json:"name"`
		Score    *int   `json:"score"`
		Severity string `json:"severity"`
	} `json:"screeners"`
	TranscriptionStartedAt   *string `json:"transcription_started_at"`
	TranscriptionCompletedAt *string `json:"transcription_completed_at"`
	AnalysisStartedAt        *string `json:"analysis_started_at"`
	AnalysisCompletedAt      *string `json:"analysis_completed_at"`
	ErrorState               *string `json:"error_state"`
	CreatedAt                string  `json:"created_at"`
	UpdatedAt                string  `json:"updated_at"`
}

type apiLinks struct {
	First *string `json:"first"`
	Last  *string `json:"last"`
	Prev  *string `json:"prev"`
	Next  *string `json:"next"`
}

type apiMeta struct {
	CurrentPage int `json:"current_page"`
	PerPage     int `json:"per_page"`
	Total       int `json:"total"`
	LastPage    int `json:"last_page"`
}

type apiPage[T any] struct {
	Data  []T      `json:"data"`
	Links apiLinks `json:"links"`
	Meta  apiMeta  `json:"meta"`
}

type apiValidation struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
}

type apiMessage struct {
	Message string `json:"message"`
}

// testClock is the sandbox's clock in tests: real time plus an offset the test can move forward.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type envOptions struct {
	dir    string
	delay  time.Duration
	logger *slog.Logger
	// beforeStart, when set, adjusts the server before it serves.
	beforeStart func(*Server)
}

// env is one running sandbox and a signed-in client.
type env struct {
	t     *testing.T
	srv   *Server
	base  string // http://127.0.0.1:PORT/api
	token string
	clock *testClock
	dir   string
}

const testDelay = 40 * time.Millisecond

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.delay == 0 {
		o.delay = testDelay
	}
	c := &testClock{}
	s, err := New(t.Context(), Config{Dir: o.dir, Logger: o.logger, ProcessingDelay: o.delay, Now: c.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if o.beforeStart != nil {
		o.beforeStart(s)
	}
	base, err := s.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	e := &env{t: t, srv: s, base: base, clock: c, dir: o.dir}
	e.token = e.login(SampleEmail, SamplePassword, "test")
	return e
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// send makes one request; path is relative to the API base ("/v1/patients") unless absolute.
func (e *env) send(token, method, path string, body io.Reader, contentType string, header map[string]string) response {
	e.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.base + path
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, u, body)
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, body: b, header: res.Header}
}

// do sends a JSON body (nil: none) with the env's token.
func (e *env) do(method, path string, v any) response {
	e.t.Helper()
	return e.doAs(e.token, method, path, v, nil)
}

func (e *env) doAs(token, method, path string, v any, header map[string]string) response {
	e.t.Helper()
	var body io.Reader
	ct := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			e.t.Fatal(err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	return e.send(token, method, path, body, ct, header)
}

// must sends a JSON request and fails unless the status is want; it decodes the body into out.
func (e *env) must(method, path string, v any, want int, out any) response {
	e.t.Helper()
	r := e.do(method, path, v)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.decode(e.t, out)
	}
	return r
}

func (e *env) login(email, password, device string) string {
	e.t.Helper()
	var tok struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	r := e.doAs("", "POST", "/v1/tokens", map[string]string{"email": email, "password": password, "device_name": device}, nil)
	if r.status != http.StatusCreated {
		e.t.Fatalf("login: status %d: %s", r.status, r.body)
	}
	r.decode(e.t, &tok)
	if tok.Token == "" {
		e.t.Fatalf("login: empty token in %s", r.body)
	}
	return tok.Token
}

type field struct{ name, value string }

// multipartBody builds a form with the fields in order and, when file is not nil, a file part.
func multipartBody(t *testing.T, fields []field, file []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "visit.wav")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(file); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func (e *env) postForm(path string, fields []field, file []byte, header map[string]string) response {
	e.t.Helper()
	body, ct := multipartBody(e.t, fields, file)
	return e.send(e.token, "POST", path, body, ct, header)
}

// createTextNote creates a text note and returns it as first answered.
func (e *env) createTextNote(name, text string, extra ...field) apiNote {
	e.t.Helper()
	r := e.postForm("/v1/progress-notes", append([]field{{"name", name}, {"note", text}}, extra...), nil, nil)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create note: status %d: %s", r.status, r.body)
	}
	var n apiNote
	r.decode(e.t, &n)
	return n
}

// waitNote polls the note until done reports true, failing after a deadline.
func (e *env) waitNote(id int64, what string, done func(apiNote) bool) apiNote {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n apiNote
		e.must("GET", fmt.Sprintf("/v1/progress-notes/%d", id), nil, http.StatusOK, &n)
		if done(n) {
			return n
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("note %d: gave up waiting for %s; last state %+v", id, what, n)
		}
		select {
		case <-e.t.Context().Done():
			e.t.Fatal("test ended while waiting")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func processed(n apiNote) bool { return n.AnalysisCompletedAt != nil || n.ErrorState != nil }

// wav encodes 16-bit mono PCM as a WAV file.
func wav(pcm []int16, rate int) []byte {
	var b bytes.Buffer
	dataLen := len(pcm) * 2
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+dataLen))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(dataLen))
	_ = binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

// burst is a stretch of the test signal: a tone (voiced) or silence.
type burst struct {
	d      time.Duration
	voiced bool
}

// tones makes 16 kHz audio of tone bursts (a 220 Hz vowel-like tone with harmonics) and silences.
func tones(parts ...burst) []int16 {
	var out []int16
	for _, p := range parts {
		n := int(p.d.Seconds() * 16000)
		for i := range n {
			v := 0.0
			if p.voiced {
				ts := float64(i) / 16000
				v = 6000*math.Sin(2*math.Pi*220*ts) + 3000*math.Sin(2*math.Pi*440*ts) + 1500*math.Sin(2*math.Pi*880*ts)
			}
			out = append(out, int16(v))
		}
	}
	return out
}

// speechWAV is four seconds with two voiced stretches.
func speechWAV() []byte {
	return wav(tones(burst{500 * time.Millisecond, false}, burst{1200 * time.Millisecond, true},
		burst{900 * time.Millisecond, false}, burst{time.Second, true}, burst{400 * time.Millisecond, false}), 16000)
}

func queryOf(t *testing.T, link *string) url.Values {
	t.Helper()
	if link == nil {
		t.Fatal("link is null")
	}
	u, err := url.Parse(*link)
	if err != nil {
		t.Fatalf("parse link %q: %v", *link, err)
	}
	if !u.IsAbs() {
		t.Fatalf("link %q is not absolute", *link)
	}
	return u.Query()
}

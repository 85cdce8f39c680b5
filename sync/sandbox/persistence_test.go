package sandbox

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// State survives Close and New on the same folder: data, tokens, audio links; the sample workspace is
// not seeded twice; a note interrupted mid-pipeline finishes after the restart.
func TestRestartKeepsStateAndResumesPipeline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A long pipeline so the note is still processing when the sandbox closes.
	e := startEnv(t, envOptions{dir: dir, delay: time.Hour})
	var p apiPatient
	e.must("POST", "/v1/patients", map[string]string{"first_name": "Persistent", "last_name": "Patient"}, http.StatusCreated, &p)
	r := e.postForm("/v1/progress-notes", []field{{"name", "Interrupted"}, {"patient_id", fmt.Sprint(p.ID)}}, speechWAV(), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var n apiNote
	r.decode(t, &n)
	var au struct {
		URL string `json:"url"`
	}
	e.must("GET", fmt.Sprintf("/v1/progress-notes/%d/audio-url", n.ID), nil, http.StatusOK, &au)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := startEnvWithToken(t, dir, e.token)
	var got apiPatient
	e2.must("GET", fmt.Sprintf("/v1/patients/%d", p.ID), nil, http.StatusOK, &got) // the old token still works
	if got.UUID != p.UUID {
		t.Errorf("patient after restart: %+v", got)
	}
	var patients apiPage[apiPatient]
	e2.must("GET", "/v1/patients", nil, http.StatusOK, &patients)
	if patients.Meta.Total != len(samplePatients)+1 {
		t.Errorf("%d patients after restart, want %d (seeded once, plus one)", patients.Meta.Total, len(samplePatients)+1)
	}
	var users, templates int
	if err := e2.srv.db.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM templates)`).Scan(&users, &templates); err != nil {
		t.Fatal(err)
	}
	if users != len(sampleUsers) || templates != len(sampleTemplates) {
		t.Errorf("%d users and %d templates after restart", users, templates)
	}
	if r := e2.send("", "GET", strings.Replace(au.URL, e.base, e2.base, 1), nil, "", nil); r.status != http.StatusOK || !bytes.HasPrefix(r.body, []byte("RIFF")) {
		t.Errorf("audio link made before the restart: %d", r.status)
	}
	done := e2.waitNote(n.ID, "the resumed pipeline", processed)
	if done.ErrorState != nil {
		t.Fatalf("resumed note failed: %s", *done.ErrorState)
	}
	checkOrdered(t, done)
}

// startEnvWithToken opens a second sandbox on dir with a short pipeline and reuses a token.
func startEnvWithToken(t *testing.T, dir, token string) *env {
	t.Helper()
	c := &testClock{}
	s, err := New(t.Context(), Config{Dir: dir, ProcessingDelay: testDelay, Now: c.Now})
	if err != nil {
		t.Fatalf("New again: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	base, err := s.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: s, base: base, token: token, clock: c, dir: dir}
}

// The access log names method, route pattern, status and duration, and nothing a request carried.
func TestLogHoldsNoSecretsOrPatientData(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	e := startEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.must("POST", "/v1/patients", map[string]string{"first_name": "Zebedee", "last_name": "Quartermaine"}, http.StatusCreated, nil)
	e.must("GET", "/v1/patients?search=quartermaine", nil, http.StatusOK, nil)
	e.createTextNote("Visit for Zebedee", "Zebedee reports feeling anxious.")
	e.doAs("", "POST", "/v1/tokens", map[string]string{"email": SampleEmail, "password": "hunter2-wrong", "device_name": "d"}, nil)
	logs := buf.String()
	if !strings.Contains(logs, `route="GET /api/v1/patients"`) || !strings.Contains(logs, "status=200") || !strings.Contains(logs, "duration=") {
		t.Errorf("access log lacks route, status or duration:\n%s", logs)
	}
	for _, secret := range []string{e.token, "hunter2", "Zebedee", "Quartermaine", "quartermaine", "anxious"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

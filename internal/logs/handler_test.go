package logs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// newTestLogger logs JSON lines into the returned buffer through the
// redacting handler.
func newTestLogger(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))), &buf
}

// lastLine decodes the last JSON line written.
func lastLine(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("decode %q: %v", lines[len(lines)-1], err)
	}
	return m
}

// at walks a path of group names to a value.
func at(t *testing.T, m map[string]any, path ...string) any {
	t.Helper()
	var v any = m
	for _, p := range path {
		g, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: %v is not a group", path, v)
		}
		if v, ok = g[p]; !ok {
			t.Fatalf("%v: no %q in %v", path, p, g)
		}
	}
	return v
}

var sensitiveKeys = []string{
	"token", "access_token", "refreshToken", "id_token", "password", "Password",
	"secret", "client_secret", "api_key", "apikey", "APIKey", "X-Api-Key",
	"authorization", "Authorization", "cookie", "set-cookie", "code_verifier",
	"code", "auth_code", "refresh", "key", "credentials", "jwt",
	"name", "first_name", "lastName", "full_name", "username", "email",
	"patient_email", "dob", "date_of_birth", "birthDate", "phone", "mobile",
	"address", "ssn", "mrn", "patient", "text", "transcript", "transcription",
	"note", "notes", "draft", "content", "body", "summary", "query", "q",
	"search", "file_name",
}

func TestSensitiveKeysRedacted(t *testing.T) {
	const value = "Jane Doe plain value"
	for _, key := range sensitiveKeys {
		t.Run(key, func(t *testing.T) {
			log, buf := newTestLogger(slog.LevelInfo)
			log.Info("msg", key, value)
			if got := at(t, lastLine(t, buf), key); got != Redacted {
				t.Errorf("%s = %v, want %s", key, got, Redacted)
			}
			if strings.Contains(buf.String(), "Jane") {
				t.Errorf("value leaked: %s", buf)
			}
		})
	}
}

func TestSensitiveNonStringValuesRedacted(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	log.Info("msg", "dob", time.Date(1985, 3, 15, 0, 0, 0, 0, time.UTC), "pin", 1234,
		"note", struct{ Text string }{"Jane"}, "token", []byte("abc"))
	m := lastLine(t, buf)
	for _, k := range []string{"dob", "pin", "note", "token"} {
		if got := at(t, m, k); got != Redacted {
			t.Errorf("%s = %v, want %s", k, got, Redacted)
		}
	}
}

func TestPlainKeysUntouched(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	const id = "3f2a1b4c-1234-4abc-8def-0123456789ab"
	log.Info("msg", "encounter", id, "patient_id", "789", "note_id", 123,
		"note_count", 4, "ehr", "simplepractice", "state", "connected",
		"dir", "/home/dr/.local/share/scribe/encounters/"+id, "samples", int64(48000),
		"clean", true, "took", 1500*time.Millisecond, "server", "api.nextvisit.app",
		"transcribed", "yes", "hostname", "laptop-7", "error_code", "invalid_grant")
	m := lastLine(t, buf)
	want := map[string]any{
		"encounter": id, "patient_id": "789", "note_id": float64(123), "note_count": float64(4),
		"ehr": "simplepractice", "state": "connected",
		"dir": "/home/dr/.local/share/scribe/encounters/" + id, "samples": float64(48000),
		"clean": true, "took": float64(1500 * time.Millisecond), "server": "api.nextvisit.app",
		"transcribed": "yes", "hostname": "laptop-7", "error_code": "invalid_grant",
	}
	for k, w := range want {
		if got := at(t, m, k); got != w {
			t.Errorf("%s = %v (%T), want %v", k, got, got, w)
		}
	}
	if m["msg"] != "msg" {
		t.Errorf("msg = %v", m["msg"])
	}
}

func TestNestedGroupsRedacted(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	log.Info("msg", slog.Group("req", "method", "GET",
		slog.Group("auth", "token", "t0ken-value"),
		slog.Group("hdr", "Authorization", "Bearer zzz", "accept", "json")),
		slog.Group("patient", "first_name", "Jane"))
	m := lastLine(t, buf)
	if got := at(t, m, "req", "method"); got != "GET" {
		t.Errorf("req.method = %v", got)
	}
	if got := at(t, m, "req", "auth"); got != Redacted {
		t.Errorf("req.auth = %v; a secret group should go whole", got)
	}
	if got := at(t, m, "req", "hdr", "Authorization"); got != Redacted {
		t.Errorf("req.hdr.Authorization = %v", got)
	}
	if got := at(t, m, "req", "hdr", "accept"); got != "json" {
		t.Errorf("req.hdr.accept = %v", got)
	}
	if got := at(t, m, "patient"); got != Redacted {
		t.Errorf("patient = %v", got)
	}
	if s := buf.String(); strings.Contains(s, "t0ken") || strings.Contains(s, "Jane") || strings.Contains(s, "zzz") {
		t.Errorf("leak: %s", s)
	}
}

func TestWithAndWithGroup(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	l := log.With("password", "hunter2", "component", "ehr").WithGroup("conn").With("email", "jane@example.com", "kind", "nexhealth")
	l.Info("msg", "phone", "555-0100", "attempt", 2)
	m := lastLine(t, buf)
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"password"}, Redacted},
		{[]string{"component"}, "ehr"},
		{[]string{"conn", "email"}, Redacted},
		{[]string{"conn", "kind"}, "nexhealth"},
		{[]string{"conn", "phone"}, Redacted},
		{[]string{"conn", "attempt"}, float64(2)},
	}
	for _, c := range checks {
		if got := at(t, m, c.path...); got != c.want {
			t.Errorf("%v = %v, want %v", c.path, got, c.want)
		}
	}

	// Everything under a group named for patient data or a secret goes.
	buf.Reset()
	log.WithGroup("patient").With("city", "x", "id", "1").Info("msg", "age", 41)
	m = lastLine(t, buf)
	for _, k := range []string{"city", "id", "age"} {
		if got := at(t, m, "patient", k); got != Redacted {
			t.Errorf("patient.%s = %v, want %s", k, got, Redacted)
		}
	}
}

func TestStringValuesMasked(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlMTIz"
	tests := []struct {
		in, want string
	}{
		{"mail jane.doe@example.com now", "mail [email] now"},
		{"Authorization: Bearer abc.DEF-123", "Authorization: [redacted]"},
		{"sent bearer abc.DEF-123, ok", "sent bearer [redacted], ok"},
		{"tok " + jwt + " end", "tok [secret] end"},
		{"key sp_sandbox_3f9c1a7e2b6d4058a1c9e7f2d4b6a8c0", "key [secret]"},
		{"short key sp_wrong_token", "short key [secret]"},
		{"digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "digest [secret]"},
		{"b64 dGhpc2lzYXNlY3JldHRva2VuMTIz", "b64 [secret]"},
		{"GET https://user:pw@api.nextvisit.app/v1/patients?q=Jane+Doe#x done", "GET https://api.nextvisit.app done"},
		{`Get "http://127.0.0.1:8080/oauth/callback?code=abc&state=xyz": EOF`, `Get "http://127.0.0.1:8080": EOF`},
		{"form grant_type=authorization_code&code=abc123&code_verifier=v3r", "form grant_type=authorization_code&code=[redacted]&code_verifier=[redacted]"},
		{`400: {"error":"invalid","first_name":"Jane","dob": "1985-03-15","id":7}`, `400: {"error":"invalid","first_name":"[redacted]","dob": "[redacted]","id":7}`},
		{`{"patient":{"first_name":"Jane"},"ok":true}`, `{"patient":[redacted],"ok":true}`},
		{"Cookie: session=abc; theme=dark\nnext", "Cookie: [redacted]\nnext"},
		{"cannot fetch token: context deadline exceeded", "cannot fetch token: context deadline exceeded"},
		{"encounter 3f2a1b4c-1234-4abc-8def-0123456789ab at /tmp/x/journal", "encounter 3f2a1b4c-1234-4abc-8def-0123456789ab at /tmp/x/journal"},
		{"SQLITE_CONSTRAINT_PRIMARYKEY context_deadline_exceeded", "SQLITE_CONSTRAINT_PRIMARYKEY context_deadline_exceeded"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Scrub(tt.in); got != tt.want {
			t.Errorf("Scrub(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorValuesScrubbed(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	err := fmt.Errorf("push note: %w", errors.New(`Post "https://ehr.example.org/api/patients?email=jane@example.com&token=abc": 401 {"email":"jane@example.com"}`))
	log.Warn("push failed", "error", err, "err", errors.New("login for jane.doe@example.com refused"))
	m := lastLine(t, buf)
	if got, want := at(t, m, "error"), `push note: Post "https://ehr.example.org": 401 {"email":"[redacted]"}`; got != want {
		t.Errorf("error =\n %v\nwant\n %v", got, want)
	}
	if got, want := at(t, m, "err"), "login for [email] refused"; got != want {
		t.Errorf("err = %v, want %v", got, want)
	}
	if strings.Contains(buf.String(), "jane") {
		t.Errorf("leak: %s", buf)
	}
}

func TestURLKeysKeepHost(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	log.Info("msg", "redirect", "http://127.0.0.1:53412/callback?code=abc", "endpoint", "relative/path?q=Jane",
		"file_url", "https://storage.nextvisit.app/encounters/abc123.mp3?token=xyz")
	m := lastLine(t, buf)
	for k, want := range map[string]string{
		"redirect": "http://127.0.0.1:53412", "endpoint": Redacted,
		"file_url": "https://storage.nextvisit.app",
	} {
		if got := at(t, m, k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
}

// stringer has a pointer method, so a nil *stringer panics in String;
// slog and fmt must recover rather than crash the app.
type stringer struct{ s string }

func (s *stringer) String() string { return s.s }

func TestAnyValuesRendered(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	var nilStringer *stringer
	log.Info("msg", "who", &stringer{"jane@example.com"}, "raw", []byte("Bearer s3cr3t"),
		"list", []string{"a@b.co", "ok"}, "nilptr", nilStringer, slog.Any("", nil))
	m := lastLine(t, buf)
	if got := at(t, m, "who"); got != "[email]" {
		t.Errorf("who = %v", got)
	}
	if got := at(t, m, "raw"); got != "Bearer [redacted]" {
		t.Errorf("raw = %v", got)
	}
	if got := at(t, m, "list"); got != "[[email] ok]" {
		t.Errorf("list = %v", got)
	}
	if _, ok := m[""]; ok {
		t.Errorf("the empty attr was not dropped: %v", m)
	}
}

type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", "jane@example.com"), slog.Int("n", 3))
}

func TestLogValuerResolved(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	log.Info("msg", "user", valuer{})
	m := lastLine(t, buf)
	if got := at(t, m, "user", "email"); got != Redacted {
		t.Errorf("user.email = %v", got)
	}
	if got := at(t, m, "user", "n"); got != float64(3) {
		t.Errorf("user.n = %v", got)
	}
}

func TestLevelsPassedThrough(t *testing.T) {
	log, buf := newTestLogger(slog.LevelInfo)
	if log.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("debug enabled on an info handler")
	}
	log.Debug("hidden")
	if buf.Len() != 0 {
		t.Errorf("debug line written: %s", buf)
	}
	for _, l := range []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		log.Log(t.Context(), l, "m")
		if got := at(t, lastLine(t, buf), "level"); got != l.String() {
			t.Errorf("level = %v, want %v", got, l)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]keyClass{
		"accessToken": keySecret, "APIKey": keySecret, "X-Auth-Token": keySecret,
		"code": keySecret, "status_code": keyPlain, "author": keyPlain,
		"firstName": keyPerson, "FIRST_NAME": keyPerson, "patient_id": keyPlain,
		"noteID": keyPlain, "body_bytes": keyPlain, "notebook": keyPlain,
		"redirect_uri": keyURL, "url": keyURL, "": keyPlain, "---": keyPlain,
	}
	for k, want := range tests {
		if got := classify(k); got != want {
			t.Errorf("classify(%q) = %d, want %d", k, got, want)
		}
	}
}

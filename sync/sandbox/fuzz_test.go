package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Any request body to the JSON routes gets a JSON answer with a deliberate status, never a panic or
// a 500.
func FuzzJSONBodies(f *testing.F) {
	s, err := New(f.Context(), Config{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	h := s.Handler()
	token := fuzzLogin(f, h)
	for _, seed := range []string{
		`{"first_name":"A","last_name":"B","date_of_birth":"2000-02-29"}`,
		`{"first_name":"A","last_name":"B","date_of_birth":"2000-02-30"}`,
		`{"first_name":null}`, `{"name":"x","email":"a@b"}`, `[]`, `{`, `{"expires_in_seconds":1e400}`, "",
		`{"first_name":"\u0000","last_name":"\ud800"}`,
	} {
		f.Add("/api/v1/patients", "POST", seed)
		f.Add("/api/v1/user", "PUT", seed)
		f.Add("/api/v1/transcription/token", "POST", seed)
		f.Add("/api/v1/patients/1", "PUT", seed)
		f.Add("/api/v1/progress-notes/1", "PUT", seed)
	}
	f.Fuzz(func(t *testing.T, path, method, body string) {
		switch path {
		case "/api/v1/patients", "/api/v1/user", "/api/v1/transcription/token", "/api/v1/patients/1", "/api/v1/progress-notes/1":
		default:
			return
		}
		if method != "POST" && method != "PUT" {
			return
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201, 400, 405, 413, 422:
		default:
			t.Fatalf("%s %s %q: status %d %s", method, path, body, rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s %q: body is not JSON: %s", method, path, body, rec.Body)
		}
	})
}

func fuzzLogin(f *testing.F, h http.Handler) string {
	body := `{"email":"` + SampleEmail + `","password":"` + SamplePassword + `","device_name":"fuzz"}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/tokens", bytes.NewBufferString(body)))
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.Token == "" {
		f.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	return tok.Token
}

// The drafter takes any transcript.
func FuzzDraft(f *testing.F) {
	for _, v := range sampleVisits {
		f.Add(v, "context")
	}
	f.Add("PHQ-9 99999999999999999999 GAD-7 -3. . . !?", "")
	f.Fuzz(func(t *testing.T, transcript, context string) {
		for _, tpl := range sampleTemplates {
			out := draft(draftInput{template: tpl, transcript: transcript, context: context, audioSeconds: float64(len(transcript))})
			if !strings.HasPrefix(out.analysis, draftLabel) || len(out.codes.CPT) != 1 {
				t.Fatalf("draft of %q: %q %+v", transcript, out.analysis, out.codes)
			}
		}
	})
}

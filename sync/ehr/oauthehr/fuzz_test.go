package oauthehr

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"golang.org/x/oauth2"
)

// reply is what the fuzzed EHR answers every API request with.
type reply struct {
	status int
	body   []byte
}

// replyTransport answers in process: the API with *cur, the token endpoint
// always with invalid_grant (a refresh after a 401 is refused).
type replyTransport struct{ cur *atomic.Pointer[reply] }

func (rt replyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	status, body := http.StatusBadRequest, []byte(`{"error":"invalid_grant"}`)
	if req.URL.Path != "/token" {
		rp := rt.cur.Load()
		status, body = rp.status, rp.body
	}
	h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {"1"}}
	return &http.Response{StatusCode: status, Header: h, Request: req,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
}

// checkErr: an error about an answer is an *ehr.StatusError of this EHR
// naming the operation and what was wrong, with the answer's status (0,
// temporary, for an unreadable success), or ErrReauthorize once a 401's
// refresh was refused.
func checkErr(t *testing.T, call string, status int, err error) {
	t.Helper()
	if errors.Is(err, ehr.ErrReauthorize) && status == http.StatusUnauthorized {
		return
	}
	var se *ehr.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s with HTTP %d: untyped error %v", call, status, err)
	}
	if se.Kind != ehr.Osmind || se.Op == "" || se.Message == "" {
		t.Fatalf("%s: error %+v does not name the EHR, the operation and what was wrong", call, se)
	}
	switch {
	case status >= 200 && status <= 299:
		if se.StatusCode != 0 || !se.Temporary() {
			t.Fatalf("%s: unreadable success gave %+v, want status 0 and temporary", call, se)
		}
	case se.StatusCode != status:
		t.Fatalf("%s: HTTP %d reported as %d", call, status, se.StatusCode)
	}
}

// FuzzReplies: whatever Osmind or Kalix answers, every call returns a valid
// result or a typed error, and never panics.
func FuzzReplies(f *testing.F) {
	f.Add(uint16(0), []byte(`{"data":[{"id":"p1","name":"Dr A","email":"a@x"}]}`))
	f.Add(uint16(0), []byte(`{"data":[{"id":"5","first_name":"A","updated_at":"2026-01-02T03:04:05Z"}],"server_time":"2026-01-03T00:00:00Z"}`))
	f.Add(uint16(0), []byte(`{"data":[{"id":"5","updated_at":"soon"}],"server_time":"2026-01-03T00:00:00Z"}`))
	f.Add(uint16(1), []byte(`{"id":9,"patient_id":"5","version":1,"data":[{"id":9}]}`))
	f.Add(uint16(203), []byte(`{"error":"insufficient_scope","scope":"notes.write"}`))
	f.Add(uint16(201), []byte(`{"error":"invalid_token"}`))
	f.Add(uint16(222), []byte(`{"error":"validation","message":"bad","fields":{"visit_date":"bad"}}`))
	f.Add(uint16(0), []byte(`[`))
	var cur atomic.Pointer[reply]
	hc := &http.Client{Transport: replyTransport{&cur}}
	f.Fuzz(func(t *testing.T, code uint16, body []byte) {
		status := 200 + int(code)%400
		cur.Store(&reply{status: status, body: body})
		c, err := New(Config{Kind: ehr.Osmind, Issuer: "https://ehr.test/osmind", APIBase: "https://ehr.test/osmind/api",
			ClientID: "scribe", TokenEndpoint: "https://ehr.test/token", HTTPClient: hc,
			Token: &oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if acct, err := c.Validate(ctx); err != nil {
			checkErr(t, "Validate", status, err)
		} else if acct.Name != "Osmind" {
			t.Fatalf("Validate: %+v", acct)
		}
		if _, err := c.Providers(ctx); err != nil {
			checkErr(t, "Providers", status, err)
		}
		if pts, next, err := c.Roster(ctx, time.Time{}); err != nil {
			checkErr(t, "Roster", status, err)
		} else {
			if next.IsZero() {
				t.Fatalf("Roster returned no next cursor")
			}
			for _, p := range pts {
				if p.UpdatedAt.IsZero() {
					t.Fatalf("Roster: patient with no updated_at accepted")
				}
			}
		}
		n := ehr.Note{PatientID: "5", ProviderID: "p1", VisitDate: "2026-01-02", Text: "note", SignedAt: time.Unix(0, 0)}
		for _, opt := range []ehr.PushOptions{
			{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "k"},
			{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: "5/9", IdempotencyKey: "k"},
		} {
			ref, err := c.Push(ctx, n, opt)
			if err != nil {
				checkErr(t, "Push", status, err)
				continue
			}
			if p, id, err := parseRef(ref); err != nil || p != "5" || id <= 0 {
				t.Fatalf("Push returned ref %q (%v)", ref, err)
			}
		}
		if st, err := c.Confirm(ctx, "5/9"); err != nil {
			if !errors.Is(err, ehr.ErrNotFound) || status > 299 {
				checkErr(t, "Confirm", status, err)
			}
		} else if st != ehr.Confirmed {
			t.Fatalf("Confirm: %q", st)
		}
	})
}

// TestNewRefusesPlainHTTP: the issuer and the API base must be https
// unless loopback: the token and chart content travel there.
func TestNewRefusesPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		issuer, api string
		ok          bool
	}{
		{"https://ehr.example/osmind", "https://ehr.example/osmind/api", true},
		{"http://127.0.0.1:9/osmind", "http://localhost:9/osmind/api", true},
		{"http://ehr.example/osmind", "https://ehr.example/osmind/api", false},
		{"https://ehr.example/osmind", "http://ehr.example/osmind/api", false},
		{"https://ehr.example/osmind", "http://10.0.0.8/api", false},
	} {
		_, err := New(Config{Kind: ehr.Osmind, Issuer: tc.issuer, APIBase: tc.api, ClientID: "c", Token: &oauth2.Token{AccessToken: "a"}})
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "plain http")) {
			t.Errorf("New(%s, %s): %v, want ok=%v", tc.issuer, tc.api, err, tc.ok)
		}
	}
}

// TestDefaultClientTimesOut: with no Config.HTTPClient the connector does
// not use http.DefaultClient, which waits for ever on a hung EHR.
func TestDefaultClientTimesOut(t *testing.T) {
	c, err := New(Config{Kind: ehr.Kalix, Issuer: "https://ehr.example/kalix", APIBase: "https://ehr.example/kalix/api", ClientID: "c", Token: &oauth2.Token{AccessToken: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.http == http.DefaultClient || c.http.Timeout <= 0 {
		t.Errorf("default client %+v has no timeout", c.http)
	}
}

// TestAnswerBounded: an answer larger than maxBody is refused as such, not
// read whole nor cut and misread.
func TestAnswerBounded(t *testing.T) {
	var cur atomic.Pointer[reply]
	cur.Store(&reply{status: 200, body: []byte(`{"data":[],"pad":"` + strings.Repeat("x", maxBody) + `"}`)})
	c, err := New(Config{Kind: ehr.Osmind, Issuer: "https://ehr.test/osmind", APIBase: "https://ehr.test/osmind/api",
		ClientID: "scribe", TokenEndpoint: "https://ehr.test/token", HTTPClient: &http.Client{Transport: replyTransport{&cur}},
		Token: &oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Providers(t.Context())
	var se *ehr.StatusError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "larger than") {
		t.Errorf("Providers with a %d-byte answer: %v, want it refused as too large", maxBody+30, err)
	}
}

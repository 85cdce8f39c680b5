package simplepractice

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
)

// reply is what the fuzzed server answers every request with.
type reply struct {
	status int
	body   []byte
}

// replyServer answers with whatever *cur holds, so one server serves a
// whole fuzz run.
func replyServer(tb testing.TB, cur *atomic.Pointer[reply]) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp := cur.Load()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(rp.status)
		w.Write(rp.body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// replyTransport answers in process what *cur holds: the connector's whole
// client path runs, with no server goroutines to make the fuzzer's
// coverage flaky.
type replyTransport struct{ cur *atomic.Pointer[reply] }

func (rt replyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rp := rt.cur.Load()
	h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {"1"}}
	return &http.Response{StatusCode: rp.status, Header: h, Request: req,
		Body: io.NopCloser(bytes.NewReader(rp.body)), ContentLength: int64(len(rp.body))}, nil
}

// checkErr: a connector's error about an answer is an *ehr.StatusError of
// this EHR that says what it was doing, carries the status (0 for an
// unreadable success, which is temporary).
func checkErr(t *testing.T, call string, status int, err error) {
	t.Helper()
	var se *ehr.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s with HTTP %d: untyped error %v", call, status, err)
	}
	if se.Kind != ehr.SimplePractice || se.Op == "" || se.Message == "" {
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

// FuzzReplies: whatever SimplePractice answers, every call returns a valid
// result or a typed error, and never panics.
func FuzzReplies(f *testing.F) {
	f.Add(uint16(200), []byte(`{"user":{"name":"A","email":"a@x"},"practice":{"id":1,"name":"P"}}`))
	f.Add(uint16(200), []byte(`{"clinicians":[{"id":3,"name":"Dr A"}],"clients":[{"id":5,"last_name":"Z"}],"note":{"id":7}}`))
	f.Add(uint16(201), []byte(`{"note":{"id":-1}}`))
	f.Add(uint16(200), []byte(`{"note":{"id":"7"}}`))
	f.Add(uint16(422), []byte(`{"error":{"code":"invalid","message":"bad date","fields":{"date":"bad"}}}`))
	f.Add(uint16(429), []byte(`not json`))
	f.Add(uint16(200), []byte(`null`))
	var cur atomic.Pointer[reply]
	hc := &http.Client{Transport: replyTransport{&cur}}
	f.Fuzz(func(t *testing.T, code uint16, body []byte) {
		status := 200 + int(code)%400
		cur.Store(&reply{status: status, body: body})
		c, err := New(Config{BaseURL: "https://sp.test", Token: "tok", HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if acct, err := c.Validate(ctx); err != nil {
			checkErr(t, "Validate", status, err)
		} else if acct.Name == "" {
			t.Fatalf("Validate accepted an account with no practice name")
		}
		if ps, err := c.Providers(ctx); err != nil {
			checkErr(t, "Providers", status, err)
		} else {
			for _, p := range ps {
				if _, err := strconv.ParseInt(p.ID, 10, 64); err != nil {
					t.Fatalf("provider id %q", p.ID)
				}
			}
		}
		if _, err := c.FindClients(ctx, "Z", ""); err != nil {
			checkErr(t, "FindClients", status, err)
		}
		n := ehr.Note{PatientID: "5", ProviderID: "3", VisitDate: "2026-01-02", Text: "note", SignedAt: time.Unix(0, 0)}
		for _, opt := range []ehr.PushOptions{
			{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "k"},
			{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: "7", IdempotencyKey: "k"},
		} {
			ref, err := c.Push(ctx, n, opt)
			if err != nil {
				checkErr(t, "Push", status, err)
				continue
			}
			if id, err := strconv.ParseInt(string(ref), 10, 64); err != nil || id <= 0 {
				t.Fatalf("Push returned ref %q, not a note id", ref)
			}
		}
		if st, err := c.Confirm(ctx, "7"); err != nil {
			checkErr(t, "Confirm", status, err)
		} else if st != ehr.Confirmed {
			t.Fatalf("Confirm: %q", st)
		}
		if _, _, err := c.Roster(ctx, time.Time{}); !errors.Is(err, ehr.ErrUnsupported) {
			t.Fatalf("Roster: %v", err)
		}
	})
}

// TestRepliesBounded: a reply larger than maxReply is refused, not read
// whole.
func TestRepliesBounded(t *testing.T) {
	var cur atomic.Pointer[reply]
	cur.Store(&reply{status: 200, body: []byte(`{"clinicians":[],"pad":"` + strings.Repeat("x", maxReply) + `"}`)})
	srv := replyServer(t, &cur)
	c, err := New(Config{BaseURL: srv.URL, Token: "tok", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Providers(t.Context())
	var se *ehr.StatusError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "larger than") {
		t.Errorf("Providers with a %d-byte reply: %v, want it refused as too large", maxReply+30, err)
	}
}

// TestDefaultClientTimesOut: with no Config.HTTPClient the connector does
// not use http.DefaultClient, which waits for ever on a hung EHR.
func TestDefaultClientTimesOut(t *testing.T) {
	c, err := New(Config{BaseURL: "https://api.example.com", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if c.hc == http.DefaultClient || c.hc.Timeout <= 0 {
		t.Errorf("default client %+v has no timeout", c.hc)
	}
}

package nexhealth

import (
	"bytes"
	"errors"
	"fmt"
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

// replies is what the fuzzed server answers: one reply to POST
// /authenticates, another to every other request.
type replies struct {
	authStatus, status int
	auth, body         []byte
}

func replyServer(tb testing.TB, cur *atomic.Pointer[replies]) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp := cur.Load()
		status, body := rp.status, rp.body
		if r.URL.Path == "/authenticates" {
			status, body = rp.authStatus, rp.auth
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(status)
		w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// replyTransport answers in process what *cur holds: the connector's whole
// client path runs, with no server goroutines to make the fuzzer's
// coverage flaky.
type replyTransport struct{ cur *atomic.Pointer[replies] }

func (rt replyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rp := rt.cur.Load()
	status, body := rp.status, rp.body
	if req.URL.Path == "/authenticates" {
		status, body = rp.authStatus, rp.auth
	}
	h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {"1"}}
	return &http.Response{StatusCode: status, Header: h, Request: req,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
}

// checkErr: an error about an answer is an *ehr.StatusError of NexHealth
// naming the operation and what was wrong, with the status of the answer
// it is about (0, temporary, for an unreadable success).
func checkErr(t *testing.T, call string, rp *replies, err error) {
	t.Helper()
	var se *ehr.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: untyped error %v", call, err)
	}
	if se.Kind != ehr.NexHealth || se.Op == "" || se.Message == "" {
		t.Fatalf("%s: error %+v does not name the EHR, the operation and what was wrong", call, se)
	}
	if se.StatusCode == 0 && !se.Temporary() {
		t.Fatalf("%s: unreadable success %+v is not temporary", call, se)
	}
	if se.StatusCode != 0 && se.StatusCode != rp.status && se.StatusCode != rp.authStatus {
		t.Fatalf("%s: error %+v names a status the server never sent (%d, %d)", call, se, rp.authStatus, rp.status)
	}
}

// FuzzReplies: whatever NexHealth answers, to the authentication and to the
// calls, each call returns a valid result or a typed error, and never panics.
func FuzzReplies(f *testing.F) {
	auth := []byte(`{"code":true,"data":{"token":"a.eyJleHAiOjQxMDI0NDQ4MDB9.c"}}`)
	f.Add(uint16(0), uint16(0), auth, []byte(`{"code":true,"data":{"read_status":"green","read_status_at":"2026-01-02T03:04:05Z","location_name":"Main"}}`))
	f.Add(uint16(0), uint16(0), auth, []byte(`{"code":true,"data":[{"id":3,"name":"Dr A"}],"count":1}`))
	f.Add(uint16(0), uint16(0), auth, []byte(`{"code":true,"data":{"patients":[{"id":5,"updated_at":"2026-01-02T03:04:05Z"}]}}`))
	f.Add(uint16(0), uint16(1), auth, []byte(`{"code":true,"data":{"id":9,"status":"completed"}}`))
	f.Add(uint16(0), uint16(0), auth, []byte(`{"code":true,"data":{"patients":[{"id":5,"updated_at":"yesterday"}]}}`))
	f.Add(uint16(201), uint16(0), []byte(`{"code":false,"error":["bad key"]}`), []byte(`{}`))
	f.Add(uint16(0), uint16(229), auth, []byte(`{"code":false,"error":["slow down"]}`))
	f.Add(uint16(0), uint16(0), []byte(`{"code":true,"data":{"token":"x.!!.y"}}`), []byte(`{"data":null}`))
	var cur atomic.Pointer[replies]
	hc := &http.Client{Transport: replyTransport{&cur}}
	f.Fuzz(func(t *testing.T, authCode, code uint16, authBody, body []byte) {
		rp := &replies{authStatus: 200 + int(authCode)%400, status: 200 + int(code)%400, auth: authBody, body: body}
		cur.Store(rp)
		c, err := New(Config{BaseURL: "https://nh.test", APIKey: "key", Subdomain: "demo", LocationID: "7", HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if acct, err := c.Validate(ctx); err != nil {
			checkErr(t, "Validate", rp, err)
		} else if acct.Name != "demo" || acct.Location == "" {
			t.Fatalf("Validate: %+v", acct)
		}
		if ps, err := c.Providers(ctx); err != nil {
			checkErr(t, "Providers", rp, err)
		} else {
			for _, p := range ps {
				if _, err := strconv.ParseInt(p.ID, 10, 64); err != nil {
					t.Fatalf("provider id %q", p.ID)
				}
			}
		}
		since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if pts, next, err := c.Roster(ctx, since); err != nil {
			checkErr(t, "Roster", rp, err)
		} else {
			if next.Before(since) {
				t.Fatalf("Roster moved the cursor back from %v to %v", since, next)
			}
			for _, p := range pts {
				if p.UpdatedAt.After(next) {
					t.Fatalf("Roster: patient updated %v after the next cursor %v", p.UpdatedAt, next)
				}
			}
		}
		n := ehr.Note{PatientID: "5", ProviderID: "3", VisitDate: "2026-01-02", Title: "Visit", Text: "note", SignedAt: time.Unix(0, 0)}
		if ref, err := c.Push(ctx, n, ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "k"}); err != nil {
			checkErr(t, "Push", rp, err)
		} else if _, d, ok := strings.Cut(string(ref), "/"); !ok || d == "" || d == "0" {
			t.Fatalf("Push returned ref %q, not patient/document", ref)
		}
		if st, err := c.Confirm(ctx, "5/9"); err != nil {
			checkErr(t, "Confirm", rp, err)
		} else if st != ehr.Pending && st != ehr.Confirmed && st != ehr.Failed {
			t.Fatalf("Confirm: %q", st)
		}
	})
}

// TestListingThatNeverEnds: an EHR that ignores the page parameter, or
// whose listing goes on for ever, gets a typed error, not an endless read.
func TestListingThatNeverEnds(t *testing.T) {
	fullPage := func(first int) []byte {
		var b strings.Builder
		b.WriteString(`{"code":true,"data":[`)
		for i := range perPage {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%d,"name":"P"}`, first+i+1)
		}
		b.WriteString(`]}`)
		return []byte(b.String())
	}
	auth := []byte(`{"code":true,"data":{"token":"t"}}`)
	t.Run("SamePage", func(t *testing.T) {
		var cur atomic.Pointer[replies]
		cur.Store(&replies{authStatus: 200, status: 200, auth: auth, body: fullPage(0)})
		srv := replyServer(t, &cur)
		c, err := New(Config{BaseURL: srv.URL, APIKey: "key", Subdomain: "demo", LocationID: "7", HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Providers(t.Context())
		var se *ehr.StatusError
		if !errors.As(err, &se) || !strings.Contains(se.Message, "repeats") {
			t.Fatalf("Providers from an EHR that repeats its page: %v", err)
		}
	})
	t.Run("Endless", func(t *testing.T) {
		var served atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/authenticates" {
				w.Write(auth)
				return
			}
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			served.Add(1)
			w.Write(fullPage(page * perPage))
		}))
		defer srv.Close()
		c, err := New(Config{BaseURL: srv.URL, APIKey: "key", Subdomain: "demo", LocationID: "7", HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		c.maxPages = 5 // the real bound is thousands of pages
		_, err = c.Providers(t.Context())
		var se *ehr.StatusError
		if !errors.As(err, &se) || !strings.Contains(se.Message, "past") || served.Load() != 5 {
			t.Fatalf("Providers from an endless listing: %v after %d pages", err, served.Load())
		}
	})
}

// TestDefaultClientTimesOut: with no Config.HTTPClient the connector does
// not use http.DefaultClient, which waits for ever on a hung EHR.
func TestDefaultClientTimesOut(t *testing.T) {
	c, err := New(Config{BaseURL: "https://nexhealth.info", APIKey: "key", Subdomain: "demo", LocationID: "7"})
	if err != nil {
		t.Fatal(err)
	}
	if c.hc == http.DefaultClient || c.hc.Timeout <= 0 {
		t.Errorf("default client %+v has no timeout", c.hc)
	}
}

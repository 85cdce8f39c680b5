package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

// replyTransport answers every request with one canned response, so the fuzzer drives the whole
// client (doer, generated parser, error mapping) without a network.
type replyTransport struct {
	status      int
	contentType string
	body        []byte
	retryAfter  string
}

func (rt replyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := make(http.Header)
	if rt.contentType != "" {
		h.Set("Content-Type", rt.contentType)
	}
	if rt.retryAfter != "" {
		h.Set("Retry-After", rt.retryAfter)
	}
	return &http.Response{
		StatusCode: rt.status, Status: http.StatusText(rt.status), Header: h, Request: req,
		Body: io.NopCloser(bytes.NewReader(rt.body)), ContentLength: int64(len(rt.body)),
	}, nil
}

var fuzzStatuses = []int{200, 201, 204, 400, 401, 403, 404, 422, 429, 500, 503}

// FuzzDecodeResponse: whatever a server sends, the client returns a value or one of its typed
// errors, and never panics.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(uint8(0), true, []byte(`{"id":1,"name":"n","team_id":1,"user_id":1,"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z","codes":{"icd10":[{"code":"F41.1"}]}}`), "")
	f.Add(uint8(0), true, []byte(`{"id":1,"created_at":"yesterday"}`), "")
	f.Add(uint8(0), false, []byte(`<html>`), "")
	f.Add(uint8(4), true, []byte(`{"message":"Unauthenticated."}`), "")
	f.Add(uint8(7), true, []byte(`{"message":"bad","errors":{"name":["too long"]}}`), "")
	f.Add(uint8(7), true, []byte(`{"message":"bad","errors":{"name":"too long"}}`), "")
	f.Add(uint8(8), true, []byte(`{}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(uint8(9), true, []byte(`{"message":`), "x")
	f.Fuzz(func(t *testing.T, statusIndex uint8, json bool, body []byte, retryAfter string) {
		rt := replyTransport{status: fuzzStatuses[int(statusIndex)%len(fuzzStatuses)], body: body, retryAfter: retryAfter}
		if json {
			rt.contentType = "application/json"
		}
		c, err := New("https://fuzz.invalid/api", Options{HTTPClient: &http.Client{Transport: rt}, MaxAttempts: 1, Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Note(t.Context(), 1)
		if err == nil {
			if rt.status != 200 || n.Id == 0 {
				t.Fatalf("status %d body %q decoded to %+v without an error", rt.status, body, n)
			}
			return
		}
		var ve *ValidationError
		var se *StatusError
		var rl *RateLimitError
		typed := errors.Is(err, ErrBadResponse) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotFound) ||
			errors.As(err, &ve) || errors.As(err, &se) || errors.As(err, &rl)
		if !typed {
			t.Fatalf("status %d body %q: untyped error %v", rt.status, body, err)
		}
		if rt.status == 200 && !errors.Is(err, ErrBadResponse) {
			t.Fatalf("status 200 body %q: err = %v, want ErrBadResponse", body, err)
		}
	})
}

package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string // JSON, or "" for none
		is       error
		contains string
	}{
		{"401 with message", 401, `{"message":"Your session has ended; sign in again."}`, ErrUnauthorized, "sign in again"},
		{"401 without body", 401, "", ErrUnauthorized, "did not accept"},
		{"404", 404, `{"message":"No query results for model [Patient] 99"}`, ErrNotFound, "[Patient] 99"},
		{"422", 422, `{"message":"The name field is required.","errors":{"name":["The name field is required."],"per_page":["The per page field must be at least 1."]}}`, nil, "per_page: The per page field must be at least 1."},
		{"403", 403, `{"message":"This action is unauthorized."}`, nil, "403 Forbidden: This action is unauthorized."},
		{"409 html", 409, "<html>conflict</html>", nil, "409 Conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if strings.HasPrefix(tc.body, "{") {
					w.Header().Set("Content-Type", "application/json")
				} else if tc.body != "" {
					w.Header().Set("Content-Type", "text/html")
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			c, _ := newTestClient(t, s.base(), Options{Token: "sekret-token-value"})
			_, err := c.Patient(t.Context(), 99)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			if strings.Contains(err.Error(), "sekret") {
				t.Errorf("error %q leaks the token", err)
			}
			if got := s.hits.Load(); got != 1 {
				t.Errorf("attempts = %d, want 1 (%d is not retried)", got, tc.status)
			}
			switch tc.status {
			case 422:
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %T, want *ValidationError", err)
				}
				if ve.Message != "The name field is required." || ve.Field("name") != "The name field is required." || ve.Field("first_name") != "" {
					t.Errorf("validation error = %+v", ve)
				}
			case 403, 409:
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != tc.status {
					t.Errorf("err = %#v, want *StatusError %d", err, tc.status)
				}
			}
		})
	}
}

func TestValidationErrorText(t *testing.T) {
	ve := &ValidationError{Message: "The given data was invalid.", Fields: map[string][]string{
		"name":     {"too long", "has tabs"},
		"per_page": {"must be at least 1"},
	}}
	want := "The given data was invalid. (name: too long, has tabs; per_page: must be at least 1)"
	if got := ve.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	one := &ValidationError{Message: "The name field is required.", Fields: map[string][]string{"name": {"The name field is required."}}}
	if got := one.Error(); got != "The name field is required." {
		t.Errorf("Error() = %q, want the message once", got)
	}
	if got := (&ValidationError{}).Error(); got != "the server rejected the request" {
		t.Errorf("empty Error() = %q", got)
	}
}

func TestUndecodableResponses(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, contains string
	}{
		{"truncated JSON", "application/json", `{"id": 7, "name": `, "unexpected end"},
		{"HTML portal page", "text/html; charset=utf-8", "<html><body>Sign in to the hotel Wi-Fi</body></html>", "text/html"},
		{"no content type", "", "", "no content type"},
		{"wrong shape", "application/json", `{"id": "seven", "name": "x", "email": "y"}`, "cannot unmarshal"},
		{"null", "application/json", `null`, "no id"},
		{"empty object", "application/json", `{}`, "no id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				fmt.Fprint(w, tc.body)
			})
			c, _ := newTestClient(t, s.base(), Options{})
			_, err := c.User(t.Context())
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("err = %v, want ErrBadResponse", err)
			}
			if !strings.Contains(err.Error(), "Scribe cannot read") || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not explain itself (want %q)", err, tc.contains)
			}
		})
	}
}

// A 10 MB error body is not read in full: the client stops after 64 KiB and still says what happened.
func TestHugeErrorBodyIsNotReadInFull(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnprocessableEntity, http.StatusUnauthorized} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				chunk := []byte(`{"message":"` + strings.Repeat("x", 64<<10))
				for written := 0; written < 10<<20; written += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return // the client hung up, as it should
					}
				}
			})
			ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
			c, _ := newTestClient(t, s.base(), Options{HTTPClient: &http.Client{Transport: ct}, MaxAttempts: 1})
			_, err := c.User(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "over 64 KiB") {
				t.Errorf("error %q does not say the body was too large", err)
			}
			if got := ct.read.Load(); got > maxErrorBody+1 {
				t.Errorf("read %d bytes of the error body, want at most %d", got, maxErrorBody+1)
			}
			switch status {
			case http.StatusInternalServerError:
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != status {
					t.Errorf("err = %v, want *StatusError %d", err, status)
				}
			case http.StatusUnprocessableEntity:
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Errorf("err = %v, want *ValidationError", err)
				}
			case http.StatusUnauthorized:
				if !errors.Is(err, ErrUnauthorized) {
					t.Errorf("err = %v, want ErrUnauthorized", err)
				}
			}
		})
	}
}

func TestOversizedSuccessBody(t *testing.T) {
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", declared), func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				if declared {
					w.Header().Set("Content-Length", fmt.Sprint(maxSuccessBody+10))
				}
				chunk := []byte(strings.Repeat(" ", 1<<20))
				for written := 0; written < maxSuccessBody+10; written += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			})
			ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
			c, _ := newTestClient(t, s.base(), Options{HTTPClient: &http.Client{Transport: ct}})
			_, err := c.User(t.Context())
			if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "16 MiB limit") {
				t.Fatalf("err = %v, want ErrBadResponse naming the 16 MiB limit", err)
			}
			if got := ct.read.Load(); got > maxSuccessBody+1 {
				t.Errorf("read %d bytes, want at most %d", got, maxSuccessBody+1)
			}
			if got := s.hits.Load(); got != 1 {
				t.Errorf("attempts = %d, want 1 (a too-large answer is not retried)", got)
			}
		})
	}
}

func TestCleanMessage(t *testing.T) {
	if got := cleanMessage(" a\nb\x00c "); got != "a b c" {
		t.Errorf("cleanMessage = %q", got)
	}
	long := cleanMessage(strings.Repeat("é", 1000))
	if n := len([]rune(long)); n != maxMessageLen+1 {
		t.Errorf("long message has %d runes, want %d (cut + ellipsis)", n, maxMessageLen+1)
	}
}

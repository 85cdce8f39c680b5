package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Sentinels for the failures a caller acts on differently; check them with errors.Is.
var (
	// ErrUnauthorized: the server did not accept the credentials or the token (HTTP 401). Sign in again.
	ErrUnauthorized = errors.New("the server did not accept the sign-in")
	// ErrNotFound: no such resource in the user's team (HTTP 404).
	ErrNotFound = errors.New("not found on the server")
	// ErrRateLimited: the server still answered 429 after the retries (or asked for a longer wait than
	// the client will sit through). errors.As with *RateLimitError gives the wait it asked for.
	ErrRateLimited = errors.New("the server is limiting requests")
	// ErrBadResponse: the server answered something this client cannot decode (not JSON, the wrong
	// shape, too large). Usually a proxy, captive portal or wrong server URL.
	ErrBadResponse = errors.New("the server sent a response Scribe cannot read")
	// ErrUnreachable: no HTTP answer at all (DNS, refused connection, TLS failure, timeout).
	ErrUnreachable = errors.New("cannot reach the server")
)

// ValidationError is the server's 422: the request was understood but some fields are not acceptable.
type ValidationError struct {
	Message string
	Fields  map[string][]string
}

func (e *ValidationError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "the server rejected the request"
	}
	if len(e.Fields) == 0 || e.onlySays(msg) {
		return msg
	}
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, name+": "+strings.Join(e.Fields[name], ", "))
	}
	return msg + " (" + strings.Join(parts, "; ") + ")"
}

// onlySays reports whether the fields hold just one message, msg itself (Laravel repeats the first
// field's message as the summary), which need not be printed twice.
func (e *ValidationError) onlySays(msg string) bool {
	n := 0
	same := false
	for _, msgs := range e.Fields {
		n += len(msgs)
		same = len(msgs) == 1 && msgs[0] == msg
	}
	return n == 1 && same
}

// Field returns the first message for one field ("" when that field is fine), for showing it beside
// the form input.
func (e *ValidationError) Field(name string) string {
	if msgs := e.Fields[name]; len(msgs) > 0 {
		return msgs[0]
	}
	return ""
}

// StatusError is any other non-2xx answer (403, 409, 500 after retries, ...).
type StatusError struct {
	StatusCode int
	Message    string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("the server answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// RateLimitError is the 429 that outlasted the retries. It matches ErrRateLimited.
type RateLimitError struct {
	// Wait is the wait the server asked for (0 when it did not say).
	Wait    time.Duration
	Message string
}

// RetryAfter is the wait the server asked for; a job queue honours it (sync/outbox).
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

func (e *RateLimitError) Error() string {
	s := ErrRateLimited.Error()
	if e.Wait > 0 {
		s += fmt.Sprintf("; try again in %s", e.Wait.Round(time.Second))
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	return s
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// statusSentinel carries the server's message for an answer that maps to a sentinel (401, 404).
type statusSentinel struct {
	sentinel error
	message  string
}

func (e *statusSentinel) Error() string {
	if e.message == "" {
		return e.sentinel.Error()
	}
	return e.sentinel.Error() + ": " + e.message
}

func (e *statusSentinel) Unwrap() error { return e.sentinel }

// unreachableError names the host that could not be reached and keeps the cause for errors.Is
// (e.g. syscall.ECONNREFUSED). It never carries the request URL: query strings hold search terms.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%s %s: %v", ErrUnreachable, e.host, e.err)
}

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// badResponse wraps ErrBadResponse with what was wrong, e.g. "expected JSON, got text/html".
func badResponse(format string, args ...any) error {
	return fmt.Errorf("%w (%s)", ErrBadResponse, fmt.Sprintf(format, args...))
}

// errorBody is the error shape the API uses for 401, 404, 422 and 429: {message, errors}.
type errorBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
}

// maxMessageLen bounds how much of a server-supplied message reaches an error string (and a window).
const maxMessageLen = 300

// statusError maps a non-2xx answer to the typed error for it. body is at most maxErrorBody bytes;
// truncated says the server sent more than that, so the JSON is incomplete and is not decoded.
func statusError(status int, header http.Header, body []byte, truncated bool, retryAfter time.Duration) error {
	var eb errorBody
	decoded := false
	if !truncated && isJSON(header.Get("Content-Type")) {
		decoded = json.Unmarshal(body, &eb) == nil
	}
	msg := cleanMessage(eb.Message)
	if truncated {
		msg = fmt.Sprintf("its error body was over %d KiB and was not read", maxErrorBody/1024)
	}
	switch status {
	case http.StatusUnauthorized:
		return &statusSentinel{sentinel: ErrUnauthorized, message: msg}
	case http.StatusNotFound:
		return &statusSentinel{sentinel: ErrNotFound, message: msg}
	case http.StatusUnprocessableEntity:
		ve := &ValidationError{Message: msg}
		if decoded && len(eb.Errors) > 0 {
			ve.Fields = make(map[string][]string, len(eb.Errors))
			for field, msgs := range eb.Errors {
				clean := make([]string, 0, len(msgs))
				for _, m := range msgs {
					clean = append(clean, cleanMessage(m))
				}
				ve.Fields[cleanMessage(field)] = clean
			}
		}
		return ve
	case http.StatusTooManyRequests:
		return &RateLimitError{Wait: retryAfter, Message: msg}
	default:
		return &StatusError{StatusCode: status, Message: msg}
	}
}

// cleanMessage keeps a server message printable and short: it ends up in windows and logs.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > maxMessageLen {
		s = string(r[:maxMessageLen]) + "…"
	}
	return s
}

func isJSON(contentType string) bool {
	return strings.Contains(strings.ToLower(contentType), "json")
}

package ehr

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StatusError is an EHR's answer that was not a success, or a success the
// connector could not read (StatusCode 0). Every connector returns this one
// type, so the app classifies them all alike: Temporary ones (5xx, 408, 409
// — a request still in flight under the same Idempotency-Key —, 429 and
// unreadable replies) come back by themselves, after RetryAfter when the
// EHR said; the rest need a person. It matches the sentinel its status
// means: 401 ErrReauthorize, 403 ErrScope, 404 ErrNotFound.
type StatusError struct {
	Kind       Kind
	Op         string // what the connector was doing: "push note"
	StatusCode int    // 0 when a 2xx reply could not be read
	Code       string // the EHR's error code, when it gives one ("insufficient_scope")
	Message    string // the EHR's sentence, or what was wrong with the reply
	Fields     map[string]string

	retryAfter time.Duration
	sentinel   error
}

// NewStatusError reads what a non-2xx answer means; header gives Retry-After.
func NewStatusError(kind Kind, op string, status int, code, msg string, fields map[string]string, header http.Header) *StatusError {
	e := &StatusError{Kind: kind, Op: op, StatusCode: status, Code: code, Message: msg, Fields: fields}
	switch status {
	case http.StatusUnauthorized:
		e.sentinel = ErrReauthorize
	case http.StatusForbidden:
		e.sentinel = ErrScope
	case http.StatusNotFound:
		e.sentinel = ErrNotFound
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		e.retryAfter = parseRetryAfter(header.Get("Retry-After"))
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if e.Message == "" {
		// A status with no name (HTTP 320): the error still says what it is.
		e.Message = "an answer with an unknown status"
	}
	return e
}

// BadReply is a success the connector could not read: transient, as a
// proxy or a half-deployed EHR usually is.
func BadReply(kind Kind, op, msg string) *StatusError {
	return &StatusError{Kind: kind, Op: op, Message: msg}
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: ", e.Kind, e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d: ", e.StatusCode)
	}
	b.WriteString(e.Message)
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		fmt.Fprintf(&b, "; %s: %s", k, e.Fields[k])
	}
	return b.String()
}

// Unwrap returns the sentinel the status means, if any.
func (e *StatusError) Unwrap() error { return e.sentinel }

// HTTPStatus is the answer's status (0 for an unreadable success).
func (e *StatusError) HTTPStatus() int { return e.StatusCode }

// RetryAfter is how long the EHR asked to wait (429 or 503 with
// Retry-After), or zero.
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }

// Temporary reports whether the same request may succeed later unchanged.
func (e *StatusError) Temporary() bool {
	switch e.StatusCode {
	case 0, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return e.StatusCode >= 500
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; zero when
// absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// WithoutURL drops the request URL from a transport error: it holds ids
// (a patient's, the location's) that have no place in logs or job errors.
// The cause (a *net.OpError, context.DeadlineExceeded) stays for errors.As
// and errors.Is.
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

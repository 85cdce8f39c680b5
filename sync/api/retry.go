package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits on what is read from a response, so that a broken or hostile server cannot exhaust memory.
const (
	maxSuccessBody = 16 << 20 // the largest list page or note is far below this
	maxErrorBody   = 64 << 10 // an error's {message, errors} is a few hundred bytes
)

// retryDoer is the one place where requests are retried. It sits under the generated client as its
// HttpRequestDoer and also turns every non-2xx answer and network failure into a typed error, so the
// generated parsers only ever see bounded 2xx bodies.
type retryDoer struct {
	hc          *http.Client
	maxAttempts int
	log         *slog.Logger

	baseDelay     time.Duration // first backoff ceiling; doubles per attempt
	maxDelay      time.Duration // backoff ceiling
	maxRetryAfter time.Duration // a longer Retry-After is not waited out: the call fails with it
	maxBody       int64
	maxErrBody    int64

	// Seams for tests: waiting, randomness and the clock.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(ceiling time.Duration) time.Duration
	now    func() time.Time
}

var _ HttpRequestDoer = (*retryDoer)(nil)

func newRetryDoer(hc *http.Client, maxAttempts int, log *slog.Logger) *retryDoer {
	return &retryDoer{
		hc:            hc,
		maxAttempts:   maxAttempts,
		log:           log,
		baseDelay:     500 * time.Millisecond,
		maxDelay:      10 * time.Second,
		maxRetryAfter: 60 * time.Second,
		maxBody:       maxSuccessBody,
		maxErrBody:    maxErrorBody,
		sleep:         sleepCtx,
		jitter:        fullJitter,
		now:           time.Now,
	}
}

// doerError marks errors that the doer already typed, so that call() does not take them for decoding
// errors. The generated client passes Do's error through unchanged.
type doerError struct{ err error }

func (e *doerError) Error() string { return e.err.Error() }
func (e *doerError) Unwrap() error { return e.err }

// Do sends req, retrying idempotent requests on 429, 500, 502, 503, 504 and network errors. It returns
// either a 2xx response whose body is already read (bounded) and replayable, or a *doerError.
func (d *retryDoer) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	idempotent := isIdempotent(req) && replayable
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			var err error
			if req, err = rewind(req); err != nil {
				return nil, &doerError{fmt.Errorf("replay request body: %w", err)}
			}
		}
		o := d.once(req)
		if o.err == nil {
			return o.resp, nil
		}
		if ctx.Err() != nil {
			return nil, &doerError{d.ctxError(req, ctx)}
		}
		if !o.retry || !idempotent || attempt >= d.maxAttempts {
			return nil, &doerError{o.err}
		}
		wait := o.after
		if !o.hasAfter {
			wait = d.jitter(d.backoffCeiling(attempt))
		}
		if deadline, ok := ctx.Deadline(); ok && d.now().Add(wait).After(deadline) {
			// Waiting would outlive the caller's deadline: fail now with the server's answer.
			return nil, &doerError{o.err}
		}
		d.log.Info("retrying request", "method", req.Method, "path", req.URL.Path, "attempt", attempt,
			"wait", wait, "reason", o.reason)
		if err := d.sleep(ctx, wait); err != nil {
			return nil, &doerError{d.ctxError(req, ctx)}
		}
	}
}

// outcome is one attempt's result.
type outcome struct {
	resp     *http.Response // a 2xx with its body read; nil on failure
	err      error          // the typed failure
	retry    bool           // the failure may go away if the same request is sent again
	after    time.Duration  // the wait the server asked for, when hasAfter
	hasAfter bool
	reason   string // for the log: "429", "503", "network"
}

func (d *retryDoer) once(req *http.Request) outcome {
	resp, err := d.hc.Do(req)
	if err != nil {
		return outcome{err: unreachable(req, err), retry: true, reason: "network"}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if resp.ContentLength > d.maxBody {
			_ = resp.Body.Close()
			return outcome{err: tooLarge(resp.ContentLength, d.maxBody)}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, d.maxBody+1))
		_ = resp.Body.Close()
		if err != nil {
			// The connection dropped mid-body: as retryable as failing to connect.
			return outcome{err: unreachable(req, err), retry: true, reason: "network"}
		}
		if int64(len(body)) > d.maxBody {
			return outcome{err: tooLarge(-1, d.maxBody)}
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		return outcome{resp: resp}
	}

	// Only a bounded prefix of an error body is read; the rest is dropped with the connection.
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, d.maxErrBody+1))
	_ = resp.Body.Close()
	truncated := readErr != nil || int64(len(body)) > d.maxErrBody
	after, hasAfter := parseRetryAfter(resp.Header.Get("Retry-After"), d.now())
	o := outcome{
		err:      statusError(resp.StatusCode, resp.Header, body, truncated, after),
		after:    after,
		hasAfter: hasAfter,
		reason:   strconv.Itoa(resp.StatusCode),
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// A Retry-After beyond the cap is not waited out (the caller would hang); the error carries it.
		o.retry = !hasAfter || after <= d.maxRetryAfter
	}
	return o
}

// isIdempotent: a POST is retried only when it carries an Idempotency-Key, which makes the server
// replay the first answer instead of creating a second note or patient.
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	case http.MethodPost:
		return req.Header.Get("Idempotency-Key") != ""
	}
	return false
}

func rewind(req *http.Request) (*http.Request, error) {
	next := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return next, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	next.Body = body
	return next, nil
}

func (d *retryDoer) backoffCeiling(attempt int) time.Duration {
	c := d.baseDelay
	for i := 1; i < attempt && c < d.maxDelay; i++ {
		c *= 2
	}
	return min(c, d.maxDelay)
}

func (d *retryDoer) ctxError(req *http.Request, ctx context.Context) error {
	return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ctx.Err())
}

// parseRetryAfter reads Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // far beyond any cap; avoids overflow
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// unreachable types a transport failure. The *url.Error is unwrapped because its text holds the full
// URL, and query strings hold search terms (patient names).
func unreachable(req *http.Request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &unreachableError{host: req.URL.Host, err: err}
}

func tooLarge(n, limit int64) error {
	if n > 0 {
		return badResponse("the response is %d bytes, over the %d MiB limit", n, limit>>20)
	}
	return badResponse("the response is over the %d MiB limit", limit>>20)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fullJitter spreads retries over [0, ceiling) so that many clients rate-limited together do not
// come back together.
func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

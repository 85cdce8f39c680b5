package outbox

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"
)

// transientError marks a failure worth retrying by itself later.
type transientError struct {
	err        error
	retryAfter time.Duration
}

func (e *transientError) Error() string             { return e.err.Error() }
func (e *transientError) Unwrap() error             { return e.err }
func (e *transientError) RetryAfter() time.Duration { return e.retryAfter }

// offlineError marks a failure to reach the far end at all: the job is
// handed back unchanged and the queue goes offline until a probe succeeds.
type offlineError struct{ err error }

func (e *offlineError) Error() string   { return e.err.Error() }
func (e *offlineError) Unwrap() []error { return []error{ErrOffline, e.err} }

// permanentError marks a failure that retrying cannot fix; a person must act.
type permanentError struct {
	err      error
	whatToDo string
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Transient marks err as worth retrying: the job backs off and runs again.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err: err}
}

// TransientAfter is Transient with the wait the far end asked for (an HTTP
// Retry-After); the job runs again no sooner than after d.
func TransientAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &transientError{err: err, retryAfter: d}
}

// Offline marks err as "the network or server is not reachable": the job
// goes back to the queue without backing off, and every worker waits until
// the queue's Probe succeeds or SetOnline(true), so it runs within a second
// of the connection returning. Attempts still count and the maximum age
// still applies.
func Offline(err error) error {
	if err == nil {
		return nil
	}
	return &offlineError{err: err}
}

// Permanent marks err as one retrying cannot fix: the job goes to
// needs-attention showing err and whatToDo, and waits for Retry or Cancel.
func Permanent(err error, whatToDo string) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err, whatToDo: whatToDo}
}

// retryAfterer is any error that knows how long the far end asked us to wait.
type retryAfterer interface {
	RetryAfter() time.Duration
}

// classify decides whether err is transient, and if so the wait asked for,
// or else what the person should do. Marks win over the defaults; by default
// timeouts and network errors are transient and everything else permanent,
// because retrying an error nobody understood forever hides it.
func classify(err error) (transient bool, retryAfter time.Duration, whatToDo string) {
	var p *permanentError
	if errors.As(err, &p) {
		return false, 0, p.whatToDo
	}
	var ra retryAfterer
	if errors.As(err, &ra) {
		return true, ra.RetryAfter(), ""
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ENETDOWN),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EPIPE):
		return true, 0, ""
	}
	return false, 0, "see the error; fix its cause, then Retry the job, or Cancel it"
}

package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
)

// ErrOffline marks an answer made from data kept on this computer because
// the server could not be reached. Errors matching it come with a usable
// result (see Patients and Resume) and also match api.ErrUnreachable.
var ErrOffline = errors.New("the server cannot be reached; showing what is kept on this computer")

// inputError is input refused before anything was sent; its message is
// already written for the person who typed it.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// signInError marks a failure of SignIn, where a 401 means a wrong
// password rather than an ended session.
type signInError struct{ err error }

func (e *signInError) Error() string { return e.err.Error() }
func (e *signInError) Unwrap() error { return e.err }

// serverError says which server and operation an API error came from.
type serverError struct {
	host, op string
	err      error
}

func (e *serverError) Error() string { return fmt.Sprintf("%s (%s): %v", e.op, e.host, e.err) }
func (e *serverError) Unwrap() error { return e.err }

// offlineError accompanies an answer made from local data.
type offlineError struct{ err error }

func (e *offlineError) Error() string   { return ErrOffline.Error() + ": " + e.err.Error() }
func (e *offlineError) Unwrap() []error { return []error{ErrOffline, e.err} }

// Explain turns an error from Core into one or two sentences for a
// clinician: what happened, then (after a dash) what to do. It never
// includes a token or password: none of the errors it is given carry one.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	return capitalize(explain(err))
}

func explain(err error) string {
	host := "the server"
	var se *serverError
	if errors.As(err, &se) && se.host != "" {
		host = se.host
	}
	var (
		in    *inputError
		si    *signInError
		ve    *api.ValidationError
		rl    *api.RateLimitError
		st    *api.StatusError
		wrong = errors.As(err, &si) && errors.Is(err, api.ErrUnauthorized)
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "Cancelled."
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s took too long to answer — try again; if it keeps happening, check your internet connection.", host)
	case errors.As(err, &in):
		return in.msg
	case wrong:
		return "Wrong email or password — check them and try again."
	case errors.Is(err, api.ErrUnauthorized):
		return "Your session has ended — sign in again."
	case errors.Is(err, ErrSignedOut):
		return "You are not signed in — sign in first."
	case errors.Is(err, api.ErrUnreachable):
		return fmt.Sprintf("Cannot reach %s — check your internet connection or the server address.", host)
	case errors.As(err, &ve):
		return explainValidation(ve)
	case errors.As(err, &rl):
		if rl.Wait > 0 {
			return fmt.Sprintf("%s is limiting requests — try again in %s.", host, rl.Wait.Round(time.Second))
		}
		return fmt.Sprintf("%s is limiting requests — wait a minute and try again.", host)
	case errors.Is(err, api.ErrRateLimited):
		return fmt.Sprintf("%s is limiting requests — wait a minute and try again.", host)
	case errors.Is(err, api.ErrBadResponse):
		return "The server sent a response Scribe cannot read — try again later; if it persists, contact support."
	case errors.Is(err, api.ErrNotFound):
		return "It is not on the server (it may have been deleted) — refresh the list."
	case errors.As(err, &st):
		return explainStatus(host, st)
	case errors.Is(err, platform.ErrVaultCorrupt):
		return err.Error()
	}
	return "Something went wrong: " + err.Error() + " — try again; if it persists, contact support."
}

// capitalize starts a message that begins with a host ("the server")
// with a capital letter.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func explainValidation(ve *api.ValidationError) string {
	if len(ve.Fields) == 0 {
		what := "The server did not accept the details"
		if msg := strings.TrimSuffix(strings.TrimSpace(ve.Message), "."); msg != "" {
			what += " (" + msg + ")"
		}
		return what + " — correct them and try again."
	}
	names := make([]string, 0, len(ve.Fields))
	for name := range ve.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	var msgs []string
	for _, name := range names {
		for _, m := range ve.Fields[name] {
			m = strings.TrimSuffix(strings.TrimSpace(m), ".")
			if m == "" {
				m = name + " is not accepted"
			}
			msgs = append(msgs, m)
		}
	}
	return "The server did not accept the details: " + strings.Join(msgs, "; ") + " — correct them and try again."
}

func explainStatus(host string, st *api.StatusError) string {
	what := fmt.Sprintf("%s answered %d %s", host, st.StatusCode, http.StatusText(st.StatusCode))
	if st.Message != "" {
		what += " (" + st.Message + ")"
	}
	switch {
	case st.StatusCode == http.StatusForbidden:
		return what + " — your account may not have access to this; ask your practice's admin."
	case st.StatusCode >= 500:
		return what + " — the server has a problem; try again later, and if it persists, contact support."
	default:
		return what + " — try again; if it persists, contact support."
	}
}

package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

func TestExplainKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"cancelled", fmt.Errorf("GET /v1/patients: %w", context.Canceled), "Cancelled."},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), "The server took too long to answer — try again; if it keeps happening, check your internet connection."},
		{"session ended", fmt.Errorf("x: %w", api.ErrUnauthorized), "Your session has ended — sign in again."},
		{"signed out", app.ErrSignedOut, "You are not signed in — sign in first."},
		{"unreachable, no host", api.ErrUnreachable, "Cannot reach the server — check your internet connection or the server address."},
		{"rate limited with wait", &api.RateLimitError{Wait: 30 * time.Second}, "The server is limiting requests — try again in 30s."},
		{"rate limited", fmt.Errorf("x: %w", api.ErrRateLimited), "The server is limiting requests — wait a minute and try again."},
		{"bad response", fmt.Errorf("x: %w", api.ErrBadResponse), "The server sent a response Scribe cannot read — try again later; if it persists, contact support."},
		{"not found", fmt.Errorf("x: %w", api.ErrNotFound), "It is not on the server (it may have been deleted) — refresh the list."},
		{"validation", &api.ValidationError{Message: "Invalid.", Fields: map[string][]string{
			"last_name":  {"The last name field is required."},
			"first_name": {"The first name may not be greater than 255 characters."},
		}}, "The server did not accept the details: The first name may not be greater than 255 characters; The last name field is required — correct them and try again."},
		{"validation without fields", &api.ValidationError{Message: "The given data was invalid."}, "The server did not accept the details (The given data was invalid) — correct them and try again."},
		{"forbidden", &api.StatusError{StatusCode: 403, Message: "Not your team"}, "The server answered 403 Forbidden (Not your team) — your account may not have access to this; ask your practice's admin."},
		{"server error", &api.StatusError{StatusCode: 503}, "The server answered 503 Service Unavailable — the server has a problem; try again later, and if it persists, contact support."},
		{"other", errors.New("disk full"), "Something went wrong: disk full — try again; if it persists, contact support."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := app.Explain(tc.err); got != tc.want {
				t.Errorf("Explain = %q\n              want %q", got, tc.want)
			}
		})
	}
}

func TestPatientName(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		p    api.Patient
		want string
	}{
		{api.Patient{FirstName: "Jane", MiddleName: s("Marie"), LastName: "Doe"}, "Jane Marie Doe"},
		{api.Patient{FirstName: "Wei", LastName: "Chen"}, "Wei Chen"},
		{api.Patient{FirstName: " Wei ", MiddleName: s(" "), LastName: "Chen"}, "Wei Chen"},
		{api.Patient{Id: 42}, "Patient #42"},
	} {
		if got := app.PatientName(tc.p); got != tc.want {
			t.Errorf("PatientName(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestNoteStatus(t *testing.T) {
	now := time.Now()
	yes, no := true, false
	failed, blank := "transcription failed: audio unreadable", " "
	for _, tc := range []struct {
		name string
		n    api.ProgressNote
		want string
	}{
		{"new", api.ProgressNote{}, "Processing"},
		{"transcribing", api.ProgressNote{TranscriptionStartedAt: &now}, "Processing"},
		{"drafting", api.ProgressNote{TranscriptionCompletedAt: &now, AnalysisStartedAt: &now}, "Processing"},
		{"ready", api.ProgressNote{AnalysisCompletedAt: &now, Has: &api.NoteHas{Signed: &no}}, "Ready"},
		{"signed", api.ProgressNote{AnalysisCompletedAt: &now, Has: &api.NoteHas{Signed: &yes}}, "Signed"},
		{"failed", api.ProgressNote{ErrorState: &failed, AnalysisStartedAt: &now}, "Failed: transcription failed: audio unreadable"},
		{"blank error state", api.ProgressNote{ErrorState: &blank, AnalysisCompletedAt: &now}, "Ready"},
	} {
		if got := app.NoteStatus(tc.n); got != tc.want {
			t.Errorf("%s: NoteStatus = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Package ehr connects Scribe to a practice's EHR: one Connector per kind
// (Osmind, Kalix, SimplePractice, NexHealth) behind one interface, so the
// outbox's ehr-push jobs, the roster sync and the External Apps panel treat
// them alike. A connector only talks to its EHR; where its credentials live
// and when it runs are the app's business.
package ehr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind names an EHR.
type Kind string

// The EHRs Scribe connects to.
const (
	Osmind         Kind = "osmind"
	Kalix          Kind = "kalix"
	SimplePractice Kind = "simplepractice"
	NexHealth      Kind = "nexhealth"
)

// Errors connectors return (wrapped); check them with errors.Is.
var (
	// ErrReauthorize: the EHR no longer accepts the connection's
	// credentials (a refresh failed, a token was revoked). Pushes wait;
	// the admin connects again.
	ErrReauthorize = errors.New("the EHR needs the connection authorized again")
	// ErrScope: the connection lacks a permission the call needs; the
	// error's text names it.
	ErrScope = errors.New("the connection lacks a permission")
	// ErrNotFound: the patient, provider or document is not in the EHR.
	ErrNotFound = errors.New("not found in the EHR")
	// ErrUnsupported: this EHR cannot do that (SimplePractice has no
	// roster listing).
	ErrUnsupported = errors.New("this EHR does not offer that")
)

// Account is who the connection acts as, from validating it.
type Account struct {
	Name     string // the practice or institution
	User     string // the admin or API user, when the EHR says
	Location string // NexHealth: the location; "" elsewhere
}

// Provider is a clinician in the EHR.
type Provider struct {
	ID    string
	Name  string
	Email string
}

// Patient is a patient in the EHR.
type Patient struct {
	ID          string
	FirstName   string
	MiddleName  string
	LastName    string
	DateOfBirth string // YYYY-MM-DD or ""
	UpdatedAt   time.Time
}

// What a push sends.
type Content string

// The push settings' "what" choices (seed: note + codes + metadata is the
// default).
const (
	NoteWithCodes Content = "note-codes-metadata"
	NoteOnly      Content = "note-only"
)

// Update says how a push treats a note pushed before.
type Update string

// The push settings' "update" choices (seed: append is the default).
const (
	Append  Update = "append"
	Replace Update = "replace"
)

// Note is one signed note to deliver.
type Note struct {
	PatientID  string // the EHR's patient id
	ProviderID string // the EHR's provider id (mapped from the clinician)
	VisitDate  string // YYYY-MM-DD
	Title      string
	Text       string
	Codes      []Code
	Clinician  string // for the metadata block
	SignedAt   time.Time
}

// Code is an ICD-10 or CPT code on a note.
type Code struct {
	System      string // "ICD-10" or "CPT"
	Code        string
	Description string
}

// PushOptions are the connection's push settings for this push.
type PushOptions struct {
	Content Content
	Update  Update
	// Previous is the reference of the last push of this note to this
	// connection ("" for the first); Replace replaces it, Append adds.
	Previous Ref
	// IdempotencyKey makes a retried push one effect: (note version,
	// connection).
	IdempotencyKey string
}

// Check says what is wrong with the options, in words for the log: an
// unknown setting (a bug or a damaged settings row upstream, never
// something to guess at) or a missing idempotency key.
func (o PushOptions) Check() error {
	switch o.Content {
	case NoteWithCodes, NoteOnly:
	default:
		return fmt.Errorf("unknown content setting %q; use %q or %q", o.Content, NoteWithCodes, NoteOnly)
	}
	switch o.Update {
	case Append, Replace:
	default:
		return fmt.Errorf("unknown update setting %q; use %q or %q", o.Update, Append, Replace)
	}
	if o.IdempotencyKey == "" {
		return errors.New("no idempotency key; every push needs one so a retry cannot file the note twice")
	}
	return nil
}

// Ref is where a pushed note landed in the EHR, opaque to the app.
type Ref string

// Status is what the EHR says of a pushed note.
type Status string

// Push statuses: NexHealth accepts a document first and confirms it later.
const (
	Pending   Status = "pending"
	Confirmed Status = "confirmed"
	Failed    Status = "failed"
)

// Connector is one connection to one EHR.
type Connector interface {
	Kind() Kind
	// Validate checks the credentials and returns who they act as.
	Validate(ctx context.Context) (Account, error)
	// Providers lists the EHR's clinicians.
	Providers(ctx context.Context) ([]Provider, error)
	// Roster returns the patients changed since since (all when zero)
	// and the time to pass next; ErrUnsupported where there is none.
	Roster(ctx context.Context, since time.Time) ([]Patient, time.Time, error)
	// Push delivers a note and returns where it landed.
	Push(ctx context.Context, n Note, opt PushOptions) (Ref, error)
	// Confirm reports whether a pushed note has landed.
	Confirm(ctx context.Context, ref Ref) (Status, error)
	// Disconnect revokes what can be revoked; the caller forgets the
	// credentials either way.
	Disconnect(ctx context.Context) error
}

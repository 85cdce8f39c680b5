package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
)

// The kinds of job Core sends through its outbox.
const (
	kindCreatePatient = "create-patient"
)

// Job is a change waiting in (or done by) this profile's outbox.
type Job = outbox.Job

// JobID names a job.
type JobID = outbox.ID

// JobState is where a job stands: queued, running, done, needs-attention
// or cancelled.
type JobState = outbox.State

// JobFilter selects jobs.
type JobFilter = outbox.Filter

// signInWait is how long a job that found nobody signed in waits before it
// looks again; signing in wakes it at once.
const signInWait = time.Minute

// Serve sends the outbox's jobs until ctx ends: the workers, and a
// reachability probe of the current server while it is out of reach. It
// also reads the roster and providers of the two-way EHR connections every
// Config.RosterEvery, and deletes the audio of visits past their retention
// (at start, then every hour). The window runs it for as long as it is
// open; the command line for as long as a command that queues changes
// waits for them. A wipe (WipeAndSignOut) ends it with ErrWiped.
func (c *Core) Serve(ctx context.Context) error {
	stop, served, err := c.beginServe()
	if err != nil {
		return err
	}
	defer served()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.rosterLoop(ctx)
	}()
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		c.retentionLoop(ctx)
	}()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = c.queue.Serve(ctx)
	cancel()
	<-done
	<-swept
	select {
	case <-stop:
		return ErrWiped
	default:
	}
	return err
}

// probe is the outbox's reachability check while offline: any HTTP answer
// from the current server means requests can flow again.
func (c *Core) probe(ctx context.Context) error {
	s, err := c.current()
	if err != nil {
		// Nothing to probe; jobs that need a session wait for sign-in.
		return nil
	}
	return c.reach(ctx, s.server)
}

// Jobs lists the outbox's jobs matching f in the order they were queued.
func (c *Core) Jobs(ctx context.Context, f JobFilter) ([]Job, error) {
	return c.queue.List(ctx, f)
}

// Job returns one job; an error matching outbox.ErrNotFound when there is
// no such job.
func (c *Core) Job(ctx context.Context, id JobID) (Job, error) {
	return c.queue.Get(ctx, id)
}

// JobCounts counts the jobs in each state.
func (c *Core) JobCounts(ctx context.Context) (map[JobState]int, error) {
	return c.queue.Counts(ctx)
}

// RetryJob puts a needs-attention or cancelled job back in the queue. A
// cancelled patient comes back to the local roster with it.
func (c *Core) RetryJob(ctx context.Context, id JobID) error {
	j, err := c.queue.Get(ctx, id)
	if err != nil {
		return jobActionError(err)
	}
	if err := c.queue.Retry(ctx, id); err != nil {
		return jobActionError(err)
	}
	if j.Kind == kindCreatePatient && j.State == outbox.Cancelled {
		c.restoreLocalPatient(ctx, j)
	}
	return nil
}

// CancelJob gives up on a queued or needs-attention job. A patient added
// offline whose job is cancelled leaves the local roster.
func (c *Core) CancelJob(ctx context.Context, id JobID) error {
	j, err := c.queue.Get(ctx, id)
	if err != nil {
		return jobActionError(err)
	}
	if err := c.queue.Cancel(ctx, id); err != nil {
		return jobActionError(err)
	}
	if j.Kind == kindCreatePatient {
		c.forgetLocalPatient(ctx, j)
	}
	return nil
}

// SendNow cuts short every queued job's wait and returns how many were
// waiting.
func (c *Core) SendNow(ctx context.Context) (int, error) {
	return c.queue.RetryNow(ctx)
}

// Online reports whether the outbox believes the server is reachable.
func (c *Core) Online() bool { return c.queue.Online() }

// JobsChanged returns a channel closed at the next change to any job or to
// the online state; read again, then call it again.
func (c *Core) JobsChanged() <-chan struct{} { return c.queue.Changed() }

// WaitJob waits until job id has settled or been tried: it returns when
// the job is done, needs attention or is cancelled, or is queued again
// after at least one attempt (failed for now, to be retried), or is queued
// while the server is out of reach, or when ctx ends. The error is that of reading the job, or ctx's.
func (c *Core) WaitJob(ctx context.Context, id JobID) (Job, error) {
	for {
		changed := c.queue.Changed()
		// Online is read before the job: a worker marks the queue offline
		// before it hands the job back, so an offline queue seen first
		// means the row read next is not an attempt still in flight.
		online := c.queue.Online()
		j, err := c.queue.Get(ctx, id)
		if err != nil {
			return Job{}, err
		}
		switch {
		case j.State == outbox.Done, j.State == outbox.NeedsAttention, j.State == outbox.Cancelled,
			j.State == outbox.Queued && (j.Attempts > 0 || !online):
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-changed:
		}
	}
}

// jobActionError puts a queue refusal in a person's words.
func jobActionError(err error) error {
	switch {
	case errors.Is(err, outbox.ErrNotFound):
		return explained("There is no such job — list them with `scribe queue` or on the Queue screen.", err)
	case errors.Is(err, outbox.ErrState):
		return explained("The job cannot do that now: "+err.Error()+".", err)
	}
	return err
}

// jobSession is the session a job queued under scope must run in, or an
// outbox mark that makes the job wait for it.
func (c *Core) jobSession(scope string) (*session, error) {
	s, err := c.current()
	if err != nil || s.scope() != scope {
		return nil, outbox.TransientAfter(fmt.Errorf("waiting for you to sign in to the account this was made in: %w", ErrSignedOut), signInWait)
	}
	return s, nil
}

// jobClient is s's API client for jobs: it does not retry by itself, since
// the outbox retries with its own backoff and knows when the server is
// back.
func (c *Core) jobClient(s *session) (*api.Client, error) {
	return api.New(s.server, api.Options{HTTPClient: c.http, Logger: c.log, Token: s.token, MaxAttempts: 1})
}

// jobError marks an API error for the outbox: transient failures come back
// by themselves, an unreachable server pauses the queue, and what only a
// person can fix (the server refused the content) needs attention with
// whatToDo.
func (c *Core) jobError(ctx context.Context, s *session, op string, err error, whatToDo string) error {
	var rl *api.RateLimitError
	var se *api.StatusError
	var ve *api.ValidationError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, api.ErrBadResponse):
		return outbox.Transient(err)
	case errors.Is(err, api.ErrUnreachable):
		if neverConnected(err) {
			return outbox.Offline(err)
		}
		// The request may have arrived (the reply was lost): send it again
		// soon; its idempotency key makes a second effect impossible.
		return outbox.Transient(err)
	case errors.As(err, &rl):
		return outbox.TransientAfter(err, rl.RetryAfter())
	case errors.Is(err, api.ErrUnauthorized):
		// The token is gone (expired, revoked): the job waits for a new
		// sign-in rather than failing.
		return outbox.TransientAfter(c.failed(ctx, s, op, err), signInWait)
	case errors.As(err, &se) && (se.StatusCode >= 500 || se.StatusCode == http.StatusRequestTimeout):
		return outbox.Transient(err)
	case errors.As(err, &ve):
		return outbox.Permanent(err, whatToDo)
	}
	return outbox.Permanent(err, "see the error; fix its cause, then Retry the job, or Cancel it")
}

// neverConnected reports whether err is a failure to open a connection at
// all (refused, no route, DNS), as opposed to one that broke after the
// request may have been sent.
func neverConnected(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// noteCause keeps the typed error of a job refused for its content, for a
// caller in this process waiting on the job (CreatePatient shows the
// server's per-field messages beside the form).
func (c *Core) noteCause(id JobID, err error) {
	var ve *api.ValidationError
	if errors.As(err, &ve) {
		c.causes.Store(id, err)
	}
}

// jobCause takes the error kept by noteCause.
func (c *Core) jobCause(id JobID) (error, bool) {
	v, ok := c.causes.LoadAndDelete(id)
	if !ok {
		return nil, false
	}
	return v.(error), true
}

// DescribeJob says in a few words what a job does, for the Queue screen and
// `scribe queue`: "Add patient Robin Q Testpatient". It reads the payload,
// so it may name a patient: show it to the person, never log it.
func DescribeJob(j Job) string {
	switch j.Kind {
	case kindCreatePatient:
		var p createPatientPayload
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return "Add a patient (details unreadable)"
		}
		in := p.Patient
		return "Add patient " + PatientName(api.Patient{Id: -int64(j.ID), FirstName: in.FirstName, MiddleName: in.MiddleName, LastName: in.LastName})
	case kindTranscribeGap:
		var p gapPayload
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return "Transcribe part of a visit (details unreadable)"
		}
		return fmt.Sprintf("Transcribe %s–%s of visit %s", clock(samplesDuration(p.Start)), clock(samplesDuration(p.End)), p.Encounter)
	case kindCreateNote, kindUpdateNote, kindSignNote, kindUnsignNote:
		var p encounterPayload
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return visitJobWords[j.Kind] + " (details unreadable)"
		}
		return visitJobWords[j.Kind] + " of visit " + p.Encounter
	case kindEHRPush, kindEHRConfirm:
		p, err := readPushPayload(j)
		if err != nil {
			return "Send a note to an EHR (details unreadable)"
		}
		if j.Kind == kindEHRConfirm {
			return "Confirm note in " + EHRName(p.Kind)
		}
		return "Send note to " + EHRName(p.Kind)
	}
	return j.Kind
}

var visitJobWords = map[string]string{
	kindCreateNote: "Draft the note", kindUpdateNote: "Send the edited note",
	kindSignNote: "Sign the note", kindUnsignNote: "Unsign the note",
}

// clock writes d as m:ss, or h:mm:ss from an hour.
func clock(d time.Duration) string {
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

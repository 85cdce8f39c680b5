package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// Page sizes: the server's default and its limit (API reference: per_page
// 1–100, default 15).
const (
	defaultPerPage = 15
	maxPerPage     = 100
)

// Patients fetches one page (from 1) of the roster, filtered by search (any
// part of a name), perPage at a time (0 for the server's default of 15).
// What it fetches is kept on this computer.
//
// When the server cannot be reached, Patients answers from what was kept:
// it returns that page together with an error matching ErrOffline (and
// api.ErrUnreachable). A caller that ignores the page on error simply
// reports the server as unreachable.
func (c *Core) Patients(ctx context.Context, search string, page, perPage int) (api.Page[api.Patient], error) {
	if err := checkPerPage(perPage); err != nil {
		return api.Page[api.Patient]{}, err
	}
	page = max(page, 1)
	s, err := c.current()
	if err != nil {
		return api.Page[api.Patient]{}, err
	}
	search = strings.TrimSpace(search)
	pg, err := s.client.PatientsPage(ctx, api.PatientQuery{Search: search, PerPage: perPage}, page)
	if errors.Is(err, api.ErrUnreachable) {
		return c.cachedPatients(ctx, s, search, page, perPage, c.failed(ctx, s, "list patients", err))
	}
	if err != nil {
		return api.Page[api.Patient]{}, c.failed(ctx, s, "list patients", err)
	}
	c.cache(ctx, s, pg.Items)
	c.log.Debug("listed patients", "page", page, "count", len(pg.Items))
	if page == 1 {
		// Patients added here and not yet on the server lead the first
		// page, so a visit can start with them at once.
		pg.Items = append(c.localPatients(ctx, s, search), pg.Items...)
	}
	return pg, nil
}

// localPatients lists the patients added on this computer and not yet on
// the server whose names match every word of search.
func (c *Core) localPatients(ctx context.Context, s *session, search string) []api.Patient {
	rows, err := c.db.LocalPatients(ctx, s.scope())
	if err != nil {
		c.log.Warn("cannot list the patients added on this computer", "error", err)
		return nil
	}
	var out []api.Patient
	for _, r := range rows {
		name := strings.ToLower(r.FirstName + " " + r.MiddleName + " " + r.LastName)
		match := true
		for _, w := range strings.Fields(strings.ToLower(search)) {
			match = match && strings.Contains(name, w)
		}
		if match {
			out = append(out, fromCache(r))
		}
	}
	return out
}

// cachedPatients answers a roster search from the local cache, returning
// the page with an offlineError around cause. If the cache cannot answer,
// cause alone is returned.
func (c *Core) cachedPatients(ctx context.Context, s *session, search string, page, perPage int, cause error) (api.Page[api.Patient], error) {
	if perPage == 0 {
		perPage = defaultPerPage
	}
	// One row past the page says whether another page follows.
	rows, err := c.db.SearchPatients(ctx, s.scope(), search, page*perPage+1)
	if err != nil {
		c.log.Warn("cannot search the patients kept on this computer", "error", err)
		return api.Page[api.Patient]{}, cause
	}
	from := min((page-1)*perPage, len(rows))
	to := min(from+perPage, len(rows))
	items := make([]api.Patient, 0, to-from)
	for _, r := range rows[from:to] {
		items = append(items, fromCache(r))
	}
	last := page
	if len(rows) > to {
		last++
	}
	c.log.Info("server unreachable; answered a patient search from this computer", "count", len(items))
	pg := api.Page[api.Patient]{
		Items: items,
		Meta:  api.PaginationMeta{CurrentPage: &page, PerPage: &perPage, LastPage: &last},
	}
	return pg, &offlineError{cause}
}

// cache keeps fetched patients for offline searches. A failure only costs
// offline coverage, so it is logged, not returned.
func (c *Core) cache(ctx context.Context, s *session, ps []api.Patient) {
	if len(ps) == 0 {
		return
	}
	now := time.Now()
	rows := make([]store.Patient, len(ps))
	for i, p := range ps {
		rows[i] = toCache(p, now)
	}
	if err := c.db.UpsertPatients(ctx, s.scope(), rows); err != nil {
		c.log.Warn("cannot keep patients on this computer for offline use", "error", err)
	}
}

func toCache(p api.Patient, fetched time.Time) store.Patient {
	r := store.Patient{
		ID: p.Id, FirstName: p.FirstName, LastName: p.LastName,
		MiddleName: deref(p.MiddleName), Gender: deref(p.Gender), FetchedAt: fetched,
	}
	if p.DateOfBirth != nil {
		r.DateOfBirth = p.DateOfBirth.String()
	}
	if p.UpdatedAt != nil {
		r.UpdatedAt = *p.UpdatedAt
	}
	return r
}

func fromCache(r store.Patient) api.Patient {
	p := api.Patient{Id: r.ID, FirstName: r.FirstName, LastName: r.LastName}
	if r.MiddleName != "" {
		p.MiddleName = &r.MiddleName
	}
	if r.Gender != "" {
		p.Gender = &r.Gender
	}
	if d, err := time.Parse(openapi_types.DateFormat, r.DateOfBirth); err == nil {
		p.DateOfBirth = &openapi_types.Date{Time: d}
	}
	if !r.UpdatedAt.IsZero() {
		p.UpdatedAt = &r.UpdatedAt
	}
	return p
}

// NewPatient is a patient to add. First and last name are required.
type NewPatient struct {
	FirstName, MiddleName, LastName string
	Gender                          string
	DateOfBirth                     string // YYYY-MM-DD, or "" when unknown
	Notes                           string
}

// AddedPatient is the outcome of CreatePatient.
type AddedPatient struct {
	// Patient is the patient as the server made it, or, while Pending, as
	// kept on this computer with a negative local id.
	Patient api.Patient
	// Pending says the server has not taken the patient yet: the job waits
	// in the outbox and is sent when the server can be reached.
	Pending bool
	// Job is the outbox job that sends the patient.
	Job JobID
	// Reason is why a pending patient is not on the server yet (the last
	// attempt's error), or "" when it was not tried yet.
	Reason string
}

// IsLocal reports whether p was added on this computer and is not yet on
// the server (its id is a negative local one).
func IsLocal(p api.Patient) bool { return p.Id < 0 }

// patientWait bounds how long CreatePatient waits for the server before it
// reports the patient as kept on this computer.
const patientWait = 10 * time.Second

// createPatientPayload is a create-patient job's payload.
type createPatientPayload struct {
	V       int              `json:"v"`
	Scope   string           `json:"scope"` // the account the patient belongs to
	Patient api.PatientInput `json:"patient"`
}

// CreatePatient adds a patient to the roster, offline first: the patient
// is kept on this computer at once (with a negative local id, usable for
// a visit) and a create-patient job in the same transaction sends it to
// the server. CreatePatient waits for the job's first attempt (at most a
// few seconds): a patient the server refused comes back as its
// *api.ValidationError, with the local copy and job removed so the form
// can be corrected; one that could not be sent comes back Pending. Without
// Serve running it waits the few seconds out and reports Pending.
//
// The details are checked before anything is kept.
func (c *Core) CreatePatient(ctx context.Context, np NewPatient) (AddedPatient, error) {
	in, err := np.input()
	if err != nil {
		return AddedPatient{}, err
	}
	s, err := c.current()
	if err != nil {
		return AddedPatient{}, err
	}
	payload, err := json.Marshal(createPatientPayload{V: 1, Scope: s.scope(), Patient: in})
	if err != nil {
		return AddedPatient{}, fmt.Errorf("add patient: %w", err)
	}
	key := uuid.NewString()
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return AddedPatient{}, fmt.Errorf("add patient: %w", err)
	}
	defer tx.Rollback()
	id, err := c.queue.EnqueueTx(ctx, tx, outbox.NewJob{
		Kind: kindCreatePatient, Group: "patient:" + key, IdempotencyKey: "create-patient:" + key, Payload: payload,
	})
	if err != nil {
		return AddedPatient{}, fmt.Errorf("add patient: %w", err)
	}
	local := inputPatient(-int64(id), in)
	if err := c.db.UpsertPatientsTx(ctx, tx, s.scope(), []store.Patient{toCache(local, time.Now())}); err != nil {
		return AddedPatient{}, fmt.Errorf("add patient: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return AddedPatient{}, fmt.Errorf("add patient: %w", err)
	}
	c.queue.Committed()
	c.log.Info("patient kept on this computer; sending it", "job", id)
	added := AddedPatient{Patient: local, Pending: true, Job: id}
	wctx, cancel := context.WithTimeout(ctx, patientWait)
	defer cancel()
	j, err := c.WaitJob(wctx, id)
	if err != nil && wctx.Err() == nil {
		return added, fmt.Errorf("add patient: %w", err)
	}
	added.Reason = j.LastError
	if added.Reason == "" && j.State == outbox.Queued && !c.queue.Online() {
		// Not tried: an earlier job already found the server unreachable.
		added.Reason = "the server cannot be reached now; it is sent as soon as it can be"
	}
	switch j.State {
	case outbox.Done:
		sid, err := c.db.ServerPatientID(ctx, s.scope(), -int64(id))
		if err != nil {
			return added, fmt.Errorf("add patient: %w", err)
		}
		p := local
		p.Id = sid
		return AddedPatient{Patient: p, Job: id}, nil
	case outbox.NeedsAttention:
		if cause, ok := c.jobCause(id); ok {
			// Refused for its content: nothing is kept, so correcting the
			// form and adding again leaves one patient, not two.
			if err := c.queue.Cancel(ctx, id); err == nil {
				c.forgetLocalPatient(ctx, j)
			}
			return AddedPatient{}, cause
		}
	}
	return added, nil
}

// createPatientJob sends a patient added on this computer to the server
// and replaces the local copy with the server's.
func (c *Core) createPatientJob(ctx context.Context, j outbox.Job) error {
	var p createPatientPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Scope == "" {
		return outbox.Permanent(fmt.Errorf("the job's details are unreadable: %v", err), "Cancel this job and add the patient again")
	}
	s, err := c.jobSession(p.Scope)
	if err != nil {
		return err
	}
	client, err := c.jobClient(s)
	if err != nil {
		return outbox.Permanent(err, "sign in again")
	}
	created, err := client.CreatePatient(ctx, p.Patient, j.IdempotencyKey)
	if err != nil {
		c.noteCause(j.ID, err)
		return c.jobError(ctx, s, "add patient", err,
			"the server refused the patient's details: Cancel this job and add the patient again with them corrected")
	}
	if err := c.db.ResolvePatient(ctx, p.Scope, -int64(j.ID), toCache(created, time.Now())); err != nil {
		// The patient exists on the server; a retry replays the same
		// answer (same idempotency key), so trying the write again is safe.
		return outbox.Transient(fmt.Errorf("keep the added patient on this computer: %w", err))
	}
	c.log.Info("added a patient", "job", j.ID, "patient_id", created.Id)
	return nil
}

// forgetLocalPatient removes the local copy of a cancelled create-patient
// job's patient. A failure only leaves a stale roster entry, so it is
// logged.
func (c *Core) forgetLocalPatient(ctx context.Context, j outbox.Job) {
	var p createPatientPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Scope == "" {
		return
	}
	if err := c.db.DeletePatient(ctx, p.Scope, -int64(j.ID)); err != nil {
		c.log.Warn("cannot remove a cancelled patient from this computer", "job", j.ID, "error", err)
	}
}

// restoreLocalPatient puts a retried create-patient job's patient back on
// the local roster. A failure only hides the patient until it is sent, so
// it is logged.
func (c *Core) restoreLocalPatient(ctx context.Context, j outbox.Job) {
	var p createPatientPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Scope == "" {
		return
	}
	local := toCache(inputPatient(-int64(j.ID), p.Patient), time.Now())
	if err := c.db.UpsertPatients(ctx, p.Scope, []store.Patient{local}); err != nil {
		c.log.Warn("cannot put a retried patient back on this computer's roster", "job", j.ID, "error", err)
	}
}

// visitPatient checks the patient id a visit is started with: a negative
// one must be a patient added on this computer, and one that has reached
// the server meanwhile becomes its server id.
func (c *Core) visitPatient(ctx context.Context, id int64) (int64, error) {
	if id >= 0 {
		return id, nil
	}
	s, err := c.current()
	if err == nil {
		if sid, err := c.db.ServerPatientID(ctx, s.scope(), id); err == nil {
			return sid, nil
		}
		local, err := c.db.LocalPatients(ctx, s.scope())
		if err != nil {
			return 0, err
		}
		for _, p := range local {
			if p.ID == id {
				return id, nil
			}
		}
	}
	return 0, &inputError{msg: fmt.Sprintf("Patient id %d is not a patient added on this computer — choose the patient again (scribe patients lists them).", id)}
}

// inputPatient is the patient in as it will look once created, under id.
func inputPatient(id int64, in api.PatientInput) api.Patient {
	return api.Patient{Id: id, FirstName: in.FirstName, LastName: in.LastName, MiddleName: in.MiddleName,
		Gender: in.Gender, DateOfBirth: in.DateOfBirth, Notes: in.Notes}
}

func (np NewPatient) input() (api.PatientInput, error) {
	in := api.PatientInput{
		FirstName: strings.TrimSpace(np.FirstName),
		LastName:  strings.TrimSpace(np.LastName),
	}
	switch {
	case in.FirstName == "" && in.LastName == "":
		return in, &inputError{msg: "The first and last name are empty — enter both."}
	case in.FirstName == "":
		return in, &inputError{msg: "The first name is empty — enter it."}
	case in.LastName == "":
		return in, &inputError{msg: "The last name is empty — enter it."}
	}
	in.MiddleName = optional(np.MiddleName)
	in.Gender = optional(np.Gender)
	in.Notes = optional(np.Notes)
	if dob := strings.TrimSpace(np.DateOfBirth); dob != "" {
		d, err := time.Parse(openapi_types.DateFormat, dob)
		if err != nil {
			// The date itself stays out of the message: errors get logged.
			return in, &inputError{msg: "The date of birth is not a date — write it as YYYY-MM-DD, e.g. 1985-03-15."}
		}
		if d.After(time.Now()) {
			return in, &inputError{msg: "The date of birth is in the future — check it."}
		}
		in.DateOfBirth = &openapi_types.Date{Time: d}
	}
	return in, nil
}

func checkPerPage(n int) error {
	if n < 0 || n > maxPerPage {
		return &inputError{msg: "The page size must be between 1 and 100."}
	}
	return nil
}

func optional(s string) *string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

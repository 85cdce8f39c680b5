package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/nextvisit/scribe/sync/api"
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
	return pg, nil
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

// CreatePatient adds a patient to the roster. The details are checked
// before anything is sent; the server's own objections come back as an
// *api.ValidationError.
func (c *Core) CreatePatient(ctx context.Context, np NewPatient) (api.Patient, error) {
	in, err := np.input()
	if err != nil {
		return api.Patient{}, err
	}
	s, err := c.current()
	if err != nil {
		return api.Patient{}, err
	}
	// A fresh key per call: the client may resend the request after a
	// network failure without creating the patient twice.
	p, err := s.client.CreatePatient(ctx, in, uuid.NewString())
	if err != nil {
		return api.Patient{}, c.failed(ctx, s, "add patient", err)
	}
	c.cache(ctx, s, []api.Patient{p})
	c.log.Info("added a patient", "patient_id", p.Id)
	return p, nil
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

package api

import (
	"context"
	"iter"
)

// PatientQuery filters the patient list. Zero values leave the server's defaults (all patients,
// 15 per page).
type PatientQuery struct {
	Search  string // matches first, middle or last name
	PerPage int    // 1–100
}

// PatientsPage fetches one page (from 1; less than 1 means 1).
func (c *Client) PatientsPage(ctx context.Context, q PatientQuery, page int) (Page[Patient], error) {
	page = max(page, 1)
	params := &ListPatientsParams{Page: &page}
	if q.Search != "" {
		params.Search = &q.Search
	}
	if q.PerPage != 0 {
		params.PerPage = &q.PerPage
	}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*ListPatientsResponse, error) {
		return c.raw.ListPatientsWithResponse(ctx, params, ed...)
	})
	if err != nil {
		return Page[Patient]{}, err
	}
	list, err := decoded(r.JSON200, r.HTTPResponse)
	if err != nil {
		return Page[Patient]{}, err
	}
	return Page[Patient]{Items: list.Data, Links: list.Links, Meta: list.Meta}, nil
}

// Patients walks every page of the list; stop early by breaking out of the loop.
func (c *Client) Patients(ctx context.Context, q PatientQuery) iter.Seq2[Patient, error] {
	return walk(ctx, func(ctx context.Context, page int) (Page[Patient], error) {
		return c.PatientsPage(ctx, q, page)
	}, idOf[Patient])
}

// Patient fetches one patient; ErrNotFound when it is not in the user's team.
func (c *Client) Patient(ctx context.Context, id int64) (Patient, error) {
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*GetPatientResponse, error) {
		return c.raw.GetPatientWithResponse(ctx, id, ed...)
	})
	if err != nil {
		return Patient{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// CreatePatient adds a patient. With a non-empty idempotencyKey the request is retried safely and a
// repeat with the same key returns the first patient instead of creating a second.
func (c *Client) CreatePatient(ctx context.Context, p PatientInput, idempotencyKey string) (Patient, error) {
	params := &CreatePatientParams{}
	if idempotencyKey != "" {
		params.IdempotencyKey = &idempotencyKey
	}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*CreatePatientResponse, error) {
		return c.raw.CreatePatientWithResponse(ctx, params, p, ed...)
	})
	if err != nil {
		return Patient{}, err
	}
	return withID(decoded(r.JSON201, r.HTTPResponse))
}

// UpdatePatient changes the fields that are not nil.
func (c *Client) UpdatePatient(ctx context.Context, id int64, p PatientUpdate) (Patient, error) {
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*UpdatePatientResponse, error) {
		return c.raw.UpdatePatientWithResponse(ctx, id, p, ed...)
	})
	if err != nil {
		return Patient{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// DeletePatient deletes a patient; ErrNotFound when there is none with that id.
func (c *Client) DeletePatient(ctx context.Context, id int64) error {
	_, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*DeletePatientResponse, error) {
		return c.raw.DeletePatientWithResponse(ctx, id, ed...)
	})
	return err
}

package app

import (
	"context"

	"github.com/nextvisit/scribe/sync/api"
)

// NoteFilter selects a page of progress notes. Zero values mean: every
// patient, latest first, page 1, the server's page size (15).
type NoteFilter struct {
	PatientID int64
	SortBy    string // "latest", "oldest" or ""
	Page      int
	PerPage   int
}

// Notes fetches one page of progress notes.
func (c *Core) Notes(ctx context.Context, f NoteFilter) (api.Page[api.ProgressNote], error) {
	switch f.SortBy {
	case "", "latest", "oldest":
	default:
		return api.Page[api.ProgressNote]{}, &inputError{msg: "The sort order must be latest or oldest."}
	}
	if f.PatientID < 0 {
		return api.Page[api.ProgressNote]{}, &inputError{msg: "The patient id must be a positive number."}
	}
	if err := checkPerPage(f.PerPage); err != nil {
		return api.Page[api.ProgressNote]{}, err
	}
	s, err := c.current()
	if err != nil {
		return api.Page[api.ProgressNote]{}, err
	}
	pg, err := s.client.NotesPage(ctx, api.NoteQuery{PatientID: f.PatientID, PerPage: f.PerPage, SortBy: f.SortBy}, max(f.Page, 1))
	if err != nil {
		return api.Page[api.ProgressNote]{}, c.failed(ctx, s, "list notes", err)
	}
	c.log.Debug("listed notes", "page", max(f.Page, 1), "count", len(pg.Items))
	return pg, nil
}

// Note fetches one progress note.
func (c *Core) Note(ctx context.Context, id int64) (api.ProgressNote, error) {
	if id <= 0 {
		return api.ProgressNote{}, &inputError{msg: "The note id must be a positive number."}
	}
	s, err := c.current()
	if err != nil {
		return api.ProgressNote{}, err
	}
	n, err := s.client.Note(ctx, id)
	if err != nil {
		return api.ProgressNote{}, c.failed(ctx, s, "open note", err)
	}
	return n, nil
}

// Templates lists the note templates (SOAP, DAP, ...); a template's id is
// what a new note's model id takes.
func (c *Core) Templates(ctx context.Context) ([]api.Template, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	ts, err := s.client.Templates(ctx)
	if err != nil {
		return nil, c.failed(ctx, s, "list templates", err)
	}
	return ts, nil
}

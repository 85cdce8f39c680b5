package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
)

// NoteQuery filters the progress-note list. Zero values leave the server's defaults (every patient,
// 15 per page, latest first).
type NoteQuery struct {
	PatientID int64
	PerPage   int    // 1–100
	SortBy    string // "latest" or "oldest"
}

// TextNote is a progress note drafted from text (a transcript or a written note).
type TextNote struct {
	Name      string // ≤ 255 characters
	PatientID int64  // 0: no patient
	Note      string
	ModelID   int // the template (Templates); 0: the server's default
	Context   string
	Documents []int
}

// AudioNote is a progress note drafted from an audio recording of the visit.
type AudioNote struct {
	Name      string // ≤ 255 characters
	PatientID int64  // 0: no patient
	ModelID   int    // the template (Templates); 0: the server's default
	Context   string
	FileName  string // e.g. "visit.wav"; its extension sets the part's content type
	Audio     io.Reader
}

// Templates lists the note templates; their ids are what ModelID takes.
func (c *Client) Templates(ctx context.Context) ([]Template, error) {
	r, err := call(ctx, c, c.raw.ListTemplatesWithResponse)
	if err != nil {
		return nil, err
	}
	list, err := decoded(r.JSON200, r.HTTPResponse)
	return list.Data, err
}

// NotesPage fetches one page of progress notes (from 1; less than 1 means 1).
func (c *Client) NotesPage(ctx context.Context, q NoteQuery, page int) (Page[ProgressNote], error) {
	page = max(page, 1)
	params := &ListProgressNotesParams{Page: &page}
	if q.PatientID != 0 {
		id := int(q.PatientID)
		params.PatientId = &id
	}
	if q.PerPage != 0 {
		params.PerPage = &q.PerPage
	}
	if q.SortBy != "" {
		sort := ListProgressNotesParamsSortBy(q.SortBy)
		params.SortBy = &sort
	}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*ListProgressNotesResponse, error) {
		return c.raw.ListProgressNotesWithResponse(ctx, params, ed...)
	})
	if err != nil {
		return Page[ProgressNote]{}, err
	}
	list, err := decoded(r.JSON200, r.HTTPResponse)
	if err != nil {
		return Page[ProgressNote]{}, err
	}
	return Page[ProgressNote]{Items: list.Data, Links: list.Links, Meta: list.Meta}, nil
}

// Notes walks every page of the list; stop early by breaking out of the loop.
func (c *Client) Notes(ctx context.Context, q NoteQuery) iter.Seq2[ProgressNote, error] {
	return walk(ctx, func(ctx context.Context, page int) (Page[ProgressNote], error) {
		return c.NotesPage(ctx, q, page)
	}, idOf[ProgressNote])
}

// Note fetches one progress note; poll it until AnalysisCompletedAt or ErrorState is set.
func (c *Client) Note(ctx context.Context, id int64) (ProgressNote, error) {
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*GetProgressNoteResponse, error) {
		return c.raw.GetProgressNoteWithResponse(ctx, id, ed...)
	})
	if err != nil {
		return ProgressNote{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// CreateTextNote asks for a note drafted from text. With a non-empty idempotencyKey (DESIGN: the
// encounter id) the request is retried safely and has one effect however often it is sent.
func (c *Client) CreateTextNote(ctx context.Context, n TextNote, idempotencyKey string) (ProgressNote, error) {
	f := newForm()
	f.field("name", n.Name)
	f.field("note", n.Note)
	noteFields(f, n.PatientID, n.ModelID, n.Context)
	for i, doc := range n.Documents {
		f.intField("documents["+strconv.Itoa(i)+"]", int64(doc))
	}
	return c.createNote(ctx, f, idempotencyKey)
}

// CreateAudioNote uploads a recording and asks for a note drafted from it. The audio is read into
// memory so that a retry can send it again.
func (c *Client) CreateAudioNote(ctx context.Context, n AudioNote, idempotencyKey string) (ProgressNote, error) {
	if n.Audio == nil {
		return ProgressNote{}, errors.New("create audio note: no audio given")
	}
	f := newForm()
	f.field("name", n.Name)
	noteFields(f, n.PatientID, n.ModelID, n.Context)
	f.file("file", fileNameOr(n.FileName, "audio.wav"), n.Audio)
	return c.createNote(ctx, f, idempotencyKey)
}

func noteFields(f *form, patientID int64, modelID int, context string) {
	if patientID != 0 {
		f.intField("patient_id", patientID)
	}
	if modelID != 0 {
		f.intField("model_id", int64(modelID))
	}
	if context != "" {
		f.field("context", context)
	}
}

func (c *Client) createNote(ctx context.Context, f *form, idempotencyKey string) (ProgressNote, error) {
	contentType, body, err := f.body()
	if err != nil {
		return ProgressNote{}, fmt.Errorf("create note: %w", err)
	}
	params := &CreateProgressNoteParams{}
	if idempotencyKey != "" {
		params.IdempotencyKey = &idempotencyKey
	}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*CreateProgressNoteResponse, error) {
		return c.raw.CreateProgressNoteWithBodyWithResponse(ctx, params, contentType, body, ed...)
	})
	if err != nil {
		return ProgressNote{}, err
	}
	return withID(decoded(r.JSON201, r.HTTPResponse))
}

// UpdateNote changes the name, transcription or analysis (nil fields stay as they are).
func (c *Client) UpdateNote(ctx context.Context, id int64, u ProgressNoteUpdate) (ProgressNote, error) {
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*UpdateProgressNoteResponse, error) {
		return c.raw.UpdateProgressNoteWithResponse(ctx, id, u, ed...)
	})
	if err != nil {
		return ProgressNote{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// DeleteNote deletes a progress note and its files.
func (c *Client) DeleteNote(ctx context.Context, id int64) error {
	_, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*DeleteProgressNoteResponse, error) {
		return c.raw.DeleteProgressNoteWithResponse(ctx, id, ed...)
	})
	return err
}

// SignNote marks the note reviewed and signed.
func (c *Client) SignNote(ctx context.Context, id int64) (ProgressNote, error) {
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*SignProgressNoteResponse, error) {
		return c.raw.SignProgressNoteWithResponse(ctx, id, ed...)
	})
	if err != nil {
		return ProgressNote{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// UnsignNote withdraws the signature so the note can be edited again.
func (c *Client) UnsignNote(ctx context.Context, id int64) (ProgressNote, error) {
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*UnsignProgressNoteResponse, error) {
		return c.raw.UnsignProgressNoteWithResponse(ctx, id, ed...)
	})
	if err != nil {
		return ProgressNote{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// NoteAudioURL returns a temporary signed URL of the note's audio. It is a credential while it lasts:
// do not log it.
func (c *Client) NoteAudioURL(ctx context.Context, id int64) (string, error) {
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*GetProgressNoteAudioURLResponse, error) {
		return c.raw.GetProgressNoteAudioURLWithResponse(ctx, id, ed...)
	})
	if err != nil {
		return "", err
	}
	v, err := decoded(r.JSON200, r.HTTPResponse)
	if err != nil {
		return "", err
	}
	if v.Url == nil || *v.Url == "" {
		return "", badResponse("the answer has no audio URL")
	}
	return *v.Url, nil
}

func fileNameOr(name, fallback string) string {
	if name == "" {
		return fallback
	}
	return name
}

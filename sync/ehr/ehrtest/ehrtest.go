// Package ehrtest is the conformance suite every ehr.Connector passes, run
// by each connector package's tests against its sandbox EHR, plus helpers
// those tests share: Browser, which clicks through an OAuth EHR's login and
// consent pages, and NewOAuthEHR, a sandbox Osmind or Kalix over HTTP. It
// is imported only by tests.
package ehrtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
)

// Chart lets the suite look into the sandbox EHR a connector talks to,
// beside the connector, to see what really landed.
type Chart interface {
	// Patient and Provider are ids of a patient and a provider the EHR
	// knows, for the suite's pushes.
	Patient() string
	Provider() string
	// Documents are the notes as the chart shows them now: the current
	// version of each, with its content as text (a PDF's text for an EHR
	// that takes PDFs).
	Documents(ctx context.Context) ([]Document, error)
	// EffectCount is how many times writes with this idempotency key
	// changed the chart.
	EffectCount(key string) int
	// Settle makes the EHR finish what it accepted but has not yet
	// confirmed (NexHealth's pending writes); a no-op elsewhere.
	Settle(ctx context.Context) error
	// BadCredentials is a connector to the same EHR whose credentials the
	// EHR refuses (a wrong token, a revoked grant).
	BadCredentials(t *testing.T) ehr.Connector
}

// Document is one note as the chart shows it.
type Document struct {
	PatientID  string
	ProviderID string
	VisitDate  string
	Content    string
}

// Run checks newConn's connector against its EHR. newConn is called once per
// subtest, each time for a fresh connection to a fresh EHR.
func Run(t *testing.T, newConn func(t *testing.T) (ehr.Connector, Chart)) {
	t.Run("Validate", func(t *testing.T) {
		c, _ := newConn(t)
		acct, err := c.Validate(t.Context())
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if acct.Name == "" {
			t.Errorf("Validate: account %+v has no name", acct)
		}
	})
	t.Run("Providers", func(t *testing.T) {
		c, ch := newConn(t)
		ps, err := c.Providers(t.Context())
		if err != nil {
			t.Fatalf("Providers: %v", err)
		}
		found := false
		for _, p := range ps {
			if p.ID == "" || p.Name == "" {
				t.Errorf("provider %+v lacks an id or name", p)
			}
			found = found || p.ID == ch.Provider()
		}
		if !found {
			t.Errorf("Providers: %d providers, none is the chart's provider %q", len(ps), ch.Provider())
		}
	})
	t.Run("RosterSince", func(t *testing.T) { testRoster(t, newConn) })
	t.Run("PushLands", func(t *testing.T) {
		c, ch := newConn(t)
		n := sampleNote(ch, "Lands")
		ref := push(t, c, n, ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "lands-1"})
		docs := documents(t, ch)
		if got := matching(docs, n.Text); len(got) != 1 {
			t.Fatalf("after one push the chart holds %d documents with the note's text, want 1: %+v", len(got), docs)
		} else if d := got[0]; d.PatientID != n.PatientID || d.ProviderID != n.ProviderID || d.VisitDate != n.VisitDate {
			t.Errorf("landed as patient %q provider %q visit %q, want %q %q %q", d.PatientID, d.ProviderID, d.VisitDate,
				n.PatientID, n.ProviderID, n.VisitDate)
		}
		if got := ch.EffectCount("lands-1"); got != 1 {
			t.Errorf("EffectCount = %d, want 1", got)
		}
		confirm(t, c, ch, ref)
	})
	t.Run("RetrySameKeyOneEffect", func(t *testing.T) {
		c, ch := newConn(t)
		n := sampleNote(ch, "Retried")
		opt := ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "retry-1"}
		first := push(t, c, n, opt)
		second := push(t, c, n, opt)
		if first != second {
			t.Errorf("a retry with the same key answered ref %q, the first push %q", second, first)
		}
		if got := matching(documents(t, ch), n.Text); len(got) != 1 {
			t.Errorf("after a push and its retry the chart holds %d copies, want 1", len(got))
		}
		if got := ch.EffectCount("retry-1"); got != 1 {
			t.Errorf("EffectCount = %d, want 1", got)
		}
	})
	t.Run("Append", func(t *testing.T) {
		c, ch := newConn(t)
		v1 := sampleNote(ch, "Append first")
		ref := push(t, c, v1, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "append-1"})
		v2 := v1
		v2.Text = "Append second version of the note."
		push(t, c, v2, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, Previous: ref, IdempotencyKey: "append-2"})
		docs := documents(t, ch)
		if len(matching(docs, v1.Text)) != 1 || len(matching(docs, v2.Text)) != 1 {
			t.Errorf("append: the chart should show both versions once each: %+v", docs)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		c, ch := newConn(t)
		v1 := sampleNote(ch, "Replace first")
		ref := push(t, c, v1, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, IdempotencyKey: "replace-1"})
		v2 := v1
		v2.Text = "Replace second version of the note."
		ref2, err := c.Push(t.Context(), v2, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: ref, IdempotencyKey: "replace-2"})
		if errors.Is(err, ehr.ErrUnsupported) {
			// The EHR keeps every document; the app must say so at the setting.
			if got := matching(documents(t, ch), v2.Text); len(got) != 0 {
				t.Errorf("an unsupported replace still landed: %+v", got)
			}
			t.Skipf("%s cannot replace: %v", c.Kind(), err)
		}
		if err != nil || ref2 == "" {
			t.Fatalf("Push(replace-2) = %q, %v", ref2, err)
		}
		docs := documents(t, ch)
		if len(matching(docs, v1.Text)) != 0 || len(matching(docs, v2.Text)) != 1 {
			t.Errorf("replace: the chart should show only the second version: %+v", docs)
		}
		confirm(t, c, ch, ref2)
	})
	t.Run("Content", func(t *testing.T) {
		c, ch := newConn(t)
		only := sampleNote(ch, "Content note only")
		push(t, c, only, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "content-only"})
		full := sampleNote(ch, "Content with codes")
		push(t, c, full, ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "content-full"})
		docs := documents(t, ch)
		gotOnly := matching(docs, only.Text)
		if len(gotOnly) != 1 {
			t.Fatalf("note only: %d documents, want 1", len(gotOnly))
		}
		for _, code := range only.Codes {
			if strings.Contains(gotOnly[0].Content, code.Code) {
				t.Errorf("note-only push carries code %s:\n%s", code.Code, gotOnly[0].Content)
			}
		}
		got := matching(docs, full.Text)
		if len(got) != 1 {
			t.Fatalf("with codes: %d documents, want 1", len(got))
		}
		// Every connector sends ehr.Body's words; a PDF may wrap its lines
		// elsewhere, so the words are compared, in order.
		for _, c := range []struct {
			n   ehr.Note
			doc Document
			set ehr.Content
		}{{only, gotOnly[0], ehr.NoteOnly}, {full, got[0], ehr.NoteWithCodes}} {
			if g, w := strings.Fields(c.doc.Content), strings.Fields(ehr.Body(c.n, c.set)); !slices.Equal(g, w) {
				t.Errorf("%s: the chart shows\n%s\nwant ehr.Body's words\n%s", c.set, c.doc.Content, ehr.Body(c.n, c.set))
			}
		}
		for _, want := range []string{full.Codes[0].Code, full.Codes[0].Description, full.Codes[1].Code, full.Clinician} {
			if !strings.Contains(got[0].Content, want) {
				t.Errorf("note + codes + metadata push lacks %q:\n%s", want, got[0].Content)
			}
		}
	})
	t.Run("BadOptions", func(t *testing.T) {
		c, ch := newConn(t)
		n := sampleNote(ch, "Bad options")
		for name, opt := range map[string]ehr.PushOptions{
			"content": {Content: "everything", Update: ehr.Append, IdempotencyKey: "bad-content"},
			"update":  {Content: ehr.NoteOnly, Update: "merge", IdempotencyKey: "bad-update"},
			"no key":  {Content: ehr.NoteOnly, Update: ehr.Append},
		} {
			if _, err := c.Push(t.Context(), n, opt); err == nil {
				t.Errorf("%s: Push accepted %+v", name, opt)
			}
		}
		if got := matching(documents(t, ch), n.Text); len(got) != 0 {
			t.Errorf("a push with bad options landed: %+v", got)
		}
	})
	t.Run("Disconnect", func(t *testing.T) {
		c, _ := newConn(t)
		if err := c.Disconnect(t.Context()); err != nil {
			t.Fatalf("Disconnect: %v", err)
		}
		if _, err := c.Validate(t.Context()); !errors.Is(err, ehr.ErrReauthorize) {
			t.Errorf("Validate after Disconnect: %v, want ErrReauthorize", err)
		}
	})
	t.Run("BadCredentials", func(t *testing.T) {
		_, ch := newConn(t)
		bad := ch.BadCredentials(t)
		if _, err := bad.Validate(t.Context()); !errors.Is(err, ehr.ErrReauthorize) {
			t.Errorf("Validate with bad credentials: %v, want ErrReauthorize", err)
		}
		n := sampleNote(ch, "Refused")
		if _, err := bad.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "bad-1"}); !errors.Is(err, ehr.ErrReauthorize) {
			t.Errorf("Push with bad credentials: %v, want ErrReauthorize", err)
		}
		if got := matching(documents(t, ch), n.Text); len(got) != 0 {
			t.Errorf("a refused push landed: %+v", got)
		}
	})
}

func testRoster(t *testing.T, newConn func(t *testing.T) (ehr.Connector, Chart)) {
	c, _ := newConn(t)
	all, next, err := c.Roster(t.Context(), time.Time{})
	if errors.Is(err, ehr.ErrUnsupported) {
		t.Skipf("%s has no roster listing: %v", c.Kind(), err)
	}
	if err != nil {
		t.Fatalf("Roster: %v", err)
	}
	if len(all) == 0 || next.IsZero() {
		t.Fatalf("Roster(zero) = %d patients, next %v; want the whole roster and a time to pass next", len(all), next)
	}
	for _, p := range all {
		if p.ID == "" || p.LastName == "" {
			t.Errorf("patient %+v lacks an id or a last name", p)
		}
	}
	since, next2, err := c.Roster(t.Context(), next)
	if err != nil {
		t.Fatalf("Roster(since): %v", err)
	}
	// Nothing changed in between, so only patients updated at or after
	// next (none, or a few on the boundary) may come back.
	if len(since) >= len(all) {
		t.Errorf("Roster(since) = %d patients, as many as the whole roster (%d); since is ignored", len(since), len(all))
	}
	for _, p := range since {
		if !p.UpdatedAt.IsZero() && p.UpdatedAt.Before(next) {
			t.Errorf("Roster(since %v) returned %s updated %v, before since", next, p.ID, p.UpdatedAt)
		}
	}
	if next2.Before(next) {
		t.Errorf("the next since went back: %v after %v", next2, next)
	}
}

// sampleNote is a note to the chart's patient and provider whose text is
// unique to tag, so the suite can find it in the chart.
func sampleNote(ch Chart, tag string) ehr.Note {
	return ehr.Note{
		PatientID:  ch.Patient(),
		ProviderID: ch.Provider(),
		VisitDate:  "2026-03-02",
		Title:      "Progress note",
		Text:       fmt.Sprintf("%s: patient reports better sleep; continue sertraline 50 mg.", tag),
		Codes: []ehr.Code{
			{System: "ICD-10", Code: "F41.1", Description: "Generalized anxiety disorder"},
			{System: "CPT", Code: "90834", Description: "Psychotherapy, 45 minutes"},
		},
		Clinician: "Samuel Rivera, MD",
		SignedAt:  time.Date(2026, 3, 2, 17, 30, 0, 0, time.UTC),
	}
}

func push(t *testing.T, c ehr.Connector, n ehr.Note, opt ehr.PushOptions) ehr.Ref {
	t.Helper()
	ref, err := c.Push(t.Context(), n, opt)
	if err != nil {
		t.Fatalf("Push(%s): %v", opt.IdempotencyKey, err)
	}
	if ref == "" {
		t.Fatalf("Push(%s) returned an empty ref", opt.IdempotencyKey)
	}
	return ref
}

func confirm(t *testing.T, c ehr.Connector, ch Chart, ref ehr.Ref) {
	t.Helper()
	st, err := c.Confirm(t.Context(), ref)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if st == ehr.Pending {
		if err := ch.Settle(t.Context()); err != nil {
			t.Fatalf("Settle: %v", err)
		}
		if st, err = c.Confirm(t.Context(), ref); err != nil {
			t.Fatalf("Confirm after Settle: %v", err)
		}
	}
	if st != ehr.Confirmed {
		t.Errorf("Confirm = %q, want %q", st, ehr.Confirmed)
	}
}

func documents(t *testing.T, ch Chart) []Document {
	t.Helper()
	docs, err := ch.Documents(t.Context())
	if err != nil {
		t.Fatalf("chart documents: %v", err)
	}
	return docs
}

// matching are the documents whose content holds text.
func matching(docs []Document, text string) []Document {
	var out []Document
	for _, d := range docs {
		if strings.Contains(d.Content, text) {
			out = append(out, d)
		}
	}
	return out
}

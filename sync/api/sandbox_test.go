package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// Every API operation through the client against the real sandbox: success, 401, 422 where the
// operation validates input, and 429 then retry.

type fixture struct {
	sb      *sandbox.Server
	base    string
	c       *api.Client // signed in as the sample clinician
	anon    *api.Client // no token
	attempt atomic.Int64
}

// countAttempts counts requests that reach the wire, to see retries from outside the client.
type countAttempts struct {
	n    *atomic.Int64
	base http.RoundTripper
}

func (t countAttempts) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sb, err := sandbox.New(t.Context(), sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 60 * time.Millisecond})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("sandbox.Close: %v", err)
		}
	})
	base, err := sb.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sandbox.Start: %v", err)
	}
	f := &fixture{sb: sb, base: base}
	hc := &http.Client{Transport: countAttempts{n: &f.attempt, base: http.DefaultTransport.(*http.Transport).Clone()}}
	f.anon, err = api.New(base, api.Options{HTTPClient: hc})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	tok, err := f.anon.Login(t.Context(), sandbox.SampleEmail, sandbox.SamplePassword, "api tests")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	f.c = f.anon.WithToken(tok.Token)
	return f
}

// wav makes a 16 kHz mono WAV: silence, a loud 440 Hz tone for toneSecs, silence.
func wav(toneSecs float64) []byte {
	const rate = 16000
	var pcm []int16
	add := func(secs float64, amp float64) {
		n := int(secs * rate)
		for i := range n {
			pcm = append(pcm, int16(amp*math.Sin(2*math.Pi*440*float64(i)/rate)))
		}
	}
	add(0.5, 0)
	add(toneSecs, 12000)
	add(0.5, 0)
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(36+2*len(pcm)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		_ = binary.Write(&b, le, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(2*len(pcm)))
	_ = binary.Write(&b, le, pcm)
	return b.Bytes()
}

// waitProcessed polls the note (as the app's worker does) until analysis completes or fails.
func waitProcessed(t *testing.T, c *api.Client, id int64) api.ProgressNote {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := c.Note(ctx, id)
		if err != nil {
			t.Fatalf("Note(%d): %v", id, err)
		}
		if n.AnalysisCompletedAt != nil || n.ErrorState != nil {
			return n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("note %d still processing: %v", id, ctx.Err())
		case <-tick.C:
		}
	}
}

func (f *fixture) newPatient(t *testing.T) api.Patient {
	t.Helper()
	p, err := f.c.CreatePatient(t.Context(), api.PatientInput{FirstName: "Test", LastName: "Patient"}, "")
	if err != nil {
		t.Fatalf("CreatePatient: %v", err)
	}
	return p
}

func (f *fixture) newNote(t *testing.T, patientID int64) api.ProgressNote {
	t.Helper()
	n, err := f.c.CreateTextNote(t.Context(), api.TextNote{Name: "Follow-up", PatientID: patientID, Note: "Patient reports better sleep."}, "")
	if err != nil {
		t.Fatalf("CreateTextNote: %v", err)
	}
	return waitProcessed(t, f.c, n.Id)
}

var long = strings.Repeat("n", 256)

func ptr[T any](v T) *T { return &v }

// operation is one API operation as the table drives it. prep runs first (not under faults) and
// returns what op acts on; invalid, if set, makes the server answer 422.
type operation struct {
	name      string
	retryable bool // idempotent: a 429 is retried
	fresh     bool // runs on a session of its own (it ends the session)
	prep      func(t *testing.T, f *fixture) int64
	op        func(ctx context.Context, c *api.Client, id int64) error
	invalid   func(ctx context.Context, c *api.Client, id int64) error
}

func operations() []operation {
	noPrep := func(*testing.T, *fixture) int64 { return 0 }
	patient := func(t *testing.T, f *fixture) int64 { return f.newPatient(t).Id }
	note := func(t *testing.T, f *fixture) int64 { return f.newNote(t, 0).Id }
	audio := func() *bytes.Reader { return bytes.NewReader(wav(1)) }
	return []operation{
		{name: "Login", prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.Login(ctx, sandbox.SampleEmail, sandbox.SamplePassword, "laptop")
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.Login(ctx, sandbox.SampleEmail, sandbox.SamplePassword, long)
				return err
			}},
		{name: "Tokens", retryable: true, prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			toks, err := c.Tokens(ctx)
			if err == nil && len(toks) == 0 {
				err = errors.New("no tokens listed")
			}
			return err
		}},
		{name: "RevokeToken", retryable: true,
			prep: func(t *testing.T, f *fixture) int64 {
				if _, err := f.anon.Login(t.Context(), sandbox.SampleEmail, sandbox.SamplePassword, "old phone"); err != nil {
					t.Fatal(err)
				}
				toks, err := f.c.Tokens(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				for _, tok := range toks {
					if tok.Name == "old phone" {
						return tok.Id
					}
				}
				t.Fatal("the new token is not listed")
				return 0
			},
			op: func(ctx context.Context, c *api.Client, id int64) error { return c.RevokeToken(ctx, id) }},
		{name: "Logout", retryable: true, fresh: true, prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				if err := c.Logout(ctx); err != nil {
					return err
				}
				if _, err := c.User(ctx); !errors.Is(err, api.ErrUnauthorized) {
					return fmt.Errorf("after Logout the token still works (err %v)", err)
				}
				return nil
			}},
		{name: "User", retryable: true, prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			u, err := c.User(ctx)
			if err == nil && u.Email != sandbox.SampleEmail {
				err = fmt.Errorf("user email %q", u.Email)
			}
			return err
		}},
		{name: "TeamUsers", retryable: true, prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			us, err := c.TeamUsers(ctx)
			if err != nil {
				return err
			}
			if len(us) != 3 || !slices.ContainsFunc(us, func(u api.User) bool { return u.Email == sandbox.SampleEmail }) {
				return fmt.Errorf("team users %+v, want the 3 sample clinicians, the signed-in one among them", us)
			}
			return nil
		}},
		{name: "UpdateUser", retryable: true, prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				u, err := c.UpdateUser(ctx, api.UserUpdate{Name: ptr("Dr. Renamed")})
				if err == nil && u.Name != "Dr. Renamed" {
					err = fmt.Errorf("name %q", u.Name)
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.UpdateUser(ctx, api.UserUpdate{Name: &long})
				return err
			}},
		{name: "PatientsPage", retryable: true, prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				p, err := c.PatientsPage(ctx, api.PatientQuery{PerPage: 5}, 2)
				if err == nil && (len(p.Items) != 5 || p.Meta.Current() != 2) {
					err = fmt.Errorf("page = %d items, meta %s", len(p.Items), p.Meta.Summary("patient", "patients"))
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.PatientsPage(ctx, api.PatientQuery{PerPage: 101}, 1)
				return err
			}},
		{name: "Patient", retryable: true, prep: patient, op: func(ctx context.Context, c *api.Client, id int64) error {
			p, err := c.Patient(ctx, id)
			if err == nil && p.Id != id {
				err = fmt.Errorf("id %d", p.Id)
			}
			return err
		}},
		{name: "CreatePatient with key", retryable: true, prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.CreatePatient(ctx, api.PatientInput{FirstName: "Ada", LastName: "Lovelace"}, "key-"+randomSuffix())
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.CreatePatient(ctx, api.PatientInput{FirstName: long, LastName: "X"}, "")
				return err
			}},
		{name: "CreatePatient without key", prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			_, err := c.CreatePatient(ctx, api.PatientInput{FirstName: "Ada", LastName: "Lovelace"}, "")
			return err
		}},
		{name: "UpdatePatient", retryable: true, prep: patient,
			op: func(ctx context.Context, c *api.Client, id int64) error {
				p, err := c.UpdatePatient(ctx, id, api.PatientUpdate{Notes: ptr("prefers mornings")})
				if err == nil && (p.Notes == nil || *p.Notes != "prefers mornings") {
					err = fmt.Errorf("notes %v", p.Notes)
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, id int64) error {
				_, err := c.UpdatePatient(ctx, id, api.PatientUpdate{LastName: &long})
				return err
			}},
		{name: "DeletePatient", retryable: true, prep: patient, op: func(ctx context.Context, c *api.Client, id int64) error {
			return c.DeletePatient(ctx, id)
		}},
		{name: "Templates", retryable: true, prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			ts, err := c.Templates(ctx)
			if err == nil && len(ts) < 4 {
				err = fmt.Errorf("%d templates", len(ts))
			}
			return err
		}},
		{name: "NotesPage", retryable: true, prep: note,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				p, err := c.NotesPage(ctx, api.NoteQuery{PerPage: 3, SortBy: "oldest"}, 1)
				if err == nil && len(p.Items) == 0 {
					err = errors.New("no notes")
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.NotesPage(ctx, api.NoteQuery{PerPage: 101}, 1)
				return err
			}},
		{name: "Note", retryable: true, prep: note, op: func(ctx context.Context, c *api.Client, id int64) error {
			_, err := c.Note(ctx, id)
			return err
		}},
		{name: "CreateTextNote with key", retryable: true, prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.CreateTextNote(ctx, api.TextNote{Name: "Visit", Note: "Doing well."}, "enc-"+randomSuffix())
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.CreateTextNote(ctx, api.TextNote{Name: long, Note: "Doing well."}, "")
				return err
			}},
		{name: "CreateTextNote without key", prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			_, err := c.CreateTextNote(ctx, api.TextNote{Name: "Visit", Note: "Doing well."}, "")
			return err
		}},
		{name: "CreateAudioNote", retryable: true, prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.CreateAudioNote(ctx, api.AudioNote{Name: "Recorded visit", FileName: "visit.wav", Audio: audio()}, "aud-"+randomSuffix())
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.CreateAudioNote(ctx, api.AudioNote{Name: long, FileName: "visit.wav", Audio: audio()}, "")
				return err
			}},
		{name: "UpdateNote", retryable: true, prep: note,
			op: func(ctx context.Context, c *api.Client, id int64) error {
				n, err := c.UpdateNote(ctx, id, api.ProgressNoteUpdate{Analysis: ptr("S: better. O: calm. A: improving. P: continue.")})
				if err == nil && (n.Analysis == nil || !strings.HasPrefix(*n.Analysis, "S: better")) {
					err = fmt.Errorf("analysis %v", n.Analysis)
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, id int64) error {
				_, err := c.UpdateNote(ctx, id, api.ProgressNoteUpdate{Name: &long})
				return err
			}},
		{name: "SignNote", retryable: true, prep: note,
			op: func(ctx context.Context, c *api.Client, id int64) error {
				n, err := c.SignNote(ctx, id)
				if err == nil && (n.Has == nil || n.Has.Signed == nil || !*n.Has.Signed) {
					err = errors.New("not signed")
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, id int64) error {
				if _, err := c.UpdateNote(ctx, id, api.ProgressNoteUpdate{Analysis: ptr("")}); err != nil {
					return fmt.Errorf("empty the analysis first: %w", err)
				}
				_, err := c.SignNote(ctx, id) // nothing to sign
				return err
			}},
		{name: "UnsignNote", retryable: true,
			prep: func(t *testing.T, f *fixture) int64 {
				id := f.newNote(t, 0).Id
				if _, err := f.c.SignNote(t.Context(), id); err != nil {
					t.Fatal(err)
				}
				return id
			},
			op: func(ctx context.Context, c *api.Client, id int64) error {
				n, err := c.UnsignNote(ctx, id)
				if err == nil && n.Has != nil && n.Has.Signed != nil && *n.Has.Signed {
					err = errors.New("still signed")
				}
				return err
			}},
		{name: "NoteAudioURL", retryable: true,
			prep: func(t *testing.T, f *fixture) int64 {
				n, err := f.c.CreateAudioNote(t.Context(), api.AudioNote{Name: "Recorded", FileName: "v.wav", Audio: audio()}, "")
				if err != nil {
					t.Fatal(err)
				}
				return n.Id
			},
			op: func(ctx context.Context, c *api.Client, id int64) error {
				u, err := c.NoteAudioURL(ctx, id)
				if err == nil && !strings.HasPrefix(u, "http") {
					err = fmt.Errorf("url %q", u)
				}
				return err
			}},
		{name: "DeleteNote", retryable: true, prep: note, op: func(ctx context.Context, c *api.Client, id int64) error {
			return c.DeleteNote(ctx, id)
		}},
		{name: "Transcribe", retryable: true, prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				tr, err := c.Transcribe(ctx, "gap.wav", audio(), "tr-"+randomSuffix())
				if err == nil && (tr.Duration < 1.9 || tr.Duration > 2.1) {
					err = fmt.Errorf("duration %v s, want 2", tr.Duration)
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.Transcribe(ctx, "gap.wav", strings.NewReader("this is not audio"), "")
				return err
			}},
		{name: "StreamingToken", prep: noPrep,
			op: func(ctx context.Context, c *api.Client, _ int64) error {
				st, err := c.StreamingToken(ctx, 60)
				if err == nil && (st.ExpiresInSeconds != 60 || !strings.HasPrefix(st.Url, "ws")) {
					err = fmt.Errorf("token %+v", st)
				}
				return err
			},
			invalid: func(ctx context.Context, c *api.Client, _ int64) error {
				_, err := c.StreamingToken(ctx, 601)
				return err
			}},
		{name: "BillingPlan", retryable: true, prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			p, err := c.BillingPlan(ctx)
			if err == nil && p.Name == "" {
				err = errors.New("plan has no name")
			}
			return err
		}},
		{name: "BillingUsage", retryable: true, prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			_, err := c.BillingUsage(ctx)
			return err
		}},
		{name: "BillingEstimate", retryable: true, prep: noPrep, op: func(ctx context.Context, c *api.Client, _ int64) error {
			_, err := c.BillingEstimate(ctx)
			return err
		}},
	}
}

var suffix atomic.Int64

func randomSuffix() string { return fmt.Sprint(time.Now().UnixNano(), "-", suffix.Add(1)) }

func TestSandboxEveryOperation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox")
	}
	f := newFixture(t)
	for _, o := range operations() {
		t.Run(o.name, func(t *testing.T) {
			ctx := t.Context()

			signedIn := func(t *testing.T) *api.Client {
				if !o.fresh {
					return f.c
				}
				tok, err := f.anon.Login(ctx, sandbox.SampleEmail, sandbox.SamplePassword, "fresh session")
				if err != nil {
					t.Fatal(err)
				}
				return f.anon.WithToken(tok.Token)
			}

			t.Run("success", func(t *testing.T) {
				if err := o.op(ctx, signedIn(t), o.prep(t, f)); err != nil {
					t.Fatalf("%s: %v", o.name, err)
				}
			})

			t.Run("401", func(t *testing.T) {
				id := o.prep(t, f)
				c := f.c.WithToken("nvsb_not-a-token-the-server-issued")
				var err error
				if o.name == "Login" {
					_, err = c.Login(ctx, sandbox.SampleEmail, "wrong password", "laptop")
				} else {
					err = o.op(ctx, c, id)
				}
				if !errors.Is(err, api.ErrUnauthorized) {
					t.Fatalf("err = %v, want ErrUnauthorized", err)
				}
			})

			if o.invalid != nil {
				t.Run("422", func(t *testing.T) {
					err := o.invalid(ctx, f.c, o.prep(t, f))
					var ve *api.ValidationError
					if !errors.As(err, &ve) {
						t.Fatalf("err = %v, want *ValidationError", err)
					}
					if len(ve.Fields) == 0 || ve.Message == "" {
						t.Errorf("validation error without fields or message: %+v", ve)
					}
				})
			}

			t.Run("429", func(t *testing.T) {
				id := o.prep(t, f)
				c := signedIn(t)
				before := f.attempt.Load()
				f.sb.Faults().Burst429(1, 0)
				err := o.op(ctx, c, id)
				f.sb.Faults().Reset()
				sent := f.attempt.Load() - before
				if o.retryable {
					if err != nil {
						t.Fatalf("%s after one 429: %v (retried?)", o.name, err)
					}
					if sent < 2 {
						t.Errorf("%d requests sent, want the 429 and its retry", sent)
					}
					return
				}
				// Not idempotent: one request, and the caller learns it was rate limited.
				var rl *api.RateLimitError
				if !errors.As(err, &rl) || !errors.Is(err, api.ErrRateLimited) {
					t.Fatalf("err = %v, want *RateLimitError", err)
				}
				if sent != 1 {
					t.Errorf("%d requests sent, want 1 (not retried)", sent)
				}
			})
		})
	}
}

func TestSandboxRetryAfterIsWaited(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox")
	}
	f := newFixture(t)
	before := f.attempt.Load()
	f.sb.Faults().Burst429(2, time.Second)
	start := time.Now()
	if _, err := f.c.User(t.Context()); err != nil {
		t.Fatalf("User after two 429s: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Errorf("succeeded after %v; two Retry-After: 1 must take at least 2 s", elapsed)
	}
	if sent := f.attempt.Load() - before; sent != 3 {
		t.Errorf("%d requests, want 3", sent)
	}

	// More 429s than attempts: the caller gets ErrRateLimited with the server's wait.
	f.sb.Faults().Burst429(10, 0)
	_, err := f.c.User(t.Context())
	if !errors.Is(err, api.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	f.sb.Faults().Reset()
}

func TestSandboxSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox")
	}
	f := newFixture(t)
	ctx := t.Context()

	if _, err := f.anon.Login(ctx, sandbox.SampleEmail, "wrong", "laptop"); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("wrong password: err = %v, want ErrUnauthorized", err)
	} else if !strings.Contains(err.Error(), "credentials") {
		t.Errorf("wrong password error %q lacks the server's explanation", err)
	}
	if _, err := f.anon.User(ctx); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("no token: err = %v, want ErrUnauthorized", err)
	}

	tok, err := f.anon.Login(ctx, sandbox.SampleEmail, sandbox.SamplePassword, "second device")
	if err != nil {
		t.Fatal(err)
	}
	second := f.anon.WithToken(tok.Token)
	if err := second.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := second.User(ctx); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("revoked token: err = %v, want ErrUnauthorized", err)
	}
	if _, err := f.c.User(ctx); err != nil {
		t.Errorf("the other session was signed out too: %v", err)
	}
	if _, err := f.c.Patient(ctx, 999999); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("missing patient: err = %v, want ErrNotFound", err)
	}
}

func TestSandboxPagination(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox")
	}
	f := newFixture(t)
	ctx := t.Context()
	first, err := f.c.PatientsPage(ctx, api.PatientQuery{PerPage: 7}, 1)
	if err != nil {
		t.Fatal(err)
	}
	total := first.Meta.TotalItems()
	if total < 20 {
		t.Fatalf("sample workspace has %d patients, want about 25", total)
	}
	if want := (total + 6) / 7; first.Meta.Pages() != want {
		t.Errorf("Pages = %d, want %d for %d patients", first.Meta.Pages(), want, total)
	}
	if got, want := first.Meta.Summary("patient", "patients"), fmt.Sprintf("Page 1 of %d (%d patients)", (total+6)/7, total); got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	seen := map[int64]bool{}
	for p, err := range f.c.Patients(ctx, api.PatientQuery{PerPage: 7}) {
		if err != nil {
			t.Fatalf("Patients: %v", err)
		}
		if seen[p.Id] {
			t.Errorf("patient %d listed twice", p.Id)
		}
		seen[p.Id] = true
	}
	if len(seen) != total {
		t.Errorf("walked %d patients, want %d", len(seen), total)
	}

	// per_page outside 1–100: 0 through the generated client (the wrapper treats 0 as "default"),
	// 101 and -1 through the wrapper.
	raw, err := api.NewClientWithResponses(f.base)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.anon.Login(ctx, sandbox.SampleEmail, sandbox.SamplePassword, "raw")
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok.Token)
		return nil
	}
	r, err := raw.ListProgressNotesWithResponse(ctx, &api.ListProgressNotesParams{PerPage: ptr(0)}, bearer)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode() != http.StatusUnprocessableEntity || r.JSON422 == nil || len(r.JSON422.Errors["per_page"]) == 0 {
		t.Errorf("per_page=0: %d %s", r.StatusCode(), r.Body)
	}
	for _, per := range []int{101, -1} {
		_, err := f.c.NotesPage(ctx, api.NoteQuery{PerPage: per}, 1)
		var ve *api.ValidationError
		if !errors.As(err, &ve) || ve.Field("per_page") == "" {
			t.Errorf("per_page=%d: err = %v, want a per_page field error", per, err)
		}
	}
	if _, err := f.c.NotesPage(ctx, api.NoteQuery{SortBy: "sideways"}, 1); !errors.As(err, new(*api.ValidationError)) {
		t.Errorf("sort_by=sideways: err = %v, want *ValidationError", err)
	}
}

func TestSandboxIdempotentCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox")
	}
	f := newFixture(t)
	ctx := t.Context()
	p1, err := f.c.CreatePatient(ctx, api.PatientInput{FirstName: "Once", LastName: "Only"}, "create-once")
	if err != nil {
		t.Fatal(err)
	}
	f.sb.Faults().SetErrorRate(1) // every request now answers 503...
	before := f.attempt.Load()
	_, err = f.c.CreatePatient(ctx, api.PatientInput{FirstName: "Once", LastName: "Only"}, "create-once")
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("err = %v, want 503 after the retries", err)
	}
	if sent := f.attempt.Load() - before; sent != 4 {
		t.Errorf("%d requests, want 4 attempts", sent)
	}
	f.sb.Faults().Reset() // ...and now none does
	p2, err := f.c.CreatePatient(ctx, api.PatientInput{FirstName: "Once", LastName: "Only"}, "create-once")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Id != p2.Id {
		t.Errorf("the same key created patients %d and %d", p1.Id, p2.Id)
	}
	if n := f.sb.EffectCount("create-once"); n != 1 {
		t.Errorf("EffectCount = %d, want 1", n)
	}
}

package simplepractice

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	spsandbox "github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

// sandbox is a SimplePractice model mounted on a test server.
type sandbox struct {
	srv *spsandbox.Server
	url string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	srv, err := spsandbox.New(t.Context(), spsandbox.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/simplepractice/", http.StripPrefix("/simplepractice", srv.Handler()))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &sandbox{srv: srv, url: hs.URL + "/simplepractice"}
}

func (s *sandbox) connect(t *testing.T, token string) *Connector {
	t.Helper()
	c, err := New(Config{BaseURL: s.url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// chart is ehrtest's view into the sandbox.
type chart struct {
	sb                *sandbox
	patient, provider string
}

func (c *chart) Patient() string                  { return c.patient }
func (c *chart) Provider() string                 { return c.provider }
func (c *chart) EffectCount(key string) int       { return c.sb.srv.EffectCount(key) }
func (c *chart) Settle(ctx context.Context) error { return nil } // SimplePractice writes are final
func (c *chart) BadCredentials(t *testing.T) ehr.Connector {
	return c.sb.connect(t, "sp_not_the_token")
}

func (c *chart) Documents(ctx context.Context) ([]ehrtest.Document, error) {
	docs, err := c.sb.srv.Documents(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ehrtest.Document, 0, len(docs))
	for _, d := range docs {
		out = append(out, ehrtest.Document{PatientID: strconv.FormatInt(d.PatientID, 10),
			ProviderID: strconv.FormatInt(d.ProviderID, 10), VisitDate: d.VisitDate, Content: d.Content})
	}
	return out, nil
}

// newConn is a fresh sandbox and a connection to it, with a client found by
// lookup and a clinician from the listing.
func newConn(t *testing.T) (ehr.Connector, ehrtest.Chart) {
	sb := newSandbox(t)
	c := sb.connect(t, spsandbox.SampleToken)
	clients, err := c.FindClients(t.Context(), "doe", "1985-03-15")
	if err != nil || len(clients) != 1 {
		t.Fatalf("find Jane Doe: %+v, %v", clients, err)
	}
	providers, err := c.Providers(t.Context())
	if err != nil || len(providers) == 0 {
		t.Fatalf("providers: %d, %v", len(providers), err)
	}
	return c, &chart{sb: sb, patient: clients[0].ID, provider: providers[0].ID}
}

func TestConformance(t *testing.T) {
	ehrtest.Run(t, newConn)
}

func TestValidate(t *testing.T) {
	sb := newSandbox(t)
	acct, err := sb.connect(t, spsandbox.SampleToken).Validate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if acct.Name != "Riverside Behavioral Health" || !strings.Contains(acct.User, "admin@riversidebh.example") || acct.Location != "" {
		t.Errorf("Validate = %+v", acct)
	}
}

func TestRevokedTokenNeedsReauthorization(t *testing.T) {
	sb := newSandbox(t)
	c := sb.connect(t, spsandbox.SampleToken)
	sb.srv.SetTokenRevoked(true)
	_, err := c.Validate(t.Context())
	var se *ehr.StatusError
	if !errors.Is(err, ehr.ErrReauthorize) || !errors.As(err, &se) || !strings.Contains(se.Message, "revoked") || se.Temporary() {
		t.Errorf("revoked token: %v, want ErrReauthorize naming the revocation", err)
	}
	sb.srv.SetTokenRevoked(false)
	if _, err := c.Validate(t.Context()); err != nil {
		t.Errorf("after the token works again: %v", err)
	}
}

func TestRosterUnsupportedFindClients(t *testing.T) {
	sb := newSandbox(t)
	c := sb.connect(t, spsandbox.SampleToken)
	if _, _, err := c.Roster(t.Context(), time.Time{}); !errors.Is(err, ehr.ErrUnsupported) {
		t.Errorf("Roster: %v, want ErrUnsupported", err)
	}
	got, err := c.FindClients(t.Context(), "Tanaka", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].FirstName != "Hiroshi" || got[0].DateOfBirth != "1978-11-23" || got[0].ID == "" {
		t.Errorf("FindClients(Tanaka) = %+v", got)
	}
	if got, err := c.FindClients(t.Context(), "Tanaka", "1999-01-01"); err != nil || len(got) != 0 {
		t.Errorf("FindClients with another birth date = %+v, %v; want none", got, err)
	}
	if _, err := c.FindClients(t.Context(), " ", ""); err == nil {
		t.Error("FindClients without a last name succeeded")
	}
	if _, err := c.FindClients(t.Context(), "Tanaka", "23/11/1978"); err == nil {
		t.Error("FindClients with a malformed birth date succeeded")
	}
}

func TestPushRefusedFieldsArePermanent(t *testing.T) {
	c, ch := newConn(t)
	n := ehr.Note{PatientID: "999999", ProviderID: ch.Provider(), VisitDate: "2026-03-02", Text: "x"}
	_, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "unknown-client"})
	var se *ehr.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnprocessableEntity || se.Temporary() || se.Fields["client_id"] == "" {
		t.Fatalf("unknown client: %v, want a permanent 422 naming client_id", err)
	}
	if !strings.Contains(err.Error(), "client_id") {
		t.Errorf("the error does not name the field: %v", err)
	}
}

func TestReplaceKeepsOneNote(t *testing.T) {
	c, ch := newConn(t)
	cc := ch.(*chart)
	n := ehr.Note{PatientID: ch.Patient(), ProviderID: ch.Provider(), VisitDate: "2026-03-02", Title: "DAP", Text: "first"}
	ref, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	n.Text = "second"
	opt := ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: ref, IdempotencyKey: "v2"}
	ref2, err := c.Push(t.Context(), n, opt)
	if err != nil {
		t.Fatal(err)
	}
	if ref2 != ref {
		t.Errorf("replace answered ref %q, want the replaced note %q", ref2, ref)
	}
	if again, err := c.Push(t.Context(), n, opt); err != nil || again != ref {
		t.Errorf("retried replace = %q, %v", again, err)
	}
	docs, err := cc.sb.srv.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Content != "second" || docs[0].Version != 2 || cc.sb.srv.EffectCount("v2") != 1 {
		t.Errorf("after a replace and its retry: %+v, effects %d; want one note, version 2", docs, cc.sb.srv.EffectCount("v2"))
	}
	_, err = c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: "424242", IdempotencyKey: "v3"})
	if !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("replace of a note that is gone: %v, want ErrNotFound", err)
	}
	if _, err := c.Confirm(t.Context(), "424242"); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("Confirm of a note that is gone: %v, want ErrNotFound", err)
	}
}

func TestLostReplyRetriedOnce(t *testing.T) {
	c, ch := newConn(t)
	cc := ch.(*chart)
	n := ehr.Note{PatientID: ch.Patient(), ProviderID: ch.Provider(), VisitDate: "2026-03-02", Text: "lost reply"}
	opt := ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "lost-1"}
	cc.sb.srv.Faults().SetLostReplyRate(1)
	if _, err := c.Push(t.Context(), n, opt); err == nil {
		t.Fatal("push succeeded though its reply was lost")
	}
	cc.sb.srv.Faults().SetLostReplyRate(0)
	if _, err := c.Push(t.Context(), n, opt); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := cc.sb.srv.EffectCount("lost-1"); got != 1 {
		t.Errorf("EffectCount = %d after a lost reply and a retry, want 1", got)
	}
}

func TestTransientErrors(t *testing.T) {
	sb := newSandbox(t)
	c := sb.connect(t, spsandbox.SampleToken)
	sb.srv.Faults().Burst429(1, 2*time.Second)
	_, err := c.Providers(t.Context())
	var se *ehr.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests || se.RetryAfter() != 2*time.Second || !se.Temporary() {
		t.Errorf("429: %v, want a temporary StatusError with RetryAfter 2s", err)
	}
	sb.srv.Faults().SetErrorRate(1)
	if _, err := c.Providers(t.Context()); !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || !se.Temporary() {
		t.Errorf("503: %v, want a temporary StatusError", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no token":       {BaseURL: "https://sp.example", Token: " "},
		"token w/ space": {BaseURL: "https://sp.example", Token: "a b"},
		"http remote":    {BaseURL: "http://sp.example", Token: "t"},
		"no host":        {BaseURL: "https://", Token: "t"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := New(Config{BaseURL: "http://127.0.0.1:1/sp/", Token: "t"}); err != nil {
		t.Errorf("loopback http: %v", err)
	}
}

func TestPushRejectsBadNote(t *testing.T) {
	c, ch := newConn(t)
	cc := ch.(*chart)
	base := ehr.Note{PatientID: ch.Patient(), ProviderID: ch.Provider(), VisitDate: "2026-03-02", Text: "text"}
	opt := ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "bad-note"}
	for name, edit := range map[string]func(*ehr.Note, *ehr.PushOptions){
		"patient text":  func(n *ehr.Note, o *ehr.PushOptions) { n.PatientID = "Jane Doe" },
		"provider text": func(n *ehr.Note, o *ehr.PushOptions) { n.ProviderID = "" },
		"visit date":    func(n *ehr.Note, o *ehr.PushOptions) { n.VisitDate = "03/02/2026" },
		"empty text":    func(n *ehr.Note, o *ehr.PushOptions) { n.Text = " " },
		"no key":        func(n *ehr.Note, o *ehr.PushOptions) { o.IdempotencyKey = "" },
		"content":       func(n *ehr.Note, o *ehr.PushOptions) { o.Content = "" },
		"previous ref":  func(n *ehr.Note, o *ehr.PushOptions) { o.Update, o.Previous = ehr.Replace, "note-7" },
	} {
		n, o := base, opt
		edit(&n, &o)
		if _, err := c.Push(t.Context(), n, o); err == nil {
			t.Errorf("%s: Push accepted it", name)
		}
	}
	if got := cc.sb.srv.EffectCount("bad-note"); got != 0 {
		t.Errorf("bad notes wrote %d notes", got)
	}
}

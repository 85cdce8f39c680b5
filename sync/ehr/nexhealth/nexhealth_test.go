package nexhealth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	nhsandbox "github.com/nextvisit/scribe/sync/sandbox/ehr/nexhealth"
)

// processingDelay is how long the sandbox keeps a document pending; Settle
// moves the clock past it.
const processingDelay = time.Minute

// clock is a settable clock shared by the sandbox and the connector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// counter counts the sandbox's requests by route and its 401 replies.
type counter struct {
	mu    sync.Mutex
	auths int
	calls int
	refus int
}

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		c.mu.Lock()
		defer c.mu.Unlock()
		if r.URL.Path == "/authenticates" {
			c.auths++
		} else {
			c.calls++
			if sw.status == http.StatusUnauthorized {
				c.refus++
			}
		}
	})
}

func (c *counter) get() (auths, calls, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.auths, c.calls, c.refus
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

// sandbox is a NexHealth model mounted on a test server.
type sandbox struct {
	srv   *nhsandbox.Server
	url   string
	clock *clock
	count *counter
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
	srv, err := nhsandbox.New(t.Context(), nhsandbox.Config{Dir: t.TempDir(), Now: clk.Now, ProcessingDelay: processingDelay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	cnt := &counter{}
	mux := http.NewServeMux()
	mux.Handle("/nexhealth/", http.StripPrefix("/nexhealth", cnt.wrap(srv.Handler())))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &sandbox{srv: srv, url: hs.URL + "/nexhealth", clock: clk, count: cnt}
}

func (s *sandbox) config() Config {
	return Config{BaseURL: s.url, APIKey: nhsandbox.SampleAPIKey, Subdomain: nhsandbox.SampleSubdomain,
		LocationID: strconv.Itoa(nhsandbox.SampleLocationID), Now: s.clock.Now}
}

func (s *sandbox) connect(t *testing.T, edit func(*Config)) *Connector {
	t.Helper()
	cfg := s.config()
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
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

func (c *chart) Patient() string            { return c.patient }
func (c *chart) Provider() string           { return c.provider }
func (c *chart) EffectCount(key string) int { return c.sb.srv.EffectCount(key) }

func (c *chart) Settle(ctx context.Context) error {
	c.sb.clock.Advance(processingDelay)
	return nil
}

func (c *chart) Documents(ctx context.Context) ([]ehrtest.Document, error) {
	docs, err := c.sb.srv.Documents(ctx)
	if err != nil {
		return nil, err
	}
	var out []ehrtest.Document
	for _, d := range docs {
		if d.Status == "failed" {
			continue // the health record system refused it: not in the chart
		}
		text, err := pdfText(d.Content)
		if err != nil {
			return nil, err
		}
		out = append(out, ehrtest.Document{PatientID: strconv.FormatInt(d.PatientID, 10),
			ProviderID: strconv.FormatInt(d.ProviderID, 10), VisitDate: d.VisitDate, Content: text})
	}
	return out, nil
}

func (c *chart) BadCredentials(t *testing.T) ehr.Connector {
	return c.sb.connect(t, func(cfg *Config) { cfg.APIKey = "nex_sandbox_not_the_key" })
}

// newConn is a fresh sandbox and a connection to it, with a patient and a
// provider of the location found through the connector.
func newConn(t *testing.T) (ehr.Connector, ehrtest.Chart) {
	sb := newSandbox(t)
	c := sb.connect(t, nil)
	patients, _, err := c.Roster(t.Context(), time.Time{})
	if err != nil || len(patients) == 0 {
		t.Fatalf("roster: %d patients, %v", len(patients), err)
	}
	providers, err := c.Providers(t.Context())
	if err != nil || len(providers) == 0 {
		t.Fatalf("providers: %d, %v", len(providers), err)
	}
	return c, &chart{sb: sb, patient: patients[0].ID, provider: providers[0].ID}
}

func TestConformance(t *testing.T) {
	ehrtest.Run(t, newConn)
}

func TestValidateNamesLocation(t *testing.T) {
	c := newSandbox(t).connect(t, nil)
	acct, err := c.Validate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if acct.Name != nhsandbox.SampleSubdomain || acct.Location != "Riverside Main" {
		t.Errorf("Validate = %+v, want the subdomain and the location's name", acct)
	}
	if got, want := c.Location(), nhsandbox.SampleSubdomain+"/"+strconv.Itoa(nhsandbox.SampleLocationID); got != want {
		t.Errorf("Location() = %q, want %q", got, want)
	}
}

func TestScopeErrors(t *testing.T) {
	sb := newSandbox(t)
	_, err := sb.connect(t, func(c *Config) { c.Subdomain = "someone-else" }).Validate(t.Context())
	if !errors.Is(err, ehr.ErrScope) {
		t.Errorf("foreign subdomain: %v, want ErrScope", err)
	}
	_, err = sb.connect(t, func(c *Config) { c.LocationID = "9999" }).Validate(t.Context())
	if !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("unknown location: %v, want ErrNotFound", err)
	}
	var se *ehr.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || se.Temporary() || se.Message == "" {
		t.Errorf("unknown location: %#v, want a permanent 404 StatusError with NexHealth's message", se)
	}
}

func TestProvidersPerLocation(t *testing.T) {
	sb := newSandbox(t)
	main, err := sb.connect(t, nil).Providers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	other, err := sb.connect(t, func(c *Config) { c.LocationID = strconv.Itoa(nhsandbox.OtherLocationID) }).Providers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ps []ehr.Provider) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			m[p.ID] = true
		}
		return m
	}
	if len(main) == 0 || len(other) == 0 {
		t.Fatalf("providers: main %d, other %d", len(main), len(other))
	}
	if a, b := ids(main), ids(other); len(a) == len(b) && func() bool {
		for id := range a {
			if !b[id] {
				return false
			}
		}
		return true
	}() {
		t.Errorf("both locations list the same providers %v; the location is not sent", a)
	}
}

func TestRosterSinceSeesEdit(t *testing.T) {
	sb := newSandbox(t)
	c := sb.connect(t, nil)
	all, next, err := c.Roster(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	sb.clock.Advance(time.Minute)
	edited, err := strconv.ParseInt(all[len(all)/2].ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.srv.EditPatient(t.Context(), edited, "+1 555 0100"); err != nil {
		t.Fatal(err)
	}
	changed, next2, err := c.Roster(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range changed {
		found = found || p.ID == all[len(all)/2].ID
	}
	if !found || len(changed) > 2 {
		t.Errorf("after editing patient %d, Roster(since) = %+v; want it and at most the boundary patient", edited, changed)
	}
	if !next2.Equal(sb.clock.Now()) {
		t.Errorf("next since = %v, want the edit's time %v", next2, sb.clock.Now())
	}
}

// The token is renewed before it expires, so no call is refused for an
// expired token.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	sb := newSandbox(t)
	sb.srv.SetTokenTTL(10 * time.Minute)
	c := sb.connect(t, nil)
	if _, err := c.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	sb.clock.Advance(8 * time.Minute)
	if _, err := c.Providers(t.Context()); err != nil {
		t.Fatal(err)
	}
	if auths, _, _ := sb.count.get(); auths != 1 {
		t.Errorf("%d authentications 8 minutes into a 10-minute token, want 1", auths)
	}
	sb.clock.Advance(90 * time.Second) // 9.5 min: inside the renewal margin, not yet expired
	if _, err := c.Providers(t.Context()); err != nil {
		t.Fatal(err)
	}
	auths, calls, refused := sb.count.get()
	if auths != 2 || refused != 0 {
		t.Errorf("near expiry: %d authentications, %d of %d calls refused; want 2 and none", auths, refused, calls)
	}
}

// A token the EHR refuses before the connector expected (clocks apart, a
// token revoked) is renewed once and the call sent again.
func TestRefusedTokenRenewed(t *testing.T) {
	sb := newSandbox(t)
	sb.srv.SetTokenTTL(time.Hour)
	own := &clock{t: sb.clock.Now()}
	c := sb.connect(t, func(cfg *Config) { cfg.Now = own.Now })
	if _, err := c.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	sb.clock.Advance(2 * time.Hour) // the EHR's clock runs ahead: the token has expired there
	if _, err := c.Providers(t.Context()); err != nil {
		t.Fatalf("Providers with a token the EHR refuses: %v", err)
	}
	if auths, _, refused := sb.count.get(); auths != 2 || refused != 1 {
		t.Errorf("%d authentications, %d refused calls; want 2 and 1", auths, refused)
	}
}

func TestPushPendingThenConfirmedOrFailed(t *testing.T) {
	c, ch := newConn(t)
	cc := ch.(*chart)
	n := testNote()
	n.PatientID, n.ProviderID = cc.patient, cc.provider
	ref, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "pend-1"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Confirm(t.Context(), ref); err != nil || st != ehr.Pending {
		t.Fatalf("Confirm right after the push = %q, %v; want pending", st, err)
	}
	cc.sb.clock.Advance(processingDelay)
	if st, err := c.Confirm(t.Context(), ref); err != nil || st != ehr.Confirmed {
		t.Fatalf("Confirm after processing = %q, %v; want confirmed", st, err)
	}

	cc.sb.srv.FailNextDocuments(1)
	ref, err = c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "fail-1"})
	if err != nil {
		t.Fatal(err)
	}
	cc.sb.clock.Advance(processingDelay)
	if st, err := c.Confirm(t.Context(), ref); err != nil || st != ehr.Failed {
		t.Fatalf("Confirm of a refused document = %q, %v; want failed", st, err)
	}
	if _, err := c.Confirm(t.Context(), ehr.Ref(cc.patient+"/999999")); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("Confirm of an unknown document: %v, want ErrNotFound", err)
	}
	if _, err := c.Confirm(t.Context(), "nonsense"); err == nil {
		t.Error("Confirm of a malformed reference succeeded")
	}
}

func TestReplaceUnsupported(t *testing.T) {
	c, ch := newConn(t)
	cc := ch.(*chart)
	n := testNote()
	n.PatientID, n.ProviderID = cc.patient, cc.provider
	ref, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, IdempotencyKey: "r-1"})
	if err != nil {
		t.Fatalf("first push under Replace: %v", err)
	}
	_, err = c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: ref, IdempotencyKey: "r-2"})
	if !errors.Is(err, ehr.ErrUnsupported) {
		t.Errorf("Replace of an earlier push: %v, want ErrUnsupported", err)
	}
	if got := cc.sb.srv.EffectCount("r-2"); got != 0 {
		t.Errorf("the refused replace wrote %d documents", got)
	}
}

func TestLostReplyRetriedOnce(t *testing.T) {
	c, ch := newConn(t)
	cc := ch.(*chart)
	n := testNote()
	n.PatientID, n.ProviderID = cc.patient, cc.provider
	opt := ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "lost-1"}
	cc.sb.srv.Faults().SetLostReplyRate(1)
	_, err := c.Push(t.Context(), n, opt)
	if err == nil {
		t.Fatal("push succeeded though its reply was lost")
	}
	if strings.Contains(err.Error(), "/patients/") {
		t.Errorf("the error carries the request URL, with the patient's id: %v", err)
	}
	cc.sb.srv.Faults().SetLostReplyRate(0)
	ref, err := c.Push(t.Context(), n, opt)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := cc.sb.srv.EffectCount("lost-1"); got != 1 {
		t.Errorf("EffectCount = %d after a lost reply and a retry, want 1", got)
	}
	if ref == "" {
		t.Error("empty ref")
	}
}

func TestTransientErrors(t *testing.T) {
	sb := newSandbox(t)
	c := sb.connect(t, nil)
	if _, err := c.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	sb.srv.Faults().Burst429(1, 3*time.Second)
	_, err := c.Providers(t.Context())
	var se *ehr.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests || se.RetryAfter() != 3*time.Second || !se.Temporary() {
		t.Errorf("429: %v (%#v), want a temporary StatusError with RetryAfter 3s", err, se)
	}
	sb.srv.Faults().SetErrorRate(1)
	_, err = c.Providers(t.Context())
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || !se.Temporary() {
		t.Errorf("503: %v, want a temporary StatusError", err)
	}
	sb.srv.Faults().SetErrorRate(0)
	sb.srv.SetWritesUp(false)
	st, err := c.SyncStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.WriteStatus != "red" || st.ReadStatus != "green" || st.LocationName != "Riverside Main" || st.ReadAt.IsZero() {
		t.Errorf("SyncStatus with writes down = %+v", st)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{BaseURL: "https://nexhealth.example", APIKey: "k", Subdomain: "s", LocationID: "1"}
	for name, edit := range map[string]func(*Config){
		"no key":          func(c *Config) { c.APIKey = " " },
		"key with space":  func(c *Config) { c.APIKey = "a b" },
		"no subdomain":    func(c *Config) { c.Subdomain = "" },
		"subdomain path":  func(c *Config) { c.Subdomain = "a/b" },
		"location text":   func(c *Config) { c.LocationID = "main" },
		"location zero":   func(c *Config) { c.LocationID = "0" },
		"http remote":     func(c *Config) { c.BaseURL = "http://nexhealth.example" },
		"not a URL":       func(c *Config) { c.BaseURL = "nexhealth" },
		"negative doc ty": func(c *Config) { c.DocumentTypeID = -1 },
	} {
		cfg := good
		edit(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := New(good); err != nil {
		t.Errorf("New(%+v): %v", good, err)
	}
}

func TestPushRejectsBadNote(t *testing.T) {
	c, ch := newConn(t)
	cc := ch.(*chart)
	base := testNote()
	base.PatientID, base.ProviderID = cc.patient, cc.provider
	opt := ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "bad-note"}
	for name, edit := range map[string]func(*ehr.Note, *ehr.PushOptions){
		"patient text":  func(n *ehr.Note, o *ehr.PushOptions) { n.PatientID = "Jane Doe" },
		"provider text": func(n *ehr.Note, o *ehr.PushOptions) { n.ProviderID = "dr-rivera" },
		"visit date":    func(n *ehr.Note, o *ehr.PushOptions) { n.VisitDate = "03/02/2026" },
		"empty text":    func(n *ehr.Note, o *ehr.PushOptions) { n.Text = " \n" },
		"no key":        func(n *ehr.Note, o *ehr.PushOptions) { o.IdempotencyKey = "" },
		"content":       func(n *ehr.Note, o *ehr.PushOptions) { o.Content = "everything" },
		"update":        func(n *ehr.Note, o *ehr.PushOptions) { o.Update = "merge" },
	} {
		n, o := base, opt
		edit(&n, &o)
		if _, err := c.Push(t.Context(), n, o); err == nil {
			t.Errorf("%s: Push accepted it", name)
		}
	}
	if got := cc.sb.srv.EffectCount("bad-note"); got != 0 {
		t.Errorf("bad notes wrote %d documents", got)
	}
	// A patient of another location is the EHR's to refuse.
	n := base
	n.PatientID = "999999"
	if _, err := c.Push(t.Context(), n, opt); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("unknown patient: %v, want ErrNotFound", err)
	}
}

// Callers at once on a fresh connection share one authentication.
func TestConcurrentCallersAuthenticateOnce(t *testing.T) {
	sb := newSandbox(t)
	c := sb.connect(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := c.Providers(t.Context())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if auths, calls, _ := sb.count.get(); auths != 1 || calls != 8 {
		t.Errorf("8 concurrent calls: %d authentications and %d calls, want 1 and 8", auths, calls)
	}
}

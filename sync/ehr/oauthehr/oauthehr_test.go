package oauthehr_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	"github.com/nextvisit/scribe/sync/ehr/oauthehr"
	"github.com/nextvisit/scribe/sync/ehr/oauthflow"
	"golang.org/x/oauth2"
)

var kinds = map[string]ehr.Kind{"Osmind": ehr.Osmind, "Kalix": ehr.Kalix}

// The sandbox seeds' first patient and provider of each EHR.
var (
	samplePatient  = map[string]string{"Osmind": "OSM-10001", "Kalix": "klx-pt-0101"}
	sampleProvider = map[string]string{"Osmind": "OSM-PR-501", "Kalix": "klx-prov-01"}
)

// authorize connects to e through the whole browser flow.
func authorize(t *testing.T, e *ehrtest.OAuthEHR, b *ehrtest.Browser) *oauth2.Token {
	t.Helper()
	md, err := oauthflow.Discover(t.Context(), nil, e.Issuer)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	tok, err := oauthflow.Authorize(t.Context(), oauthflow.Config{ClientID: ehrtest.ClientID, Scopes: oauthehr.Scopes,
		OpenBrowser: b.Open(t)}, md)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	return tok
}

func newConnector(t *testing.T, e *ehrtest.OAuthEHR, tok *oauth2.Token, mod func(*oauthehr.Config)) *oauthehr.Connector {
	t.Helper()
	cfg := oauthehr.Config{Kind: kinds[e.Name], Issuer: e.Issuer, APIBase: e.APIBase, ClientID: ehrtest.ClientID, Token: tok}
	if mod != nil {
		mod(&cfg)
	}
	c, err := oauthehr.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// chart is ehrtest.Chart over a sandbox EHR.
type chart struct {
	t *testing.T
	e *ehrtest.OAuthEHR
}

func (c chart) Patient() string  { return samplePatient[c.e.Name] }
func (c chart) Provider() string { return sampleProvider[c.e.Name] }

func (c chart) Documents(ctx context.Context) ([]ehrtest.Document, error) {
	all, err := c.e.Server.Documents(ctx)
	if err != nil {
		return nil, err
	}
	var out []ehrtest.Document
	for _, d := range all {
		if d.Current {
			out = append(out, ehrtest.Document{PatientID: d.PatientID, ProviderID: d.ProviderID, VisitDate: d.VisitDate, Content: d.Content})
		}
	}
	return out, nil
}

func (c chart) EffectCount(key string) int { return c.e.Server.EffectCount(key) }

func (c chart) Settle(context.Context) error { return nil } // writes land at once

func (c chart) BadCredentials(t *testing.T) ehr.Connector {
	return newConnector(t, c.e, &oauth2.Token{AccessToken: "not-a-token", RefreshToken: "not-a-refresh-token",
		Expiry: time.Now().Add(time.Hour)}, nil)
}

func TestConformance(t *testing.T) {
	for name := range kinds {
		t.Run(name, func(t *testing.T) {
			ehrtest.Run(t, func(t *testing.T) (ehr.Connector, ehrtest.Chart) {
				e := ehrtest.NewOAuthEHR(t, name, nil)
				return newConnector(t, e, authorize(t, e, e.Admin()), nil), chart{t: t, e: e}
			})
		})
	}
}

func sampleNote(name, text string) ehr.Note {
	return ehr.Note{PatientID: samplePatient[name], ProviderID: sampleProvider[name], VisitDate: "2026-03-02", Text: text}
}

func TestMissingScope(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Osmind", nil)
	b := e.Admin()
	b.Scopes = []string{"patients.read"} // the admin unticked "write notes"
	c := newConnector(t, e, authorize(t, e, b), nil)
	_, err := c.Validate(t.Context())
	if !errors.Is(err, ehr.ErrScope) || !strings.Contains(err.Error(), "notes.write") {
		t.Errorf("Validate without notes.write: %v, want ErrScope naming notes.write", err)
	}
	_, err = c.Push(t.Context(), sampleNote("Osmind", "scope"), ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "k1"})
	var se *ehr.StatusError
	if !errors.Is(err, ehr.ErrScope) || !errors.As(err, &se) || se.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "notes.write") {
		t.Errorf("Push without notes.write: %v, want ErrScope naming notes.write", err)
	}
	if _, err := c.Providers(t.Context()); err != nil {
		t.Errorf("Providers with patients.read: %v", err)
	}
}

func TestFaultsClassified(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Kalix", nil)
	c := newConnector(t, e, authorize(t, e, e.Admin()), nil)
	n := sampleNote("Kalix", "faults")
	opt := ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "faulty-1"}

	e.Server.Faults().Burst429(1, 3*time.Second)
	_, err := c.Push(t.Context(), n, opt)
	var se *ehr.StatusError
	if !errors.As(err, &se) || se.HTTPStatus() != http.StatusTooManyRequests || se.RetryAfter() != 3*time.Second || !se.Temporary() {
		t.Fatalf("Push during a 429 burst: %v, want a temporary StatusError 429 with RetryAfter 3s", err)
	}
	e.Server.Faults().SetErrorRate(1)
	_, err = c.Push(t.Context(), n, opt)
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || !se.Temporary() || errors.Is(err, ehr.ErrReauthorize) {
		t.Fatalf("Push during 503s: %v, want a temporary StatusError 503", err)
	}
	e.Server.Faults().Reset()
	ref, err := c.Push(t.Context(), n, opt)
	if err != nil {
		t.Fatalf("Push once the EHR is back: %v", err)
	}
	again, err := c.Push(t.Context(), n, opt)
	if err != nil || again != ref || e.Server.EffectCount("faulty-1") != 1 {
		t.Errorf("retry after success: %v ref %q (first %q), %d effects; want the same ref and one effect", err, again, ref, e.Server.EffectCount("faulty-1"))
	}
}

func TestRefusals(t *testing.T) {
	e := ehrtest.NewOAuthEHR(t, "Osmind", nil)
	c := newConnector(t, e, authorize(t, e, e.Admin()), nil)
	n := sampleNote("Osmind", "refusals")
	var se *ehr.StatusError

	unknown := n
	unknown.PatientID = "OSM-99999"
	if _, err := c.Push(t.Context(), unknown, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "r1"}); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("Push to an unknown patient: %v, want ErrNotFound", err)
	}
	badProvider := n
	badProvider.ProviderID = "klx-prov-01"
	_, err := c.Push(t.Context(), badProvider, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "r2"})
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnprocessableEntity || se.Temporary() || !strings.Contains(err.Error(), "provider") {
		t.Errorf("Push with another EHR's provider: %v, want a permanent 422 naming the provider", err)
	}
	if _, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append}); err == nil || !strings.Contains(err.Error(), "idempotency key") {
		t.Errorf("Push without a key: %v", err)
	}
	ref, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "r3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, prev := range []ehr.Ref{"garbage", "OSM-10001/0"} {
		if _, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: prev, IdempotencyKey: "r4"}); err == nil || !strings.Contains(err.Error(), "not a reference") {
			t.Errorf("Replace of %q: %v, want a bad-reference error", prev, err)
		}
	}
	other := n
	other.PatientID = "OSM-10002"
	if _, err := c.Push(t.Context(), other, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: ref, IdempotencyKey: "r5"}); err == nil || !strings.Contains(err.Error(), "patient") {
		t.Errorf("Replace across patients: %v", err)
	}
	if _, err := c.Push(t.Context(), n, ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Replace, Previous: "OSM-10001/999", IdempotencyKey: "r6"}); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("Replace of a missing note: %v, want ErrNotFound", err)
	}
	if _, err := c.Confirm(t.Context(), "OSM-10001/999"); !errors.Is(err, ehr.ErrNotFound) {
		t.Errorf("Confirm of a missing note: %v, want ErrNotFound", err)
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestTokenLifecycle: a token the EHR's clock has expired is refreshed on the
// 401 and the push goes through once; a token the app's clock sees expiring
// is refreshed before the request; a refresh token past its life means
// re-authorization, and pushes are not failed but refused with
// ErrReauthorize.
func TestTokenLifecycle(t *testing.T) {
	ehrClock := &clock{t: time.Now()}
	e := ehrtest.NewOAuthEHR(t, "Kalix", ehrClock.now)
	tok := authorize(t, e, e.Admin())
	appClock := &clock{t: time.Now()}
	var mu sync.Mutex
	var stored []string
	c := newConnector(t, e, tok, func(cfg *oauthehr.Config) {
		cfg.Now = appClock.now
		cfg.OnToken = func(_ context.Context, tok *oauth2.Token) {
			mu.Lock()
			defer mu.Unlock()
			stored = append(stored, tok.RefreshToken)
		}
	})
	refreshes := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(stored)
	}

	ehrClock.advance(2 * time.Hour) // the EHR sees the access token expired; the app does not
	if _, err := c.Push(t.Context(), sampleNote("Kalix", "after expiry"), ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "life-1"}); err != nil {
		t.Fatalf("Push with a token the EHR expired: %v", err)
	}
	if refreshes() != 1 || e.Server.EffectCount("life-1") != 1 {
		t.Fatalf("%d refreshes, %d effects; want 1 and 1", refreshes(), e.Server.EffectCount("life-1"))
	}

	appClock.advance(59*time.Minute + 30*time.Second) // the app sees 30 s left: refresh first
	if _, err := c.Providers(t.Context()); err != nil || refreshes() != 2 {
		t.Fatalf("Providers near expiry: %v, %d refreshes; want 2", err, refreshes())
	}

	ehrClock.advance(31 * 24 * time.Hour) // the refresh token is past its life too
	_, err := c.Push(t.Context(), sampleNote("Kalix", "grant gone"), ehr.PushOptions{Content: ehr.NoteOnly, Update: ehr.Append, IdempotencyKey: "life-2"})
	if !errors.Is(err, ehr.ErrReauthorize) {
		t.Fatalf("Push after the grant lapsed: %v, want ErrReauthorize", err)
	}
	if e.Server.EffectCount("life-2") != 0 {
		t.Errorf("a push without a valid grant landed")
	}
}

func TestNewChecksConfig(t *testing.T) {
	good := oauthehr.Config{Kind: ehr.Osmind, Issuer: "https://e.example/osmind", APIBase: "https://e.example/osmind/api",
		ClientID: "c", Token: &oauth2.Token{AccessToken: "a"}}
	for _, tc := range []struct {
		mod  func(*oauthehr.Config)
		want string
	}{
		{func(c *oauthehr.Config) { c.Kind = ehr.NexHealth }, "not an OAuth EHR"},
		{func(c *oauthehr.Config) { c.Issuer = "" }, "Config.Issuer"},
		{func(c *oauthehr.Config) { c.APIBase = "ftp://x" }, "Config.APIBase"},
		{func(c *oauthehr.Config) { c.ClientID = "" }, "ClientID"},
		{func(c *oauthehr.Config) { c.Token = nil }, "connect to osmind first"},
	} {
		cfg := good
		tc.mod(&cfg)
		if _, err := oauthehr.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want an error naming %q", err, tc.want)
		}
	}
	if _, err := oauthehr.New(good); err != nil {
		t.Errorf("New(good): %v", err)
	}
}

// TestConcurrentRefreshOnce: many requests find the access token expired at
// once; the rotating refresh token is used once, and every request succeeds.
func TestConcurrentRefreshOnce(t *testing.T) {
	ehrClock := &clock{t: time.Now()}
	e := ehrtest.NewOAuthEHR(t, "Osmind", ehrClock.now)
	var mu sync.Mutex
	refreshes := 0
	c := newConnector(t, e, authorize(t, e, e.Admin()), func(cfg *oauthehr.Config) {
		cfg.OnToken = func(context.Context, *oauth2.Token) {
			mu.Lock()
			defer mu.Unlock()
			refreshes++
		}
	})
	ehrClock.advance(2 * time.Hour)
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
			t.Errorf("Providers: %v", err)
		}
	}
	if refreshes != 1 {
		t.Errorf("%d refreshes, want 1", refreshes)
	}
}

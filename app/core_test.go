package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// logBuffer collects a Core's log so tests can check what it never says.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// noneIn fails the test if the log holds any of the needles.
func (b *logBuffer) noneIn(t *testing.T, needles ...string) {
	t.Helper()
	log := b.String()
	for _, n := range needles {
		if n != "" && strings.Contains(log, n) {
			t.Errorf("the log contains %q:\n%s", n, log)
		}
	}
}

type profile struct {
	dir   string
	vault *platform.FileVault
	log   *logBuffer
	// attempts is Config.MaxAttempts: 1 where a test takes the server
	// away, so that the client does not retry the refused connections.
	attempts int
}

func newProfile(t *testing.T) *profile {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profile")
	vault, err := platform.NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &profile{dir: dir, vault: vault, log: &logBuffer{}}
}

// open opens a Core on the profile, as a fresh start of Scribe would.
func (p *profile) open(t *testing.T, embedded string) *app.Core {
	t.Helper()
	c, err := app.Open(t.Context(), app.Config{
		ProfileDir:     p.dir,
		Secrets:        p.vault,
		Logger:         slog.New(slog.NewTextHandler(p.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		EmbeddedServer: embedded,
		MaxAttempts:    p.attempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serve runs c's outbox until the test ends (stopped before c closes).
func serve(t *testing.T, c *app.Core) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func startSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err := srv.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return srv, url
}

func signIn(t *testing.T, c *app.Core, url string) api.User {
	t.Helper()
	u, err := c.SignIn(t.Context(), url, sandbox.SampleEmail, sandbox.SamplePassword)
	if err != nil {
		t.Fatalf("sign in: %v (%s)", err, app.Explain(err))
	}
	return u
}

const tokenPrefix = "nextvisit-token:"

func TestSignInResumeSignOut(t *testing.T) {
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	if c.Server() != "" || c.LastEmail() != "" {
		t.Errorf("fresh profile: Server %q, LastEmail %q; want both empty", c.Server(), c.LastEmail())
	}
	if _, err := c.Resume(t.Context()); !errors.Is(err, app.ErrSignedOut) {
		t.Errorf("Resume on a fresh profile: %v, want ErrSignedOut", err)
	}

	u, err := c.SignIn(t.Context(), url+"/", "  "+sandbox.SampleEmail+" ", sandbox.SamplePassword)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if u.Email != sandbox.SampleEmail || u.Name == "" {
		t.Errorf("user = %+v", u)
	}
	if got, ok := c.User(); !ok || got.Id != u.Id {
		t.Errorf("User() = %+v, %v", got, ok)
	}
	if c.Server() != url || c.LastEmail() != sandbox.SampleEmail {
		t.Errorf("Server %q LastEmail %q; want %q and %q", c.Server(), c.LastEmail(), url, sandbox.SampleEmail)
	}
	token, err := p.vault.Get(t.Context(), tokenPrefix+url)
	if err != nil || token == "" {
		t.Fatalf("token in the vault: %q, %v", token, err)
	}

	// A new start of Scribe on the same profile resumes the session.
	c2 := p.open(t, "")
	if c2.Server() != url || c2.LastEmail() != sandbox.SampleEmail {
		t.Errorf("reopened: Server %q LastEmail %q", c2.Server(), c2.LastEmail())
	}
	if _, ok := c2.User(); ok {
		t.Error("a reopened Core has a user before Resume")
	}
	u2, err := c2.Resume(t.Context())
	if err != nil || u2.Id != u.Id {
		t.Fatalf("Resume = %+v, %v", u2, err)
	}

	if err := c2.SignOut(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.User(); ok {
		t.Error("User() still set after SignOut")
	}
	if _, err := p.vault.Get(t.Context(), tokenPrefix+url); !errors.Is(err, platform.ErrSecretNotFound) {
		t.Errorf("token after SignOut: %v, want ErrSecretNotFound", err)
	}
	// Revoked at the server too.
	client, err := api.New(url, api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.User(t.Context()); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("old token after SignOut: %v, want ErrUnauthorized", err)
	}
	if _, err := c2.Resume(t.Context()); !errors.Is(err, app.ErrSignedOut) {
		t.Errorf("Resume after SignOut: %v, want ErrSignedOut", err)
	}
	if _, err := c2.Patients(t.Context(), "", 1, 0); !errors.Is(err, app.ErrSignedOut) {
		t.Errorf("Patients after SignOut: %v, want ErrSignedOut", err)
	}
	if err := c2.SignOut(t.Context()); err != nil {
		t.Errorf("second SignOut: %v", err)
	}
	// The server is still remembered for the next sign-in.
	if c2.Server() != url {
		t.Errorf("Server after SignOut = %q, want %q", c2.Server(), url)
	}
	p.log.noneIn(t, sandbox.SamplePassword+" ", "password="+sandbox.SamplePassword, token)
}

// SignOut works from a Core that never resumed (the CLI's `scribe logout`).
func TestSignOutWithoutResume(t *testing.T) {
	_, url := startSandbox(t)
	p := newProfile(t)
	signIn(t, p.open(t, ""), url)
	token, err := p.vault.Get(t.Context(), tokenPrefix+url)
	if err != nil {
		t.Fatal(err)
	}
	c := p.open(t, "")
	if err := c.SignOut(t.Context()); err != nil {
		t.Fatal(err)
	}
	client, err := api.New(url, api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.User(t.Context()); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("token after SignOut: %v, want ErrUnauthorized (revoked)", err)
	}
}

// SignOut forgets the token even when the server cannot be told.
func TestSignOutServerGone(t *testing.T) {
	srv, url := startSandbox(t)
	p := newProfile(t)
	p.attempts = 1
	c := p.open(t, "")
	signIn(t, c, url)
	srv.Close()
	if err := c.SignOut(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.vault.Get(t.Context(), tokenPrefix+url); !errors.Is(err, platform.ErrSecretNotFound) {
		t.Errorf("token after SignOut with the server gone: %v, want ErrSecretNotFound", err)
	}
	if !strings.Contains(p.log.String(), "could not revoke") {
		t.Errorf("the failed revocation is not logged:\n%s", p.log)
	}
}

func TestSignInWrongPassword(t *testing.T) {
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	_, err := c.SignIn(t.Context(), url, sandbox.SampleEmail, "not-the-password")
	if !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if got, want := app.Explain(err), "Wrong email or password — check them and try again."; got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
	if _, ok := c.User(); ok {
		t.Error("User() set after a failed sign-in")
	}
	if _, err := p.vault.Get(t.Context(), tokenPrefix+url); !errors.Is(err, platform.ErrSecretNotFound) {
		t.Errorf("a token was stored after a failed sign-in: %v", err)
	}
	if c.Server() != "" {
		t.Errorf("a failed sign-in remembered the server %q", c.Server())
	}
	p.log.noneIn(t, "not-the-password")
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSignInUnreachable(t *testing.T) {
	addr := closedPort(t)
	c := newProfile(t).open(t, "")
	_, err := c.SignIn(t.Context(), "http://"+addr+"/api", sandbox.SampleEmail, sandbox.SamplePassword)
	if !errors.Is(err, api.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	want := "Cannot reach " + addr + " — check your internet connection or the server address."
	if got := app.Explain(err); got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
}

func TestSignInMalformedJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"token": "abc", "expires_at": [1, 2`)
	}))
	defer srv.Close()
	c := newProfile(t).open(t, "")
	_, err := c.SignIn(t.Context(), srv.URL+"/api", sandbox.SampleEmail, sandbox.SamplePassword)
	if !errors.Is(err, api.ErrBadResponse) {
		t.Fatalf("err = %v, want ErrBadResponse", err)
	}
	want := "The server sent a response Scribe cannot read — try again later; if it persists, contact support."
	if got := app.Explain(err); got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
}

func TestSignInHugeErrorBody(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{
		{http.StatusUnauthorized, "Wrong email or password — check them and try again."},
		{http.StatusBadRequest, "answered 400 Bad Request"},
		{http.StatusUnprocessableEntity, "did not accept the details"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			chunk := bytes.Repeat([]byte(`{"message":"x"}`), 1<<16) // ~1 MB, not valid JSON as a whole
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				for range 10 {
					if _, err := w.Write(chunk); err != nil {
						return // the client stopped reading, as it should
					}
				}
			}))
			defer srv.Close()
			c := newProfile(t).open(t, "")
			_, err := c.SignIn(t.Context(), srv.URL+"/api", sandbox.SampleEmail, sandbox.SamplePassword)
			if err == nil {
				t.Fatal("sign-in succeeded")
			}
			got := app.Explain(err)
			if !strings.Contains(got, tc.want) {
				t.Errorf("Explain = %q, want it to contain %q", got, tc.want)
			}
			if len(got) > 400 {
				t.Errorf("Explain is %d bytes long; the body leaked into it: %.200q…", len(got), got)
			}
		})
	}
}

// Bad input is refused with a clear message and nothing is sent.
func TestSignInBadInput(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	defer srv.Close()
	good := srv.URL + "/api"
	c := newProfile(t).open(t, "")
	for _, tc := range []struct {
		name, server, email, password, want string
	}{
		{"not a URL", "notaurl", "a@b.example", "pw", `"notaurl" is not a URL`},
		{"empty URL", " ", "a@b.example", "pw", "The server URL is empty"},
		{"ftp", "ftp://example.com/api", "a@b.example", "pw", "only https:// and http://"},
		{"credentials in URL", "https://user:secretpw@example.com/api", "a@b.example", "pw", "must not contain a user name or password"},
		{"empty email", good, "", "pw", "The email address is empty"},
		{"bad email", good, "clinician", "pw", `"clinician" is not an email address`},
		{"display name", good, "Sam <a@b.example>", "pw", "is not an email address"},
		{"empty password", good, "a@b.example", "", "The password is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SignIn(t.Context(), tc.server, tc.email, tc.password)
			if err == nil {
				t.Fatal("accepted")
			}
			got := app.Explain(err)
			if !strings.Contains(got, tc.want) {
				t.Errorf("Explain = %q, want it to contain %q", got, tc.want)
			}
			if strings.Contains(got, "secretpw") {
				t.Errorf("Explain leaks the URL's password: %q", got)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests for refused input", n)
	}
}

// A token the server stops accepting ends the session and is forgotten.
func TestRejectedTokenEndsSession(t *testing.T) {
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	signIn(t, c, url)
	token, err := p.vault.Get(t.Context(), tokenPrefix+url)
	if err != nil {
		t.Fatal(err)
	}
	// Revoke it behind the Core's back (as signing out elsewhere would).
	other, err := api.New(url, api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Logout(t.Context()); err != nil {
		t.Fatal(err)
	}

	_, err = c.Patients(t.Context(), "", 1, 0)
	if !errors.Is(err, api.ErrUnauthorized) || !errors.Is(err, app.ErrSignedOut) {
		t.Fatalf("err = %v, want ErrUnauthorized and ErrSignedOut", err)
	}
	if got, want := app.Explain(err), "Your session has ended — sign in again."; got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
	if _, ok := c.User(); ok {
		t.Error("User() still set")
	}
	if _, err := p.vault.Get(t.Context(), tokenPrefix+url); !errors.Is(err, platform.ErrSecretNotFound) {
		t.Errorf("rejected token still stored: %v", err)
	}

	// Resume with a token the server rejects: ErrSignedOut, token forgotten.
	if err := p.vault.Set(t.Context(), tokenPrefix+url, token); err != nil {
		t.Fatal(err)
	}
	c2 := p.open(t, "")
	if _, err := c2.Resume(t.Context()); !errors.Is(err, app.ErrSignedOut) {
		t.Errorf("Resume with a revoked token: %v, want ErrSignedOut", err)
	}
	if _, err := p.vault.Get(t.Context(), tokenPrefix+url); !errors.Is(err, platform.ErrSecretNotFound) {
		t.Errorf("Resume kept a rejected token: %v", err)
	}
}

// Sessions on the embedded sandbox live in memory only: its port changes
// every run.
func TestEmbeddedServerNotRemembered(t *testing.T) {
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, url)
	signIn(t, c, url)
	if c.Server() != url {
		t.Errorf("Server = %q, want %q during the run", c.Server(), url)
	}
	if _, err := c.Patients(t.Context(), "", 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.vault.Get(t.Context(), tokenPrefix+url); !errors.Is(err, platform.ErrSecretNotFound) {
		t.Errorf("the embedded sandbox's token went to the vault: %v", err)
	}
	c2 := p.open(t, "")
	if c2.Server() != "" || c2.LastEmail() != "" {
		t.Errorf("next run: Server %q LastEmail %q; want both empty", c2.Server(), c2.LastEmail())
	}
	if err := c.SignOut(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestUseServer(t *testing.T) {
	_, url := startSandbox(t)
	p := newProfile(t)
	c := p.open(t, "")
	signIn(t, c, url)

	if err := c.UseServer("not a url"); err == nil || !strings.Contains(app.Explain(err), "is not a URL") {
		t.Errorf("UseServer(bad) = %v", err)
	}
	if c.Server() != url {
		t.Errorf("a refused UseServer changed the server to %q", c.Server())
	}
	if err := c.UseServer(url + "/"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.User(); !ok {
		t.Error("UseServer of the same server ended the session")
	}
	other := "http://" + closedPort(t) + "/api"
	if err := c.UseServer(other); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.User(); ok {
		t.Error("switching servers kept the session")
	}
	if _, err := c.Resume(t.Context()); !errors.Is(err, app.ErrSignedOut) {
		t.Errorf("Resume on a server never signed in to: %v, want ErrSignedOut", err)
	}
	// The first server's token is still there.
	if err := c.UseServer(url); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resume(t.Context()); err != nil {
		t.Errorf("Resume back on the first server: %v", err)
	}
}

package app

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// A request of an old session that fails with 401 after the clinician
// signed in again must not end the new session or remove its token.
func TestLateRejectionKeepsNewSession(t *testing.T) {
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: t.TempDir(), ProcessingDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url, err := srv.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "profile")
	vault, err := platform.NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(t.Context(), Config{ProfileDir: dir, Secrets: vault})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if _, err := c.SignIn(t.Context(), url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	old, err := c.current()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignIn(t.Context(), url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	fresh, err := c.current()
	if err != nil || fresh == old || fresh.token == old.token {
		t.Fatalf("second sign-in did not make a new session: %v", err)
	}

	// Signing in again revoked the replaced token at the server.
	if _, err := old.client.User(t.Context()); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("the replaced token still works: %v", err)
	}

	c.failed(t.Context(), old, "list patients", fmt.Errorf("late: %w", api.ErrUnauthorized))

	if s, err := c.current(); err != nil || s != fresh {
		t.Errorf("the new session ended: %v", err)
	}
	if got, err := vault.Get(t.Context(), tokenKey(url)); err != nil || got != fresh.token {
		t.Errorf("stored token = %q, %v; want the new session's", got, err)
	}

	// The same rejection of the current session does end it.
	c.failed(t.Context(), fresh, "list patients", fmt.Errorf("now: %w", api.ErrUnauthorized))
	if _, err := c.current(); err == nil {
		t.Error("a rejected current session is still signed in")
	}
	if _, err := vault.Get(t.Context(), tokenKey(url)); err == nil {
		t.Error("a rejected current token is still stored")
	}
}

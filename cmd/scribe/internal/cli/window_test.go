package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// shown records what the window would have been given.
type shown struct {
	signedIn bool
	user     string
	server   string
	servers  []app.Server
}

func (u *user) captureWindow(got *shown) {
	u.opts.OpenWindow = func(ctx context.Context, w Window) error {
		usr, ok := w.Core.User()
		*got = shown{signedIn: ok, user: usr.Email, server: w.Core.Server(), servers: w.Servers}
		w.Logger.Info("window shown")
		return nil
	}
}

func TestWindowOnEmbeddedSandbox(t *testing.T) {
	u := newUser(t)
	var got shown
	u.captureWindow(&got)
	r := u.run("", "--sandbox").ok(t)
	if !got.signedIn || got.user != sandbox.SampleEmail {
		t.Errorf("window opened signed in %v as %q, want the sample clinician", got.signedIn, got.user)
	}
	if len(got.servers) != 1 || got.servers[0].Name != "Sandbox" || got.servers[0].URL != got.server {
		t.Errorf("servers %+v, want Sandbox at %s", got.servers, got.server)
	}
	if !strings.Contains(r.stderr, "sandbox running at "+got.server) {
		t.Errorf("stderr %q does not give the sandbox's URL", r.stderr)
	}

	log := filepath.Join(u.profile, "logs", "scribe.log")
	fi, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %o, want 600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "window shown") {
		t.Errorf("log file:\n%s", b)
	}
}

func TestWindowResumesStoredSession(t *testing.T) {
	_, url := testSandbox(t)
	u := newUser(t)
	var got shown
	u.captureWindow(&got)

	u.run("").ok(t)
	if got.signedIn || got.server != api.ProductionURL {
		t.Errorf("fresh profile: %+v, want the sign-in window", got)
	}

	login(t, u, url)
	u.run("").ok(t)
	if !got.signedIn || got.user != sandbox.SampleEmail || got.server != url || len(got.servers) != 0 {
		t.Errorf("after login: %+v, want the main window on %s", got, url)
	}

	u.run("", "logout").ok(t)
	u.run("").ok(t)
	if got.signedIn || got.server != url {
		t.Errorf("after logout: %+v, want the sign-in window offering %s", got, url)
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/internal/logs"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

const defaultServerText = api.ProductionURL

// globals are the flags every command takes.
type globals struct {
	server  string
	profile string
	sandbox bool
	verbose bool
}

// env is one run of the command line.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	opts           Options
	g              globals
	// window is set when the window opens the profile: it offers
	// interrupted recordings itself, so openProfile leaves them to it.
	window bool
}

// serverHint repeats --server for a suggested command line.
func (e *env) serverHint() string {
	if e.g.server == "" {
		return ""
	}
	return " --server " + e.g.server
}

// profileDir is --profile or the per-user default.
func (e *env) profileDir() (string, error) {
	if e.g.profile != "" {
		return filepath.Abs(e.g.profile)
	}
	return platform.DefaultProfileDir()
}

// stderrLog is the commands' logger: warnings only, everything with -v;
// redacted like the log file, since terminals get pasted into tickets.
func (e *env) stderrLog(level slog.Level) *slog.Logger {
	if e.g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(logs.NewHandler(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})))
}

// profile is an opened profile and the server chosen for this run.
type profile struct {
	dir     string
	core    *app.Core
	server  string
	sandbox *sandbox.Server // when --sandbox
}

func (p *profile) Close() error {
	err := p.core.Close()
	if p.sandbox != nil {
		err = errors.Join(err, p.sandbox.Close())
	}
	return err
}

// openProfile opens the profile and picks the server: the embedded sandbox
// with --sandbox, else --server, else the last one used, else production.
func (e *env) openProfile(ctx context.Context, log *slog.Logger) (*profile, error) {
	if e.g.sandbox && e.g.server != "" {
		return nil, usageErr(mainUsage, "--sandbox and --server both choose the server; give one of them")
	}
	dir, err := e.profileDir()
	if err != nil {
		return nil, err
	}
	if err := platform.EnsureDir(dir); err != nil {
		return nil, err
	}
	service, err := platform.KeyringService(dir)
	if err != nil {
		return nil, err
	}
	secrets, err := platform.OpenSecrets(ctx, dir, service, log)
	if err != nil {
		return nil, err
	}
	p := &profile{dir: dir}
	if e.g.sandbox {
		if p.sandbox, p.server, err = startSandbox(ctx, sandbox.Config{Dir: filepath.Join(dir, "sandbox"), Logger: log.With("component", "sandbox")}, "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	p.core, err = app.Open(ctx, app.Config{ProfileDir: dir, Logger: log, Secrets: secrets, EmbeddedServer: p.server})
	if err != nil {
		if p.sandbox != nil {
			p.sandbox.Close()
		}
		return nil, err
	}
	switch {
	case p.server != "":
	case e.g.server != "":
		p.server = e.g.server
	case p.core.Server() != "":
		p.server = p.core.Server()
	default:
		p.server = api.ProductionURL
	}
	if err := p.core.UseServer(p.server); err != nil {
		p.Close()
		return nil, err
	}
	p.server = p.core.Server() // normalized
	if !e.window {
		e.recoverEncounters(ctx, p.core)
	}
	return p, nil
}

// startSandbox starts a sandbox server on addr and returns its base URL.
func startSandbox(ctx context.Context, cfg sandbox.Config, addr string) (*sandbox.Server, string, error) {
	srv, err := sandbox.New(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	url, err := srv.Start(ctx, addr)
	if err != nil {
		srv.Close()
		return nil, "", err
	}
	return srv, url, nil
}

// signedIn opens the profile with a session: the stored one, or on the
// embedded sandbox a fresh sign-in as the sample clinician.
func (e *env) signedIn(ctx context.Context) (*profile, error) {
	p, err := e.openProfile(ctx, e.stderrLog(slog.LevelWarn))
	if err != nil {
		return nil, err
	}
	if p.sandbox != nil {
		_, err = p.core.SignIn(ctx, p.server, sandbox.SampleEmail, sandbox.SamplePassword)
	} else {
		_, err = p.core.Resume(ctx)
		if errors.Is(err, app.ErrOffline) {
			// The command says so when it answers from kept data.
			err = nil
		}
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// openWithSession opens the profile and starts the stored session if
// there is one (with --sandbox, signs in as the sample clinician), for
// commands that work signed out but stream or send when someone is signed
// in. Signed out or offline is not an error: the work waits on this
// computer. Any other failure to resume is reported and the command goes
// on without a session.
func (e *env) openWithSession(ctx context.Context) (*profile, error) {
	p, err := e.openLocal(ctx)
	if err != nil {
		return nil, err
	}
	if p.sandbox != nil {
		_, err = p.core.SignIn(ctx, p.server, sandbox.SampleEmail, sandbox.SamplePassword)
	} else {
		_, err = p.core.Resume(ctx)
	}
	switch {
	case err == nil, errors.Is(err, app.ErrOffline), errors.Is(err, app.ErrSignedOut):
	case ctx.Err() != nil:
		p.Close()
		return nil, ctx.Err()
	default:
		fmt.Fprintf(e.stderr, "scribe: %s\nscribe: going on without a session; what this command makes is kept on this computer.\n", app.Explain(err))
	}
	return p, nil
}

// warnOffline tells the user that an answer comes from this computer.
func (e *env) warnOffline(err error, what string) {
	fmt.Fprintf(e.stderr, "scribe: %s\nscribe: showing %s kept on this computer.\n", app.Explain(err), what)
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/internal/logs"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// resumeTimeout bounds the check of a stored session before the window
// opens: on a network that swallows packets, the sign-in window (or the
// offline session) should come up rather than nothing.
const resumeTimeout = 10 * time.Second

// runWindow opens the profile, picks up its session (or, with --sandbox,
// signs in to the embedded sandbox) and shows the window.
func (e *env) runWindow(ctx context.Context) error {
	if e.opts.OpenWindow == nil {
		return usageErr(mainUsage, "this build of scribe has no window; give a command")
	}
	dir, err := e.profileDir()
	if err != nil {
		return err
	}
	log, logFile, err := e.openLogFile(dir)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log.Info("starting Scribe", "version", e.version(), "profile", dir)

	e.window = true
	p, err := e.openProfile(ctx, log)
	if err != nil {
		return err
	}
	defer p.Close()
	var servers []app.Server
	if p.sandbox != nil {
		servers = append(servers, app.Server{Name: "Sandbox", URL: p.server})
		fmt.Fprintf(e.stderr, "scribe: sandbox running at %s (sign in as %s / %s)\n", p.server, sandbox.SampleEmail, sandbox.SamplePassword)
		if _, err := p.core.SignIn(ctx, p.server, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
			log.Warn("could not sign in to the embedded sandbox; showing the sign-in window", "error", err)
		}
	} else {
		rctx, cancel := context.WithTimeout(ctx, resumeTimeout)
		_, err := p.core.Resume(rctx)
		cancel()
		switch {
		case err == nil, errors.Is(err, app.ErrOffline):
		case errors.Is(err, app.ErrSignedOut):
			log.Info("no session to resume; showing the sign-in window")
		default:
			log.Warn("could not resume the session; showing the sign-in window", "error", err)
		}
	}
	err = e.opts.OpenWindow(ctx, Window{Core: p.core, Servers: servers, Logger: log})
	log.Info("Scribe stopped", "error", err)
	return err
}

// openLogFile opens <profile>/logs/scribe.log (0600, folder 0700, rotated
// by size) for appending and returns a logger writing to it through the
// redacting handler, so no secret or patient data reaches the file.
func (e *env) openLogFile(profile string) (*slog.Logger, *logs.RotatingFile, error) {
	f, err := logs.OpenFile(filepath.Join(profile, "logs"), logs.RotateOptions{})
	if err != nil {
		return nil, nil, err
	}
	level := slog.LevelInfo
	if e.g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(logs.NewHandler(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level}))), f, nil
}

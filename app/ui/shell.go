// Package ui is Scribe's Fyne front end: the sign-in window, the main window
// and its screens. It is the only package that imports Fyne; everything it
// does goes through app.Core, so the command line can do the same.
//
// Each screen is one struct holding its widgets, with callbacks as method
// values. Work that may block (network, disk) runs through the bridge
// (bridge.go), which hands results back on the UI goroutine.
package ui

import (
	"context"
	"log/slog"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

// Options configure the shell.
type Options struct {
	// Servers are offered on the sign-in screen after Production and Beta,
	// e.g. the embedded sandbox.
	Servers []app.Server
	// Logger receives UI-level events; nil discards them.
	Logger *slog.Logger
}

// Shell owns Scribe's windows: the sign-in window while nobody is signed in,
// the main window while somebody is.
type Shell struct {
	fa   fyne.App
	core *app.Core
	opts Options
	log  *slog.Logger
	b    *bridge
	// serving tracks the outbox workers of the open main window (serve).
	serving sync.WaitGroup

	// ctx lives as long as the shell; every window's context derives from
	// it, so stopping the shell cancels all outstanding work.
	ctx    context.Context
	cancel context.CancelFunc

	signIn *signInWindow // nil unless shown
	main   *mainWindow   // nil unless shown

	// recovered are the recordings a crash interrupted, repaired at start
	// (recovered.go); recoverErr is why some could not be. The main window
	// offers them until dismissed.
	recovered  []app.Encounter
	recoverErr error
}

// New builds the shell. It shows nothing until ShowAndRun.
func New(fa fyne.App, core *app.Core, opts Options) *Shell {
	return newShell(fa, core, opts, fyne.Do)
}

func newShell(fa fyne.App, core *app.Core, opts Options, do func(func())) *Shell {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The shell is the root of the UI's lifetime and New takes no context,
	// so this is where one begins; ShowAndRun cancels it on the way out.
	ctx, cancel := context.WithCancel(context.Background())
	return &Shell{
		fa: fa, core: core, opts: opts, log: log,
		b:   &bridge{do: do},
		ctx: ctx, cancel: cancel,
	}
}

// ShowAndRun opens the main window when core already has a signed-in user
// (a resumed session) and the sign-in window otherwise, then runs the Fyne
// event loop until the last window closes. Before it returns, all work the
// windows started has been cancelled and has finished, so the caller may
// close core.
func (s *Shell) ShowAndRun() {
	s.show()
	s.fa.Run()
	s.stop()
}

func (s *Shell) show() {
	s.recoverAtStart()
	if u, ok := s.core.User(); ok {
		s.showMain(u)
		return
	}
	s.showSignIn("")
}

// stop ends an open recording, cancels everything else and waits for the
// goroutines to hand back.
func (s *Shell) stop() {
	if s.main != nil {
		s.main.record.closing()
	}
	s.cancel()
	s.b.wait()
	s.serving.Wait()
}

// showMain opens the main window for u and closes the sign-in window. The
// new window opens before the old one closes: closing the last window quits.
func (s *Shell) showMain(u api.User) {
	s.log.Info("signed in; opening the main window")
	s.main = newMainWindow(s, u)
	s.serve(s.main)
	s.main.win.Show()
	if s.signIn != nil {
		s.signIn.win.Close()
		s.signIn = nil
	}
}

// serve sends the outbox's jobs (Core.Serve) for as long as m is open:
// signing out or quitting closes m, which cancels m.ctx and stops the
// workers, and stop waits for them. While nobody is signed in there is
// nothing to send them with. The workers are not the bridge's: they live
// as long as the window, not as long as one piece of work.
func (s *Shell) serve(m *mainWindow) {
	ctx := m.ctx
	s.serving.Go(func() {
		// Visits whose capture ended while nobody was signed in (or
		// before a crash) are queued for their note now.
		if err := s.core.FinishPending(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("could not queue every ended visit for its note", "error", err)
		}
	})
	s.serving.Go(func() {
		err := watchReady(ctx, s.core, func() { s.fa.SendNotification(readyNotice) })
		if ctx.Err() == nil {
			s.log.Warn("stopped watching for drafted notes", "error", err)
		}
	})
	s.serving.Go(func() {
		err := s.core.Serve(ctx)
		if ctx.Err() != nil {
			return
		}
		// Serve returns only when its context ends; anything else means
		// changes are no longer being sent.
		s.log.Error("the outbox stopped while the window is open", "error", err)
		s.b.do(func() {
			if ctx.Err() == nil {
				m.setStatus("Changes are no longer being sent; restart Scribe.", widget.DangerImportance)
			}
		})
	})
}

// showSignIn opens the sign-in window, with notice (if any) shown on it,
// and closes the main window.
func (s *Shell) showSignIn(notice string) {
	s.signIn = newSignInWindow(s)
	s.signIn.setNotice(notice)
	s.signIn.win.Show()
	if s.main != nil {
		s.main.win.Close()
		s.main = nil
	}
}

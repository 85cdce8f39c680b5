// Command scribe is the Scribe desktop app and its command line: with no
// command it opens the window; "scribe help" lists the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/nextvisit/scribe/app/ui"
	"github.com/nextvisit/scribe/cmd/scribe/internal/cli"
	_ "github.com/nextvisit/scribe/cmd/scribe/internal/fynelocale" // before Fyne's init: see its doc
)

// version is set at release builds: -ldflags "-X main.version=1.2.3".
var version string

func main() {
	// Ctrl-C and SIGTERM cancel the command under way, or close the window.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, cli.Options{
		OpenWindow: openWindow,
		Version:    version,
	})
	stop()
	os.Exit(code)
}

// openWindow runs the Fyne app on the calling (main) goroutine, as macOS
// requires, until its last window closes or ctx ends.
func openWindow(ctx context.Context, w cli.Window) error {
	fa := fyneapp.NewWithID("app.nextvisit.scribe")
	shell := ui.New(fa, w.Core, ui.Options{Servers: w.Servers, Logger: w.Logger})
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			fyne.Do(fa.Quit)
		case <-done:
		}
	}()
	shell.ShowAndRun()
	return nil
}

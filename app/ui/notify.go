package ui

import (
	"context"

	"fyne.io/fyne/v2"

	"github.com/nextvisit/scribe/app"
)

// readyNotice is the desktop notification for a drafted note. It names no
// patient: notifications show over whatever is on screen.
var readyNotice = fyne.NewNotification("Note ready to review", "A visit's draft note has arrived in Scribe.")

// watchReady calls notify once for each visit that becomes ready while it
// runs (a visit already ready when it starts is not news), until ctx ends.
// It reads the visits again at each change the core reports.
func watchReady(ctx context.Context, core *app.Core, notify func()) error {
	seen := map[string]app.EncounterState{}
	first := true
	for {
		changed := core.EncountersChanged()
		list, err := core.Encounters(ctx)
		if err != nil {
			return err
		}
		for _, e := range list {
			if was, ok := seen[e.ID]; !first && e.State == app.StateReady && (!ok || was != app.StateReady) {
				notify()
			}
			seen[e.ID] = e.State
		}
		first = false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

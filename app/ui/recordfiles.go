package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"

	"github.com/nextvisit/scribe/app"
)

// fileDialogs asks the clinician for a file. The window uses Fyne's
// dialogs; tests, which cannot click through a file browser, answer with a
// path of their own and everything after the choice runs for real.
type fileDialogs interface {
	// save asks where to write a new file, suggesting name (whose
	// extension the dialog lists). chosen runs on the UI goroutine with the
	// path, or an error; not at all if cancelled.
	save(name string, chosen func(path string, err error))
	// open asks for an existing file with one of exts (".wav").
	open(exts []string, chosen func(path string, err error))
}

var _ fileDialogs = fyneFiles{}

type fyneFiles struct{ win fyne.Window }

func (f fyneFiles) save(name string, chosen func(string, error)) {
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil { // nil, nil: cancelled
			if err != nil {
				chosen("", err)
			}
			return
		}
		uri := w.URI()
		// The dialog creates the file; the export writes it afresh by path.
		if err := w.Close(); err != nil {
			chosen("", fmt.Errorf("create %s: %w", uri.Name(), err))
			return
		}
		chosen(localPath(uri))
	}, f.win)
	d.SetFileName(name)
	if ext := filepath.Ext(name); ext != "" {
		d.SetFilter(storage.NewExtensionFileFilter([]string{ext}))
	}
	d.Show()
}

func (f fyneFiles) open(exts []string, chosen func(string, error)) {
	d := dialog.NewFileOpen(func(rc fyne.URIReadCloser, err error) {
		if err != nil || rc == nil {
			if err != nil {
				chosen("", err)
			}
			return
		}
		uri := rc.URI()
		_ = rc.Close() // only the path is needed; the importer opens it itself
		chosen(localPath(uri))
	}, f.win)
	d.SetFilter(storage.NewExtensionFileFilter(exts))
	d.Show()
}

// localPath is the path of a file on this computer; export and import work
// on paths, and a location the dialog offers from elsewhere cannot be used.
func localPath(u fyne.URI) (string, error) {
	if u.Scheme() != "file" {
		return "", fmt.Errorf("%s is not a file on this computer — choose a folder on this computer", u.String())
	}
	return u.Path(), nil
}

// exportName suggests a file name for an encounter's audio.
func exportName(e app.Encounter) string {
	when := e.Created.Local().Format("2006-01-02-1504")
	if e.Created.IsZero() {
		when = "recording"
	}
	return "scribe-" + when + "-" + shortID(e.ID) + ".wav"
}

// shortID is enough of an encounter id to tell recordings apart by eye.
func shortID(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// exportEncounter writes encounter id as one WAV at path and reports on the
// UI goroutine. The core writes a new private (0600) file and renames it
// over the empty one the dialog created.
func exportEncounter(m *mainWindow, id, path string, done func(err error, path string)) {
	core := m.shell.core
	run(m.shell.b, m.ctx, func(ctx context.Context) (string, error) {
		if err := core.ExportEncounter(ctx, id, path); err != nil {
			return "", err
		}
		return path, nil
	}, func(p string, err error) { done(err, p) })
}

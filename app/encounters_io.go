package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nextvisit/scribe/audio/importer"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/store"
)

// stagingPrefix names the folder an import is decoded into before it
// becomes an encounter; RecoverEncounters removes ones left by a crash.
const stagingPrefix = ".import-"

// ImportProgress receives the fraction of a file imported so far, from 0
// to 1, on the importing goroutine; it must return quickly.
type ImportProgress func(fraction float64)

// ImportOptions say whom an imported recording is of and how to draft it.
type ImportOptions struct {
	PatientID  int64 // 0: none; negative: added on this computer
	TemplateID int64 // 0: the server's default
	Context    string
	Consent    bool
	Progress   ImportProgress // may be nil
}

// ImportRecording makes an encounter from a WAV or MP3 file: the audio is
// decoded, resampled to 16 kHz mono and journalled like a recording, then
// queued for its note like a visit recorded with no live transcript. On
// any error nothing is left behind: no encounter and no folder.
func (c *Core) ImportRecording(ctx context.Context, file string, opts ImportOptions) (Encounter, error) {
	if opts.TemplateID < 0 {
		return Encounter{}, &inputError{msg: fmt.Sprintf("Template id %d is not valid — give an id shown by scribe templates.", opts.TemplateID)}
	}
	patientID, err := c.visitPatient(ctx, opts.PatientID)
	if err != nil {
		return Encounter{}, err
	}
	p := opts.Progress
	if fi, err := os.Stat(file); err != nil {
		return Encounter{}, explained(fmt.Sprintf("Cannot read %s: %v — check the file name.", file, pathErrText(err)), err)
	} else if fi.IsDir() {
		return Encounter{}, &inputError{msg: fmt.Sprintf("%s is a folder, not an audio file — give a WAV or MP3 file.", file)}
	}
	root := c.encountersDir()
	if err := platform.EnsureDir(root); err != nil {
		return Encounter{}, fmt.Errorf("import %s: %w", file, err)
	}
	now := time.Now()
	id := newEncounterID(now)
	lock, err := lockEncounter(root, id)
	if err != nil {
		return Encounter{}, fmt.Errorf("import %s: %w", file, err)
	}
	defer lock.unlock()
	staging := filepath.Join(root, stagingPrefix+id)
	var progress importer.Progress
	if p != nil {
		progress = func(done, total int64) {
			if total > 0 {
				p(min(float64(done)/float64(total), 1))
			}
		}
	}
	info, m, err := importer.ImportProgress(ctx, file, staging, id, c.journalOptions(), progress)
	if err != nil {
		os.RemoveAll(staging) // the importer removes it; this makes sure
		return Encounter{}, explainImport(file, err)
	}
	final := filepath.Join(root, id)
	if err := os.Rename(staging, final); err != nil {
		os.RemoveAll(staging)
		return Encounter{}, fmt.Errorf("import %s: %w", file, err)
	}
	row := store.Encounter{
		ID: id, PatientID: patientID, State: string(StateEnded), CreatedAt: now, EndedAt: time.Now(),
		Duration: samplesDuration(m.Samples), Source: store.SourceImport, Dir: path.Join("encounters", id),
		TemplateID: opts.TemplateID, Context: opts.Context,
	}
	c.stampVisit(&row, opts.Consent)
	if err := c.db.CreateEncounter(ctx, row); err != nil {
		os.RemoveAll(final)
		return Encounter{}, fmt.Errorf("import %s: %w", file, err)
	}
	c.log.Info("imported a recording", "encounter", id, "format", info.Format, "rate", info.SampleRate, "channels", info.Channels, "samples", m.Samples)
	if st, err := c.finishEncounter(ctx, id); err != nil {
		c.log.Warn("could not queue the imported encounter for its note; the next start will", "encounter", id, "error", err)
	} else {
		row.State = string(st)
	}
	return fromRow(row), nil
}

// explainImport words an import failure for the clinician. The importer's
// own errors already name the file, the problem and what to do.
func explainImport(file string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, importer.ErrUnsupported), errors.Is(err, importer.ErrEmpty),
		errors.Is(err, importer.ErrTruncated), errors.Is(err, importer.ErrCorrupt):
		return explained(sentence(err.Error()), err)
	}
	return explained(fmt.Sprintf("Could not import %s: %v — check the file and that there is disk space, then try again.", file, err), err)
}

// pathErrText is an os error without the path it repeats.
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, fs.ErrNotExist) {
			return "no such file"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// removeStaleImports removes staging folders of imports whose process
// died; an import under way holds its lock and is left alone.
func (c *Core) removeStaleImports() error {
	root := c.encountersDir()
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		id, ok := strings.CutPrefix(e.Name(), stagingPrefix)
		if !ok || !e.IsDir() || !validID.MatchString(id) {
			continue
		}
		lock, err := lockEncounter(root, id)
		if errors.Is(err, errLocked) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.log.Info("removing an interrupted import", "encounter", id)
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			errs = append(errs, err)
		}
		lock.unlock()
	}
	return errors.Join(errs...)
}

// ExportEncounter writes an encounter's whole audio to outPath as one
// 16 kHz mono WAV. The file appears complete or not at all (it is written
// beside outPath and renamed), with mode 0600: it is patient audio. An
// existing file at outPath is replaced. An interrupted recording is
// repaired first; one under way cannot be exported until it ends.
func (c *Core) ExportEncounter(ctx context.Context, id, outPath string) error {
	row, err := c.lookupEncounter(ctx, id)
	if err != nil {
		return err
	}
	if err := c.audioGone(ctx, row); err != nil {
		return err
	}
	if outPath == "" {
		return &inputError{msg: "No output file given — name the WAV file to write, e.g. visit.wav."}
	}
	if fi, err := os.Stat(outPath); err == nil && fi.IsDir() {
		return &inputError{msg: fmt.Sprintf("%s is a folder — give a file name for the WAV, e.g. %s.", outPath, filepath.Join(outPath, row.ID+".wav"))}
	}
	if c.activeRecording(row.ID) != nil {
		return &inputError{msg: "This encounter is still being recorded — end the recording, then export it."}
	}
	if row.State == string(StateRecording) || row.State == string(StatePaused) {
		if _, _, err := c.recoverOne(ctx, row.ID); errors.Is(err, errLocked) {
			return explained("This encounter is still being recorded (in another Scribe window or command) — end the recording, then export it.", err)
		} else if err != nil {
			return err
		}
	}
	// Hold the encounter so that no recovery or other work changes it
	// while it is read.
	lock, err := lockEncounter(c.encountersDir(), row.ID)
	if errors.Is(err, errLocked) {
		return explained("This encounter is in use by another Scribe (recording or repairing it) — try again in a moment.", err)
	}
	if err != nil {
		return fmt.Errorf("export encounter %s: %w", row.ID, err)
	}
	defer lock.unlock()
	if err := c.writeExport(ctx, c.journalDir(row), outPath); err != nil {
		return fmt.Errorf("export encounter %s to %s: %w", row.ID, outPath, err)
	}
	c.log.Info("exported an encounter", "encounter", row.ID)
	return nil
}

// writeExport writes dir's journal to a temporary file beside outPath,
// syncs it and renames it into place.
func (c *Core) writeExport(ctx context.Context, dir, outPath string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(outPath), "."+filepath.Base(outPath)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes 0600 files already; say so for umask-free clarity.
	if runtime.GOOS != "windows" {
		if err := tmp.Chmod(0o600); err != nil {
			return err
		}
	}
	if err := journal.Export(ctx, dir, tmp, c.journalOptions()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), outPath); err != nil {
		return err
	}
	syncDir(filepath.Dir(outPath))
	return nil
}

// syncDir makes a rename in dir durable where the OS allows it (not on
// Windows, which cannot open folders); failure only weakens durability.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

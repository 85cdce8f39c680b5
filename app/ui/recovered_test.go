package ui

import (
	"math"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/store"
)

// crashedRecording leaves in profile what a Scribe killed mid-recording
// leaves: the encounter's row says recording, and its journal holds d of
// audio, written and synced but never closed.
func crashedRecording(t *testing.T, profile, id string, d time.Duration) {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(profile, store.FileName), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.CreateEncounter(ctx, store.Encounter{
		ID: id, State: string(app.StateRecording), CreatedAt: time.Now().Add(-time.Hour),
		Device: "test microphone", Source: store.SourceMic, Dir: path.Join("encounters", id),
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	w, err := journal.Create(filepath.Join(profile, "encounters", id), id, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(tone16k(d)); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	// No Close: the process died here.
}

// tone16k is d of a 440 Hz tone at -12 dBFS peak, 16 kHz mono.
func tone16k(d time.Duration) []int16 {
	n := int(d * journal.SampleRate / time.Second)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8192 * math.Sin(2*math.Pi*440*float64(i)/journal.SampleRate))
	}
	return pcm
}

const crashedID = "20260122-093012-3fa9c1d2e4b5"

func TestRecoveredRecordingBanner(t *testing.T) {
	profile := t.TempDir()
	crashedRecording(t, profile, crashedID, 2*time.Second)
	h, files := newRecordHarness(t, recordSetup{profile: profile, audio: &switchBackend{}})
	m := h.main()
	b := m.banner
	h.waitFor("the recovery banner", func() bool { return b.box.Visible() })
	if want := "1 recording was interrupted and has been recovered. It is saved on this computer."; b.message.Text != want {
		t.Errorf("banner says %q, want %q", b.message.Text, want)
	}
	if !b.review.Visible() || !b.exportBt.Visible() || !b.dismiss.Visible() || b.problem.Visible() {
		t.Error("the banner should offer Review, Export… and Dismiss, and report no problem")
	}
	e := encounter(t, h, crashedID)
	if e.State != app.StateRecovered || e.Duration != 2*time.Second {
		t.Errorf("encounter %+v, want recovered with 2s", e)
	}

	// Export… from the banner: the audio is all there.
	files.save1 = filepath.Join(t.TempDir(), "recovered.wav")
	test.Tap(b.exportBt)
	h.waitFor("the export", func() bool { return b.result.Visible() })
	if b.result.Text != "Exported to "+files.save1+"." {
		t.Fatalf("export says %q", b.result.Text)
	}
	if got := readWAV(t, files.save1); got.duration() != 2*time.Second || rmsDB(got.samples) < -20 {
		t.Errorf("exported %v at %.1f dBFS, want the 2 s tone", got.duration(), rmsDB(got.samples))
	}

	// Review lists it, with its own Export…; Escape closes the list.
	test.Tap(b.review)
	if b.dialog == nil || len(b.rows) != 1 || b.rows[0].enc.ID != crashedID {
		t.Fatalf("review lists %d recordings", len(b.rows))
	}
	files.save1 = filepath.Join(t.TempDir(), "again.wav")
	test.Tap(b.rows[0].export)
	h.waitFor("the export from the list", func() bool { return b.rows[0].result.Visible() })
	if b.rows[0].result.Text != "Exported to "+files.save1+"." {
		t.Errorf("list export says %q", b.rows[0].result.Text)
	}
	if m.escape == nil {
		t.Fatal("Escape should close the list")
	}
	m.escape()
	if b.dialog != nil {
		t.Error("the list is still open after Escape")
	}

	// Dismiss hides the banner; the recording stays, on its way to a
	// note (the open window queues recovered visits for one).
	test.Tap(b.dismiss)
	if b.box.Visible() {
		t.Error("the banner is still shown after Dismiss")
	}
	if e := encounter(t, h, crashedID); e.State == app.StateRecording || e.State == app.StatePaused {
		t.Errorf("after Dismiss the encounter is %s", e.State)
	}
	if _, err := os.Stat(filepath.Join(profile, "encounters", crashedID)); err != nil {
		t.Errorf("the journal is gone after Dismiss: %v", err)
	}
}

// A recording recovered at an earlier start (by the command line, say)
// and not dealt with since is still offered: the banner is how the window
// finds it.
func TestRecoveredRecordingOfferedAtNextStart(t *testing.T) {
	profile := t.TempDir()
	crashedRecording(t, profile, crashedID, time.Second)
	secrets, err := platform.NewFileVault(profile)
	if err != nil {
		t.Fatal(err)
	}
	first, err := app.Open(t.Context(), app.Config{ProfileDir: profile, Secrets: secrets, AudioBackend: &switchBackend{}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := first.RecoverEncounters(t.Context())
	if cerr := first.Close(); err == nil {
		err = cerr
	}
	if err != nil || len(got) != 1 {
		t.Fatalf("first start recovered %d: %v", len(got), err)
	}

	h, _ := newRecordHarness(t, recordSetup{profile: profile, audio: &switchBackend{}})
	b := h.main().banner
	h.waitFor("the recovery banner", func() bool { return b.box.Visible() })
	if len(b.list) != 1 || b.list[0].ID != crashedID {
		t.Errorf("banner offers %+v", b.list)
	}
}

// Nothing interrupted, nothing shown.
func TestNoBannerWithoutRecoveredRecordings(t *testing.T) {
	h, _ := newRecordHarness(t, recordSetup{audio: &switchBackend{}})
	// Nothing long-lived runs without a recording: once every piece of
	// work the window started has handed back, the check is done.
	h.shell.b.wait()
	h.q.drain()
	if h.main().banner.box.Visible() {
		t.Error("a banner with nothing recovered")
	}
}

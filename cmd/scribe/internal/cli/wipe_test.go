package cli

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/internal/wavtest"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
)

// scribe wipe asks for WIPE, then signs out at the server and leaves
// nothing of the profile behind.
func TestWipeCommand(t *testing.T) {
	_, url := testSandbox(t)
	u := newUser(t)
	login(t, u, url)
	u.run("", "encounters").ok(t)
	vault, err := platform.NewFileVault(u.profile)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := vault.Get(t.Context(), "nextvisit-token:"+url)
	if err != nil {
		t.Fatal(err)
	}

	// Anything but WIPE leaves everything as it was.
	for _, answer := range []string{"", "no\n", "wipe\n"} {
		r := u.run(answer, "wipe")
		if r.code != 1 || !strings.Contains(r.stderr, "not wiped") || !strings.Contains(r.stdout, "Type WIPE") {
			t.Errorf("answer %q: exit %d, stdout %q, stderr %q; want a refusal", answer, r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(u.profile, "scribe.db")); err != nil {
		t.Fatalf("a refused wipe touched the profile: %v", err)
	}
	if r := u.run("", "wipe", "extra"); r.code != 2 {
		t.Errorf("wipe with an argument: exit %d, want 2", r.code)
	}

	r := u.run("WIPE\n", "wipe").ok(t)
	if !strings.Contains(r.stdout, "Signed out and wiped") {
		t.Errorf("wipe printed %q", r.stdout)
	}
	if _, err := os.Stat(u.profile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the profile folder is still there after the wipe: %v", err)
	}
	cl, err := api.New(url, api.Options{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.User(t.Context()); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("the wiped session's token still works at the server: %v", err)
	}

	// A fresh profile wipes without asking with --yes.
	u.run("", "encounters").ok(t)
	u.run("", "wipe", "--yes").ok(t)
	if _, err := os.Stat(u.profile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the profile folder is still there after wipe --yes: %v", err)
	}
}

// scribe encounters delete-local is refused while the visit's jobs need
// its audio, and deletes it once they are cancelled.
func TestDeleteLocalCommand(t *testing.T) {
	u := newUser(t)
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, time.Second)
	u.run("", "import", wav).ok(t)
	var list []jsonEncounter
	if err := json.Unmarshal([]byte(u.run("", "encounters", "--json").ok(t).stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("encounters: %v %v", list, err)
	}
	id := list[0].ID

	if r := u.run("", "encounters", "delete-local"); r.code != 2 || !strings.Contains(r.stderr, "one encounter id") {
		t.Errorf("no id: exit %d, %q", r.code, r.stderr)
	}
	r := u.run("", "encounters", "delete-local", id)
	if r.code != 1 || !regexp.MustCompile(`Transcribe .* is queued and still needs`).MatchString(r.stderr) {
		t.Errorf("delete-local with queued jobs: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(u.profile, "encounters", id)); err != nil {
		t.Fatalf("the audio went although refused: %v", err)
	}

	var q jsonQueue
	if err := json.Unmarshal([]byte(u.run("", "queue", "--json").ok(t).stdout), &q); err != nil || len(q.Jobs) == 0 {
		t.Fatalf("queue: %+v %v", q, err)
	}
	for _, j := range q.Jobs {
		u.run("", "queue", "cancel", strconv.FormatInt(j.ID, 10)).ok(t)
	}
	r = u.run("", "encounters", "delete-local", id).ok(t)
	if !strings.Contains(r.stdout, "Deleted the audio, transcript and draft of encounter "+id) {
		t.Errorf("delete-local printed %q", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(u.profile, "encounters", id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the audio is still there: %v", err)
	}
	if r := u.run("", "export", id, filepath.Join(t.TempDir(), "out.wav")); r.code != 1 || !strings.Contains(r.stderr, "deleted on") {
		t.Errorf("export after delete-local: exit %d, %q", r.code, r.stderr)
	}
}

package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/internal/wavtest"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// visitJSON is what scribe note show --json prints, in part.
type visitJSON struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Status struct {
		Label string `json:"label"`
	} `json:"status"`
	PatientID  int64     `json:"patient_id"`
	TemplateID int64     `json:"template_id"`
	ConsentAt  time.Time `json:"consent_at"`
	NoteID     int64     `json:"note_id"`
	Draft      string    `json:"draft"`
	Unsent     bool      `json:"unsent"`
	Queued     []struct {
		Kind string `json:"kind"`
	} `json:"queued"`
	Transcript []struct {
		StartMS int64  `json:"start_ms"`
		EndMS   int64  `json:"end_ms"`
		Text    string `json:"text"`
		Live    bool   `json:"live"`
	} `json:"transcript"`
	Note *api.ProgressNote `json:"note"`
}

func showNote(t *testing.T, env []string, profile, id string) visitJSON {
	t.Helper()
	code, out, errOut := scribeEnv(t, env, "", "--profile", profile, "note", "show", id, "--json")
	var v visitJSON
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("note show --json: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderrWithoutNoise(errOut))
	}
	return v
}

func loginBinary(t *testing.T, env []string, profile, url string) {
	t.Helper()
	code, out, errOut := scribeEnv(t, env, sandbox.SamplePassword+"\n", "--profile", profile, "login", "--server", url, "--email", sandbox.SampleEmail, "--password-stdin")
	if code != 0 {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, stderrWithoutNoise(errOut))
	}
}

// A file imported for a patient and template becomes a drafted note after
// one scribe sync.
func TestImportSyncNoteBinary(t *testing.T) {
	_, url := startSandboxAt(t, filepath.Join(t.TempDir(), "sandbox"), "127.0.0.1:0")
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	loginBinary(t, testEnv(), profile, url)
	wav := filepath.Join(dir, "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 3*time.Second)
	id := importFile(t, profile, wav, "--patient", "4", "--template", "1", "--consent")

	v := showNote(t, testEnv(), profile, id)
	if v.State != "transcribing" || len(v.Queued) == 0 || v.Draft != "" || v.ConsentAt.IsZero() {
		t.Errorf("before sync: %+v", v)
	}
	start := time.Now()
	code, out, errOut := scribe(t, "", "--profile", profile, "sync", "--wait", "90s")
	if code != 0 || !regexp.MustCompile(`(?m)^Sent \d+ jobs:\n`).MatchString(out) || !strings.Contains(out, "Draft the note of visit "+id) {
		t.Fatalf("sync: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("scribe sync took the import to a draft in %s", time.Since(start).Round(time.Millisecond))

	v = showNote(t, testEnv(), profile, id)
	if v.State != "ready" || v.Status.Label != "Ready" || strings.TrimSpace(v.Draft) == "" || v.Note == nil || v.Note.Analysis == nil ||
		*v.Note.Analysis != v.Draft || v.NoteID != v.Note.Id || len(v.Queued) != 0 || v.Unsent {
		t.Fatalf("after sync: %+v", v)
	}
	if v.PatientID != 4 || v.Note.Patient == nil || v.Note.Patient.Id != 4 || v.Note.Template == nil || v.Note.Template.Id != 1 {
		t.Errorf("the note's patient and template: %+v, %+v; want 4 and 1", v.Note.Patient, v.Note.Template)
	}
	if len(v.Transcript) == 0 || v.Transcript[0].Live || v.Transcript[0].Text == "" {
		t.Errorf("transcript: %+v; want the gap upload's text", v.Transcript)
	}
	list, _ := listEncounters(t, testEnv(), profile)
	if len(list) != 1 || list[0].ID != id || list[0].State != "ready" {
		t.Errorf("encounters --json: %+v; want %s ready", list, id)
	}
}

var turnLine = regexp.MustCompile(`^\[(\d\d):(\d\d)\] (.+)$`)

// scribe record, signed in, prints the live transcript's turns while it
// records: speech played into the virtual microphone comes back as a
// turn before the recording ends, and the note is drafted from it.
func TestRecordLiveTranscriptBinary(t *testing.T) {
	needTools(t, "espeak-ng")
	mic := startVmic(t)
	srv, url := startSandboxAt(t, filepath.Join(t.TempDir(), "sandbox"), "127.0.0.1:0")
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	loginBinary(t, mic.scribe, profile, url)
	speech := filepath.Join(dir, "speech.wav")
	runTool(t, "espeak-ng", "-w", speech, "The patient reports a mild headache for three days. No fever, no nausea.")

	rec := startScribe(t, mic.scribe, "--profile", profile, "record", "--duration", "15s", "--patient", "4", "--template", "1", "--consent")
	id := rec.waitLine(t, encounterLine, nil, 30*time.Second)[1]
	rec.waitLine(t, statusLine, func(m []string) bool { return clockOf(m[1:]) > 0 }, 30*time.Second)
	player := mic.play(t, speech)
	if err := player.Wait(); err != nil {
		t.Fatalf("paplay: %v", err)
	}
	turn := rec.waitLine(t, turnLine, nil, 20*time.Second)
	// A status line after the turn: it was printed while recording.
	after := rec.waitLine(t, regexp.MustCompile(`^(Recording |Ended encounter )`), nil, 20*time.Second)
	if !strings.HasPrefix(after[0], "Recording ") {
		t.Errorf("the turn %q came only at the end of the recording", turn[0])
	}
	rest, err := rec.wait(t, 60*time.Second)
	if err != nil {
		t.Fatalf("scribe record: %v; stderr:\n%s", err, stderrWithoutNoise(rec.stderr.String()))
	}
	queued := false
	for _, l := range rest {
		if m := queuedLine.FindStringSubmatch(l); m != nil && m[1] == id {
			queued = true
		}
	}
	if !queued {
		t.Errorf("record did not say the visit is queued for its note; last lines %q", rest)
	}
	stderr := stderrWithoutNoise(rec.stderr.String())
	if !strings.Contains(stderr, "live transcript: live\n") {
		t.Errorf("stderr does not show the live connection:\n%s", stderr)
	}
	t.Logf("turn printed while recording: %q; the sandbox received %d audio bytes", turn[0], srv.AudioBytesReceived())

	code, out, errOut := scribeEnv(t, mic.scribe, "", "--profile", profile, "sync", "--wait", "90s")
	if code != 0 {
		t.Fatalf("sync: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderrWithoutNoise(errOut))
	}
	v := showNote(t, mic.scribe, profile, id)
	if v.State != "ready" || strings.TrimSpace(v.Draft) == "" || v.ConsentAt.IsZero() {
		t.Fatalf("after sync: %+v", v)
	}
	found := false
	for _, tr := range v.Transcript {
		if tr.Live && tr.Text == turn[3] {
			found = true
		}
	}
	if !found {
		t.Errorf("the printed turn %q is not among the stored live turns %+v", turn[3], v.Transcript)
	}
}

package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/internal/wavtest"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

var importedID = regexp.MustCompile(`(?m)^Encounter (\d{8}-\d{6}-[0-9a-f]{12})$`)

// importTone imports a tone with the given flags and returns the
// encounter's id.
func importTone(t *testing.T, u *user, d time.Duration, flags ...string) string {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, d)
	r := u.run("", append([]string{"import", wav}, flags...)...).ok(t)
	m := importedID.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("import printed no encounter id:\n%s", r.stdout)
	}
	return m[1]
}

// visitJSON runs note show --json.
func visitJSON(t *testing.T, u *user, id string) jsonVisit {
	t.Helper()
	r := u.run("", "note", "show", id, "--json").ok(t)
	var v jsonVisit
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("note show --json: %v\n%s", err, r.stdout)
	}
	return v
}

// serverNote reads the note as the server has it now.
func serverNote(t *testing.T, u *user, id int64) api.ProgressNote {
	t.Helper()
	r := u.run("", "notes", "show", strconv.FormatInt(id, 10), "--json").ok(t)
	var n api.ProgressNote
	if err := json.Unmarshal([]byte(r.stdout), &n); err != nil {
		t.Fatalf("notes show --json: %v\n%s", err, r.stdout)
	}
	return n
}

func signedAtServer(n api.ProgressNote) bool {
	return n.Has != nil && n.Has.Signed != nil && *n.Has.Signed
}

// An imported visit goes to a drafted note; it is edited (from a flag, a
// file and stdin), signed, refused an edit while signed, and unsigned,
// each change reaching the server.
func TestNoteImportEditSignUnsign(t *testing.T) {
	_, url := testSandbox(t)
	u := newUser(t)
	login(t, u, url)

	before := time.Now().Add(-time.Second)
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 3*time.Second)
	r := u.run("", "import", wav, "--patient", "4", "--template", "1", "--context", "follow-up after the MRI", "--consent").ok(t)
	m := importedID.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("import printed:\n%s", r.stdout)
	}
	id := m[1]
	if want := "Encounter " + id + ": transcribing; the note will be drafted once all of the audio is transcribed, sent by scribe sync or while the Scribe window is open — see scribe note show " + id + "\n"; !strings.HasSuffix(r.stdout, want) {
		t.Errorf("import did not say the visit is queued:\n%s\nwant the last line %q", r.stdout, want)
	}

	v := visitJSON(t, u, id)
	if v.State != "transcribing" || v.Status.Label != "Transcribing" || v.PatientID != 4 || v.TemplateID != 1 ||
		v.Context != "follow-up after the MRI" || v.ConsentAt.Before(before) || v.ConsentAt.After(time.Now()) || v.Note != nil || v.Draft != "" {
		t.Errorf("the visit before sync: %+v", v)
	}
	if len(v.Queued) != 2 || v.Queued[0].Kind != "transcribe-gap" || v.Queued[1].Kind != "create-note" {
		t.Errorf("queued before sync: %+v; want transcribe-gap then create-note", v.Queued)
	}
	r = u.run("", "note", "show", id).ok(t)
	for _, want := range []string{"Status       Transcribing\n", "Patient      patient 4\n", "Template     template 1\n", "Consent      given ",
		"Server note  not created yet\n", "Changes      queued on this computer: transcribe-gap (job ", "\nTranscript\n----------\n(none yet)\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("note show before sync lacks %q:\n%s", want, r.stdout)
		}
	}
	var encs []jsonEncounter
	if err := json.Unmarshal([]byte(u.run("", "encounters", "--json").ok(t).stdout), &encs); err != nil || len(encs) != 1 || encs[0].State != "transcribing" {
		t.Errorf("encounters --json before sync: %+v, %v", encs, err)
	}

	u.run("", "sync", "--wait", "60s").ok(t)
	v = visitJSON(t, u, id)
	if v.State != "ready" || v.Status.Label != "Ready" || v.Note == nil || v.NoteID == 0 || strings.TrimSpace(v.Draft) == "" ||
		v.Note.Analysis == nil || *v.Note.Analysis != v.Draft || len(v.Queued) != 0 || v.Unsent {
		t.Fatalf("the visit after sync: %+v", v)
	}
	if len(v.Transcript) == 0 || v.Transcript[0].Text == "" || v.Transcript[0].Live || v.Transcript[len(v.Transcript)-1].EndMS > 3000 {
		t.Errorf("transcript after sync: %+v; want the tone's turns from the gap upload, within its 3 s", v.Transcript)
	}
	r = u.run("", "note", "show", id).ok(t)
	for _, want := range []string{"Status       Ready\n", "Patient      " + app.PatientName(*v.Note.Patient) + " (4)\n", "Template     SOAP (1)\n",
		"Changes      all sent\n", "\nTranscript\n----------\n[00:00] " + v.Transcript[0].Text + "\n", "\nNote\n----\n" + strings.SplitN(v.Draft, "\n", 2)[0]} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("note show when ready lacks %q:\n%s", want, r.stdout)
		}
	}
	if v.Note.Codes != nil && v.Note.Codes.Cpt != nil && len(*v.Note.Codes.Cpt) > 0 {
		c := (*v.Note.Codes.Cpt)[0]
		if !strings.Contains(r.stdout, "\nCodes\n-----\n") || !strings.Contains(r.stdout, "CPT  "+c.Code) {
			t.Errorf("note show does not list the CPT code %s:\n%s", c.Code, r.stdout)
		}
	}

	// Edits: a flag, a file, stdin; each saved and sent.
	edits := []struct {
		text, stdin string
		args        []string
	}{
		{"S: headache for three days.\nP: rest.", "", []string{"--text", "S: headache for three days.\nP: rest."}},
		{"From a file.\n", "", []string{"--file", writeFile(t, "From a file.\n")}},
		{"From stdin: BP 130/85.", "From stdin: BP 130/85.", []string{"--file", "-"}},
	}
	for _, ed := range edits {
		r = u.run(ed.stdin, append([]string{"note", "edit", id}, ed.args...)...).ok(t)
		if r.stdout != "Saved the note of encounter "+id+". Sent: the server has it.\n" {
			t.Errorf("note edit %v printed %q", ed.args, r.stdout)
		}
		if n := serverNote(t, u, v.NoteID); n.Analysis == nil || *n.Analysis != ed.text {
			t.Errorf("after note edit %v the server has %v", ed.args, n.Analysis)
		}
		if got := visitJSON(t, u, id); got.Draft != ed.text || got.Unsent || len(got.Queued) != 0 {
			t.Errorf("after note edit %v: draft %q, unsent %v, queued %v", ed.args, got.Draft, got.Unsent, got.Queued)
		}
	}
	last := edits[len(edits)-1].text

	// Sign: a script must say --yes.
	r = u.run("y\n", "note", "sign", id)
	if r.code != 2 || !strings.HasPrefix(r.stderr, "scribe: note sign asks before it acts, and stdin is not a terminal: add --yes") {
		t.Errorf("note sign without --yes: exit %d, stderr %q", r.code, r.stderr)
	}
	if signedAtServer(serverNote(t, u, v.NoteID)) {
		t.Fatal("signed without --yes")
	}
	r = u.run("", "note", "sign", id, "--yes").ok(t)
	if r.stdout != "Signed the note of encounter "+id+". Sent: the server has it.\n" {
		t.Errorf("note sign printed %q", r.stdout)
	}
	if !signedAtServer(serverNote(t, u, v.NoteID)) {
		t.Error("the server's note is not signed")
	}
	if got := visitJSON(t, u, id); got.State != "signed" || got.SignedAt.IsZero() {
		t.Errorf("after sign: state %s, signed_at %v", got.State, got.SignedAt)
	}
	r = u.run("", "note", "edit", id, "--text", "changed after signing")
	if r.code != 1 || r.stderr != "scribe: The note is signed, so it cannot be changed — Unsign it first.\n" {
		t.Errorf("edit of a signed note: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := serverNote(t, u, v.NoteID); n.Analysis == nil || *n.Analysis != last {
		t.Errorf("after the refused edit the server has %v", n.Analysis)
	}
	if got := visitJSON(t, u, id); got.Draft != last {
		t.Errorf("after the refused edit the draft is %q", got.Draft)
	}
	r = u.run("", "note", "sign", id, "--yes")
	if r.code != 1 || r.stderr != "scribe: The note is already signed.\n" {
		t.Errorf("signing twice: exit %d, stderr %q", r.code, r.stderr)
	}

	r = u.run("", "note", "unsign", id, "--yes", "--json").ok(t)
	var un jsonVisit
	if err := json.Unmarshal([]byte(r.stdout), &un); err != nil {
		t.Fatalf("note unsign --json: %v\n%s", err, r.stdout)
	}
	if un.State != "ready" || !un.SignedAt.IsZero() || len(un.Queued) != 0 || un.Note == nil || signedAtServer(*un.Note) {
		t.Errorf("note unsign --json: %+v", un)
	}
	if signedAtServer(serverNote(t, u, v.NoteID)) {
		t.Error("the server's note is still signed")
	}
	u.run("", "note", "edit", id, "--text", "editable again").ok(t)
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// With the server down, changes are kept and say so; sync sends them in
// order once it is back.
func TestNoteEditOfflineThenSync(t *testing.T) {
	addr := closedPort(t)
	dir := t.TempDir()
	start := func() *sandbox.Server {
		srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: dir, ProcessingDelay: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Start(t.Context(), addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	srv := start()
	url := "http://" + addr + "/api"
	u := newUser(t)
	login(t, u, url)
	id := importTone(t, u, 2*time.Second, "--template", "1")
	u.run("", "sync", "--wait", "60s").ok(t)
	v := visitJSON(t, u, id)
	if v.State != "ready" {
		t.Fatalf("after sync: %+v", v)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	r := u.run("", "note", "edit", id, "--text", "written offline").ok(t)
	if want := "Saved the note of encounter " + id + ". It is kept on this computer: the server " + addr + " cannot be reached — it will be sent by scribe sync or while the Scribe window is open.\n"; r.stdout != want {
		t.Errorf("offline edit printed %q\nwant %q", r.stdout, want)
	}
	u.run("", "note", "sign", id, "--yes").ok(t)
	v = visitJSON(t, u, id)
	if v.State != "signed" || !v.Unsent || len(v.Queued) != 2 || v.Queued[0].Kind != "update-note" || v.Queued[1].Kind != "sign-note" {
		t.Errorf("offline, after edit and sign: state %s, unsent %v, queued %+v", v.State, v.Unsent, v.Queued)
	}
	r = u.run("", "note", "show", id).ok(t)
	if !strings.Contains(r.stdout, "Changes      the latest edit is not on the server yet; queued on this computer: update-note (job ") {
		t.Errorf("note show offline:\n%s", r.stdout)
	}

	start()
	u.run("", "sync", "--wait", "60s").ok(t)
	v = visitJSON(t, u, id)
	if v.Unsent || len(v.Queued) != 0 || v.Note == nil || !signedAtServer(*v.Note) || v.Note.Analysis == nil || *v.Note.Analysis != "written offline" {
		t.Errorf("after sync: unsent %v, queued %+v, note %+v", v.Unsent, v.Queued, v.Note)
	}
}

// Signed out, a change is kept and says it waits for a sign-in.
func TestNoteSignedOut(t *testing.T) {
	u := newUser(t)
	id := importTone(t, u, time.Second)
	r := u.run("", "note", "edit", id, "--text", "first words")
	r.ok(t)
	if want := "Saved the note of encounter " + id + ". It is kept on this computer: nobody is signed in — it will be sent by scribe sync or while the Scribe window is open once you sign in (scribe login).\n"; r.stdout != want {
		t.Errorf("signed-out edit printed %q", r.stdout)
	}
	v := visitJSON(t, u, id)
	if v.Draft != "first words" || !v.Unsent || v.State != "transcribing" {
		t.Errorf("signed-out visit: %+v", v)
	}

	// Consent given signed out is kept, or the clinician is told it was not.
	wav := filepath.Join(t.TempDir(), "consented.wav")
	wavtest.Tone(t, wav, 16000, 1, time.Second)
	r = u.run("", "import", wav, "--consent").ok(t)
	cid := importedID.FindStringSubmatch(r.stdout)[1]
	warned := strings.Contains(r.stderr, "scribe: warning: the patient's consent was not recorded with the visit: nobody is signed in")
	if kept := !visitJSON(t, u, cid).ConsentAt.IsZero(); kept == warned {
		t.Errorf("consent kept %v, warned %v (stderr %q); want exactly one", kept, warned, r.stderr)
	}
}

func TestNoteUsage(t *testing.T) {
	u := newUser(t)
	id := importTone(t, u, time.Second)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"note"}, "scribe: note needs a subcommand: show, edit, sign or unsign"},
		{[]string{"note", "frob", id}, `scribe: unknown note subcommand "frob"`},
		{[]string{"note", "show"}, "scribe: note show needs one encounter id"},
		{[]string{"note", "show", id, id}, "scribe: note show needs one encounter id"},
		{[]string{"note", "edit", id}, "scribe: note edit needs the new text: --text T, --file F, or --file - for stdin"},
		{[]string{"note", "edit", id, "--text", "a", "--file", "b"}, "scribe: note edit needs the new text"},
		{[]string{"note", "edit", id, "--text", "  \n"}, "scribe: the new note text is empty"},
		{[]string{"note", "sign", id}, "scribe: note sign asks before it acts"},
		{[]string{"note", "unsign", id}, "scribe: note unsign asks before it acts"},
		{[]string{"note", "sign", "--bogus", id}, "scribe: flag provided but not defined: -bogus"},
	} {
		r := u.run("", tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, "Usage: scribe note show") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"note", "show", "nonsense"}, `scribe: "nonsense" is not an encounter id (they look like 20260122-093012-3fa9c1d2e4b5) — list them with scribe encounters.` + "\n"},
		{[]string{"note", "edit", "20260101-000000-000000000000", "--text", "x"}, "scribe: There is no encounter 20260101-000000-000000000000 on this computer — list them with scribe encounters.\n"},
		{[]string{"note", "sign", "--yes", "20260101-000000-000000000000"}, "scribe: There is no encounter 20260101-000000-000000000000 on this computer — list them with scribe encounters.\n"},
		{[]string{"note", "unsign", "--yes", id}, "scribe: The note is not signed.\n"},
	} {
		r := u.run("", tc.args...)
		if r.code != 1 || r.stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want exit 1, %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "absent.txt")
	r := u.run("", "note", "edit", id, "--file", missing)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "scribe: cannot read the note from "+missing+": ") {
		t.Errorf("edit from a missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	bin := filepath.Join(t.TempDir(), "visit.wav")
	if err := os.WriteFile(bin, []byte{0xff, 0xfe, 0x00, 0x80}, 0o600); err != nil {
		t.Fatal(err)
	}
	r = u.run("", "note", "edit", id, "--file", bin)
	if r.code != 1 || r.stderr != "scribe: "+bin+" is not UTF-8 text — save the note as plain text and try again\n" {
		t.Errorf("edit from a binary file: exit %d, stderr %q", r.code, r.stderr)
	}
	if v := visitJSON(t, u, id); v.Draft != "" {
		t.Errorf("refused edits changed the draft to %q", v.Draft)
	}
	if r := u.run("", "help", "note").ok(t); r.stdout != noteUsage {
		t.Errorf("help note printed:\n%s", r.stdout)
	}
	if r := u.run("", "note", "show", "-h").ok(t); r.stdout != noteUsage {
		t.Errorf("note show -h printed:\n%s", r.stdout)
	}
}

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " yes \n": true, "\n": false, "": false, "n\n": false, "yep\n": false, "y": true} {
		var errOut strings.Builder
		e := &env{stdin: strings.NewReader(in), stderr: &errOut}
		got, err := e.confirm("Sign? [y/N] ")
		if err != nil || got != want || errOut.String() != "Sign? [y/N] " {
			t.Errorf("answer %q: %v, %v (asked %q); want %v", in, got, err, errOut.String(), want)
		}
	}
}

// The live transcript while recording: final turns on stdout, each change
// of the connection once on stderr, the status line cleared first.
func TestLiveText(t *testing.T) {
	var out, errOut strings.Builder
	st := &status{w: &out, tty: true, rms: dsp.FloorDB}
	lt := &liveText{out: &out, errOut: &errOut, st: st}
	st.show(time.Second)
	lt.update(app.LiveUpdate{Link: app.LinkConnecting})
	lt.update(app.LiveUpdate{Link: app.LinkLive})
	lt.update(app.LiveUpdate{Partial: &app.Turn{Text: "the pati"}})
	lt.update(app.LiveUpdate{Final: &app.Turn{Start: 3*time.Minute + 12500*time.Millisecond, Text: "The patient\treports a headache."}})
	lt.update(app.LiveUpdate{Link: app.LinkOffline, Err: errors.New("connection refused")})
	lt.update(app.LiveUpdate{Link: app.LinkOffline})
	lt.update(app.LiveUpdate{Link: app.LinkCatchingUp})
	lt.update(app.LiveUpdate{Final: &app.Turn{Start: time.Hour + 2*time.Second, Text: "No fever."}})
	wantOut := "\r\033[KRecording 0:00:01.0  [                    ]  level —\r\033[K[03:12] The patient reports a headache.\n[1:00:02] No fever.\n"
	if out.String() != wantOut {
		t.Errorf("stdout %q\nwant %q", out.String(), wantOut)
	}
	wantErr := "live transcript: connecting\nlive transcript: live\nlive transcript: " + app.OfflineNotice + "\nlive transcript: catching up\n"
	if errOut.String() != wantErr {
		t.Errorf("stderr %q\nwant %q", errOut.String(), wantErr)
	}
}

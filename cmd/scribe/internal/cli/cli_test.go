package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

type result struct {
	code           int
	stdout, stderr string
}

// user runs the command line in-process as a user would, on one profile.
type user struct {
	t       *testing.T
	profile string
	opts    Options
}

func newUser(t *testing.T) *user {
	t.Helper()
	// No OS keyring in tests: the encrypted file vault in the profile.
	t.Setenv(platform.SecretsEnv, "file")
	return &user{t: t, profile: filepath.Join(t.TempDir(), "profile")}
}

func (u *user) run(stdin string, args ...string) result {
	u.t.Helper()
	return u.runCtx(u.t.Context(), stdin, args...)
}

func (u *user) runCtx(ctx context.Context, stdin string, args ...string) result {
	u.t.Helper()
	var out, errOut bytes.Buffer
	code := Run(ctx, append([]string{"--profile", u.profile}, args...), strings.NewReader(stdin), &out, &errOut, u.opts)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func testSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err := srv.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return srv, url
}

func login(t *testing.T, u *user, url string) {
	t.Helper()
	r := u.run(sandbox.SamplePassword+"\n", "login", "--server", url, "--email", sandbox.SampleEmail, "--password-stdin").ok(t)
	want := "Signed in as Dr. Sam Rivera <" + sandbox.SampleEmail + "> on " + url + "\n"
	if r.stdout != want {
		t.Fatalf("login printed %q, want %q", r.stdout, want)
	}
}

// checkAligned checks that every line of a table starts its columns where
// the header's do.
func checkAligned(t *testing.T, table string, columns ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	header := lines[0]
	for _, col := range columns[1:] {
		at := strings.Index(header, col)
		if at < 0 {
			t.Fatalf("header %q has no column %s", header, col)
		}
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "Page ") || strings.HasPrefix(l, "No ") {
				continue
			}
			r := []rune(l)
			hr := []rune(header[:at])
			if len(r) <= len(hr) || r[len(hr)-1] != ' ' || r[len(hr)] == ' ' {
				t.Errorf("column %s does not start at rune %d in %q", col, len(hr), l)
			}
		}
	}
}

func TestLoginPatientsNotesLogout(t *testing.T) {
	_, url := testSandbox(t)
	u := newUser(t)
	login(t, u, url)

	// The server is remembered: no --server from here on.
	r := u.run("", "patients").ok(t)
	checkAligned(t, r.stdout, "ID", "NAME", "DATE OF BIRTH", "GENDER")
	if !strings.Contains(r.stdout, "Jane Marie Doe") || !strings.HasSuffix(r.stdout, "Page 1 of 2 (26 patients)\n") {
		t.Errorf("patients:\n%s", r.stdout)
	}

	var pg struct {
		Data []api.Patient      `json:"data"`
		Meta api.PaginationMeta `json:"meta"`
	}
	r = u.run("", "patients", "--search", "doe", "--json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &pg); err != nil {
		t.Fatalf("patients --json: %v\n%s", err, r.stdout)
	}
	if len(pg.Data) != 1 || app.PatientName(pg.Data[0]) != "Jane Marie Doe" || pg.Meta.TotalItems() != 1 {
		t.Errorf("search doe: %+v", pg)
	}
	r = u.run("", "patients", "--json", "--page", "2", "--per-page", "10").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &pg); err != nil {
		t.Fatal(err)
	}
	if pg.Meta.Current() != 2 || len(pg.Data) != 10 {
		t.Errorf("page 2 of 10: page %d, %d patients", pg.Meta.Current(), len(pg.Data))
	}

	r = u.run("", "patients", "create", "--first", "Robin", "--last", "Testperson", "--dob", "1990-04-01", "--gender", "female", "--json").ok(t)
	var created api.Patient
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("patients create --json: %v\n%s", err, r.stdout)
	}
	if created.Id == 0 || created.DateOfBirth == nil || created.DateOfBirth.String() != "1990-04-01" {
		t.Errorf("created %+v", created)
	}
	r = u.run("", "patients", "create", "--last", "Second", "--first", "Robin").ok(t)
	if !regexp.MustCompile(`^Added patient \d+: Robin Second\n$`).MatchString(r.stdout) {
		t.Errorf("patients create printed %q", r.stdout)
	}
	r = u.run("", "patients", "--search", "robin").ok(t)
	if !strings.Contains(r.stdout, "Robin Testperson") || !strings.Contains(r.stdout, "Robin Second") || !strings.Contains(r.stdout, "1990-04-01") {
		t.Errorf("the new patients are not listed:\n%s", r.stdout)
	}

	r = u.run("", "notes", "--per-page", "3").ok(t)
	checkAligned(t, r.stdout, "ID", "CREATED", "PATIENT", "STATUS", "NAME")
	if lines := strings.Count(r.stdout, "\n"); lines != 5 { // header, 3 notes, summary
		t.Errorf("notes --per-page 3 printed %d lines:\n%s", lines, r.stdout)
	}
	var notes struct {
		Data []api.ProgressNote `json:"data"`
	}
	r = u.run("", "notes", "--sort", "oldest", "--json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &notes); err != nil {
		t.Fatalf("notes --json: %v\n%s", err, r.stdout)
	}
	if len(notes.Data) < 2 || notes.Data[0].CreatedAt.After(notes.Data[1].CreatedAt) {
		t.Fatalf("notes --sort oldest: %d notes, not oldest first", len(notes.Data))
	}
	note := notes.Data[0]
	if note.Patient == nil {
		t.Fatal("the oldest note has no patient")
	}
	r = u.run("", "notes", "--patient", strconv.FormatInt(note.Patient.Id, 10), "--json").ok(t)
	var byPatient struct {
		Data []api.ProgressNote `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &byPatient); err != nil {
		t.Fatal(err)
	}
	if len(byPatient.Data) == 0 {
		t.Errorf("notes --patient %d lists nothing", note.Patient.Id)
	}
	for _, n := range byPatient.Data {
		if n.Patient == nil || n.Patient.Id != note.Patient.Id {
			t.Errorf("notes --patient %d lists note %d of another patient", note.Patient.Id, n.Id)
		}
	}

	id := strconv.FormatInt(note.Id, 10)
	r = u.run("", "notes", "show", id).ok(t)
	for _, want := range []string{"Note      " + id + ": " + note.Name, "Status    " + app.NoteStatus(note), "\nTranscription\n-------------\n", "\nNote\n----\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("notes show lacks %q:\n%s", want, r.stdout)
		}
	}
	var shown api.ProgressNote
	r = u.run("", "notes", "show", "--json", id).ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.Id != note.Id {
		t.Errorf("notes show --json: %v, id %d\n%s", err, shown.Id, r.stdout)
	}

	r = u.run("", "logout").ok(t)
	if r.stdout != "Signed out of "+url+"\n" {
		t.Errorf("logout printed %q", r.stdout)
	}
	r = u.run("", "patients")
	if r.code != 1 || r.stderr != "scribe: You are not signed in — sign in first.\nSign in with: scribe login\n" {
		t.Errorf("patients after logout: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestLoginWrongPassword(t *testing.T) {
	_, url := testSandbox(t)
	u := newUser(t)
	r := u.run("wrong\n", "login", "--server", url, "--email", sandbox.SampleEmail)
	if r.code != 1 || r.stderr != "scribe: Wrong email or password — check them and try again.\n" || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Without flags, login reads the email and then the password from stdin.
func TestLoginReadsStdin(t *testing.T) {
	_, url := testSandbox(t)
	u := newUser(t)
	r := u.run(sandbox.SampleEmail+"\r\n"+sandbox.SamplePassword, "login", "--server", url).ok(t)
	if !strings.HasPrefix(r.stdout, "Signed in as Dr. Sam Rivera") {
		t.Errorf("stdout %q", r.stdout)
	}
	// The next time the email defaults to the last one: an empty line takes it.
	r = u.run("\n"+sandbox.SamplePassword+"\n", "login").ok(t)
	if !strings.Contains(r.stdout, "<"+sandbox.SampleEmail+"> on "+url) {
		t.Errorf("stdout %q", r.stdout)
	}
	r = u.run("", "login", "--email", sandbox.SampleEmail)
	if r.code != 2 || !strings.Contains(r.stderr, "no password given") {
		t.Errorf("empty stdin: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBadServerURL(t *testing.T) {
	u := newUser(t)
	for _, args := range [][]string{
		{"patients", "--server", "notaurl"},
		{"--server", "notaurl", "login", "--email", "a@b.example", "--password", "x"},
		{"--server", "notaurl", "logout"},
	} {
		r := u.run("", args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, `scribe: "notaurl" is not a URL`) {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUnreachableServer(t *testing.T) {
	u := newUser(t)
	ln := closedPort(t)
	r := u.run("", "login", "--server", "http://"+ln+"/api", "--email", "a@b.example", "--password", "x")
	if r.code != 1 || r.stderr != "scribe: Cannot reach "+ln+" — check your internet connection or the server address.\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	u := newUser(t)
	for _, tc := range []struct {
		args []string
		want string // on stderr
	}{
		{[]string{"bogus"}, `scribe: unknown command "bogus"`},
		{[]string{"patients", "--bogus"}, "scribe: flag provided but not defined: -bogus"},
		{[]string{"patients", "--per-page", "500"}, "scribe: --per-page must be between 1 and 100, not 500"},
		{[]string{"patients", "--page", "0"}, "scribe: --page must be 1 or more, not 0"},
		{[]string{"patients", "extra"}, `scribe: unexpected argument "extra"`},
		{[]string{"patients", "create", "--first", "A"}, "scribe: --first and --last are required"},
		{[]string{"notes", "show"}, "scribe: give one note ID"},
		{[]string{"notes", "show", "abc"}, `scribe: "abc" is not a note ID`},
		{[]string{"notes", "--sort", "newest"}, `scribe: --sort must be latest or oldest, not "newest"`},
		{[]string{"notes", "--patient", "x"}, `scribe: invalid value "x" for flag -patient`},
		{[]string{"--sandbox", "--server", "http://x.example/api", "patients"}, "scribe: --sandbox and --server both choose the server"},
		{[]string{"login", "--password", "a", "--password-stdin"}, "scribe: --password and --password-stdin both give the password"},
		{[]string{"sandbox", "--recognizer", "openai"}, "scribe: --recognizer openai needs --openai-url"},
		{[]string{"help", "bogus"}, `scribe: no help for unknown command "bogus"`},
	} {
		r := u.run("", tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// No window in this build: a command is needed.
	if r := u.run(""); r.code != 2 || !strings.Contains(r.stderr, "no window") {
		t.Errorf("no command without a window: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	u := newUser(t)
	r := u.run("", "help").ok(t)
	if r.stdout != mainUsage {
		t.Errorf("help printed:\n%s", r.stdout)
	}
	if r := u.run("", "--help").ok(t); r.stdout != mainUsage {
		t.Errorf("--help printed:\n%s", r.stdout)
	}
	if r := u.run("", "help", "patients").ok(t); r.stdout != patientsUsage {
		t.Errorf("help patients printed:\n%s", r.stdout)
	}
	if r := u.run("", "notes", "show", "-h").ok(t); r.stdout != notesShowUsage {
		t.Errorf("notes show -h printed:\n%s", r.stdout)
	}
	r = u.run("", "version").ok(t)
	if !regexp.MustCompile(`^scribe \S+ \(go\S+ ` + runtime.GOOS + "/" + runtime.GOARCH + `\)\n$`).MatchString(r.stdout) {
		t.Errorf("version printed %q", r.stdout)
	}
	u.opts.Version = "1.2.3"
	if r := u.run("", "version").ok(t); !strings.HasPrefix(r.stdout, "scribe 1.2.3 (") {
		t.Errorf("version printed %q", r.stdout)
	}
}

// --sandbox runs the sandbox for the one command, signed in, and leaves no
// trace of its short-lived address in the profile.
func TestEmbeddedSandboxCommand(t *testing.T) {
	u := newUser(t)
	var pg struct {
		Data []api.Patient `json:"data"`
	}
	r := u.run("", "--sandbox", "patients", "--json", "--per-page", "100").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &pg); err != nil || len(pg.Data) != 26 {
		t.Fatalf("--sandbox patients: %v, %d patients\n%s", err, len(pg.Data), r.stdout)
	}
	if _, err := os.Stat(filepath.Join(u.profile, "sandbox", "sandbox.db")); err != nil {
		t.Errorf("the sandbox's state is not in <profile>/sandbox: %v", err)
	}
	// The profile still points at production: logout names it (and, with no
	// token stored, sends nothing).
	r = u.run("", "logout").ok(t)
	if r.stdout != "Signed out of "+api.ProductionURL+"\n" {
		t.Errorf("logout after --sandbox printed %q", r.stdout)
	}
}

// With the server gone, patients answers from what was fetched before and
// says so.
func TestOfflinePatients(t *testing.T) {
	srv, url := testSandbox(t)
	u := newUser(t)
	login(t, u, url)
	u.run("", "patients", "--per-page", "100").ok(t)
	srv.Close()

	r := u.run("", "patients", "--search", "doe").ok(t)
	if !strings.Contains(r.stdout, "Jane Marie Doe") {
		t.Errorf("offline patients:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "scribe: Cannot reach 127.0.0.1:") || !strings.Contains(r.stderr, "showing patients kept on this computer") {
		t.Errorf("offline patients stderr:\n%s", r.stderr)
	}
	var pg struct {
		Data    []api.Patient `json:"data"`
		Offline bool          `json:"offline"`
	}
	r = u.run("", "patients", "--search", "doe", "--json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &pg); err != nil || !pg.Offline || len(pg.Data) != 1 {
		t.Errorf("offline --json: %v %+v", err, pg)
	}
	// Notes are not kept yet.
	if r := u.run("", "notes"); r.code != 1 || !strings.Contains(r.stderr, "Cannot reach") {
		t.Errorf("offline notes: exit %d, stderr %q", r.code, r.stderr)
	}
}

// scribe sandbox prints its URL, serves until cancelled (Ctrl-C), and
// exits cleanly.
func TestSandboxCommand(t *testing.T) {
	u := newUser(t)
	dir := filepath.Join(t.TempDir(), "sb")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"sandbox", "--addr", "127.0.0.1:0", "--dir", dir, "--processing-delay", "1s"}, strings.NewReader(""), pw, &errOut, Options{})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	for len(lines) < 4 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	go io.Copy(io.Discard, pr)
	if len(lines) < 2 {
		t.Fatalf("scribe sandbox printed %q", lines)
	}
	url, ok := strings.CutPrefix(lines[0], "Sandbox running at ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/api") {
		t.Fatalf("first line %q", lines[0])
	}
	if lines[1] != "Sign in as clinician@sandbox.local / sandbox" {
		t.Errorf("second line %q", lines[1])
	}
	login(t, u, url)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after Ctrl-C; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scribe sandbox did not stop within 10s of Ctrl-C")
	}
	if _, err := os.Stat(filepath.Join(dir, "sandbox.db")); err != nil {
		t.Errorf("--dir not used: %v", err)
	}
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/api"
)

// binary is the scribe program built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scribe-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "scribe")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	// go test puts its own go first on PATH. The window needs cgo (GLFW).
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build scribe: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// scribe runs the built binary the way a user at a shell would: on a
// Debian-default locale, with secrets in the profile's file vault.
func scribe(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Env = testEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run scribe %v: %v", args, err)
	}
	if strings.Contains(errOut.String(), "Fyne error") {
		t.Errorf("scribe %v: Fyne's locale noise on stderr:\n%s", args, errOut.String())
	}
	return code, out.String(), errOut.String()
}

// syncBuffer is a bytes.Buffer that a process may write while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEnv() []string {
	return append(os.Environ(), "SCRIBE_SECRETS=file", "LANG=C.UTF-8", "LC_ALL=", "LC_MESSAGES=", "LANGUAGE=")
}

// TestBinary runs the sandbox and the commands as separate processes.
func TestBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the sandbox with an interrupt signal")
	}
	profile := filepath.Join(t.TempDir(), "profile")

	sb := exec.Command(binary, "sandbox", "--addr", "127.0.0.1:0", "--dir", filepath.Join(t.TempDir(), "sandbox"))
	sb.Env = testEnv()
	stdout, err := sb.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var sbErr syncBuffer
	sb.Stderr = &sbErr
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	stopped := false
	defer func() {
		if !stopped {
			sb.Process.Kill()
			<-exited
		}
	}()
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		exited <- sb.Wait()
	}()
	var url string
	select {
	case first, ok := <-lines:
		var found bool
		url, found = strings.CutPrefix(first, "Sandbox running at ")
		if !ok || !found {
			t.Fatalf("scribe sandbox printed %q; stderr:\n%s", first, sbErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("scribe sandbox printed no URL within 30s")
	}

	code, out, errOut := scribe(t, "not-it\n", "--profile", profile, "login", "--server", url, "--email", "clinician@sandbox.local")
	if code != 1 || errOut != "scribe: Wrong email or password — check them and try again.\n" {
		t.Errorf("wrong password: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, errOut = scribe(t, "sandbox\n", "--profile", profile, "login", "--server", url, "--email", "clinician@sandbox.local", "--password-stdin")
	if code != 0 || out != "Signed in as Dr. Sam Rivera <clinician@sandbox.local> on "+url+"\n" {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, errOut = scribe(t, "", "patients", "--profile", profile, "--json", "--search", "okonkwo")
	var pg struct {
		Data []api.Patient `json:"data"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &pg) != nil || len(pg.Data) != 1 || pg.Data[0].LastName != "Okonkwo" {
		t.Errorf("patients --json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, errOut = scribe(t, "", "--profile", profile, "notes", "--per-page", "2")
	if code != 0 || !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 4 {
		t.Errorf("notes: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, errOut = scribe(t, "", "--profile", profile, "logout")
	if code != 0 || out != "Signed out of "+url+"\n" {
		t.Errorf("logout: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, _, errOut = scribe(t, "", "--profile", profile, "--server", "notaurl", "patients")
	if code != 1 || !strings.HasPrefix(errOut, `scribe: "notaurl" is not a URL`) {
		t.Errorf("--server notaurl: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = scribe(t, "", "frobnicate")
	if code != 2 || !strings.HasPrefix(errOut, `scribe: unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}

	// Ctrl-C stops the sandbox cleanly.
	if err := sb.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("scribe sandbox after Ctrl-C: %v; stderr:\n%s", err, sbErr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("scribe sandbox did not stop within 15s of Ctrl-C")
	}
}

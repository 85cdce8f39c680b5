package main

import (
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// startSandboxAt runs a sandbox keeping its state in dir, listening on addr.
func startSandboxAt(t *testing.T, dir, addr string) (*sandbox.Server, string) {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err := srv.Start(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return srv, url
}

// A clinician adds a patient while the server is down, sees it waiting in
// scribe queue, and sends it with scribe sync once the server is back: it
// lands exactly once.
func TestQueueOfflinePatientBinary(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // the server's address, free until it starts
	ln.Close()
	dir := filepath.Join(t.TempDir(), "sandbox")
	profile := filepath.Join(t.TempDir(), "profile")
	srv, url := startSandboxAt(t, dir, addr)

	code, out, errOut := scribe(t, sandbox.SamplePassword+"\n", "--profile", profile, "login", "--server", url, "--email", sandbox.SampleEmail, "--password-stdin")
	if code != 0 {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	code, out, errOut = scribe(t, "", "--profile", profile, "patients", "create", "--first", "Robin", "--middle", "Q", "--last", "Testpatient")
	m := regexp.MustCompile(`^Kept on this computer \(job (\d+)\): Robin Q Testpatient — the server ` + regexp.QuoteMeta(addr) +
		" cannot be reached\\. It will be sent by `scribe sync` or while the Scribe window is open\\.\n$").FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("offline patients create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	job := m[1]

	code, out, errOut = scribe(t, "", "--profile", profile, "queue")
	if code != 0 || !strings.HasPrefix(out, "1 queued\nServer "+addr+": offline") ||
		!regexp.MustCompile(`(?m)^`+job+` +create-patient +Add patient Robin Q Testpatient +queued +1 +when online `).MatchString(out) {
		t.Errorf("queue while offline: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = scribe(t, "", "--profile", profile, "queue", "--json")
	var q struct {
		Online bool `json:"online"`
		Jobs   []struct {
			IdempotencyKey string `json:"idempotency_key"`
		} `json:"jobs"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &q) != nil || q.Online || len(q.Jobs) != 1 {
		t.Fatalf("queue --json while offline: exit %d, %s", code, out)
	}

	srv, _ = startSandboxAt(t, dir, addr)
	start := time.Now()
	code, out, errOut = scribe(t, "", "--profile", profile, "sync")
	if code != 0 || out != "Sent 1 job:\n  "+job+"  Add patient Robin Q Testpatient\n" {
		t.Errorf("sync: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Logf("sync sent the patient in %s", time.Since(start).Round(time.Millisecond))
	if n := srv.EffectCount(q.Jobs[0].IdempotencyKey); n != 1 {
		t.Errorf("the patient took effect %d times at the server", n)
	}

	code, out, errOut = scribe(t, "", "--profile", profile, "patients", "--search", "testpatient", "--json")
	var pg struct {
		Data    []api.Patient `json:"data"`
		Offline bool          `json:"offline"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &pg) != nil || pg.Offline || len(pg.Data) != 1 || pg.Data[0].Id <= 0 {
		t.Errorf("patients after sync: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = scribe(t, "", "--profile", profile, "queue")
	if code != 0 || !strings.HasPrefix(out, "1 done\nServer "+addr+": online\n") {
		t.Errorf("queue after sync: exit %d\n%s", code, out)
	}
}

package cli

import (
	"encoding/json"
	"fmt"
	"github.com/nextvisit/scribe/app"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// sandboxAt runs a sandbox keeping its state in dir and listening on addr,
// so a test can stop it and bring "the same server" back.
func sandboxAt(t *testing.T, dir, addr string) (*sandbox.Server, string) {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: dir, ProcessingDelay: 200 * time.Millisecond})
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

// queueJSON is scribe queue --json as a script reads it.
type queueJSON struct {
	Counts  map[string]int `json:"counts"`
	Online  bool           `json:"online"`
	Server  string         `json:"server"`
	Remotes []struct {
		Host      string     `json:"host"`
		LastRead  *time.Time `json:"last_read"`
		LastWrite *time.Time `json:"last_write"`
	} `json:"remotes"`
	Jobs []struct {
		ID             int64      `json:"id"`
		Kind           string     `json:"kind"`
		Description    string     `json:"description"`
		State          string     `json:"state"`
		Attempts       int        `json:"attempts"`
		NextAttemptAt  *time.Time `json:"next_attempt_at"`
		LastError      string     `json:"last_error"`
		WhatToDo       string     `json:"what_to_do"`
		IdempotencyKey string     `json:"idempotency_key"`
	} `json:"jobs"`
}

func readQueue(t *testing.T, u *user, args ...string) queueJSON {
	t.Helper()
	r := u.run("", append([]string{"queue", "--json"}, args...)...).ok(t)
	var q queueJSON
	if err := json.Unmarshal([]byte(r.stdout), &q); err != nil {
		t.Fatalf("queue --json: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"queued", "running", "needs_attention", "done", "cancelled"} {
		if _, ok := q.Counts[k]; !ok {
			t.Errorf("queue --json counts lack %q: %v", k, q.Counts)
		}
	}
	return q
}

// searchPatients lists the patients whose names contain s, from the server.
func searchPatients(t *testing.T, u *user, s string) []api.Patient {
	t.Helper()
	r := u.run("", "patients", "--search", s, "--json").ok(t)
	var pg struct {
		Data    []api.Patient `json:"data"`
		Offline bool          `json:"offline"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &pg); err != nil {
		t.Fatalf("patients --json: %v\n%s", err, r.stdout)
	}
	if pg.Offline {
		t.Fatalf("patients --search %s answered offline", s)
	}
	return pg.Data
}

var keptRE = regexp.MustCompile(`^Kept on this computer \(job (\d+)\): (.+) — the server (\S+) cannot be reached\. It will be sent by ` +
	"`scribe sync`" + ` or while the Scribe window is open\.\n$`)

// Patients added while the server is down wait in the queue, are listed by
// scribe queue, and land exactly once when scribe sync runs after the
// server is back on the same address.
func TestQueueOfflineCreateThenSync(t *testing.T) {
	dir, addr := t.TempDir(), closedPort(t)
	srv, url := sandboxAt(t, dir, addr)
	u := newUser(t)
	login(t, u, url)
	u.run("", "patients").ok(t) // a read for the remotes line

	r := u.run("", "queue").ok(t)
	if !strings.HasPrefix(r.stdout, "No jobs\nServer "+addr+": online\nLast success with "+addr+": read ") ||
		!strings.HasSuffix(r.stdout, "\n\nNo unfinished jobs: everything made here has been sent.\n") {
		t.Errorf("queue with no jobs:\n%s", r.stdout)
	}
	q := readQueue(t, u)
	if !q.Online || q.Server != addr || len(q.Jobs) != 0 || len(q.Remotes) == 0 || q.Remotes[0].Host != addr ||
		q.Remotes[0].LastRead == nil || time.Since(*q.Remotes[0].LastRead) > time.Minute {
		t.Errorf("queue --json with no jobs: %+v", q)
	}

	srv.Close()
	r = u.run("", "patients", "create", "--first", "Robin", "--middle", "Q", "--last", "Testpatient").ok(t)
	m := keptRE.FindStringSubmatch(r.stdout)
	if m == nil || m[2] != "Robin Q Testpatient" || m[3] != addr {
		t.Fatalf("offline patients create printed %q (stderr %q)", r.stdout, r.stderr)
	}
	first := m[1]
	r = u.run("", "patients", "create", "--first", "Robin", "--last", "Second", "--json").ok(t)
	var added struct {
		api.Patient
		Pending bool  `json:"pending"`
		Job     int64 `json:"job"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil {
		t.Fatalf("offline patients create --json: %v\n%s", err, r.stdout)
	}
	if !added.Pending || added.Job == 0 || added.Id >= 0 || added.LastName != "Second" {
		t.Errorf("offline patients create --json: %+v", added)
	}
	second := fmt.Sprint(added.Job)

	r = u.run("", "queue").ok(t)
	checkAligned(t, r.stdout[strings.Index(r.stdout, "\n\n")+2:], "ID", "KIND", "DESCRIPTION", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR", "WHAT TO DO")
	for _, want := range []string{
		"2 queued\n",
		"Server " + addr + ": offline — cannot reach it; jobs wait here",
		first + "   create-patient  Add patient Robin Q Testpatient  queued",
		second + "   create-patient  Add patient Robin Second",
		"when online",
		"nothing: it is sent when the server can be reached",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("offline queue lacks %q:\n%s", want, r.stdout)
		}
	}
	q = readQueue(t, u)
	if q.Online || q.Counts["queued"] != 2 || len(q.Jobs) != 2 {
		t.Fatalf("offline queue --json: %+v", q)
	}
	keys := map[string]string{}
	for _, j := range q.Jobs {
		// The second job may not have been tried: when the first job's
		// attempt found the server gone, the queue stopped trying.
		if j.State != "queued" || j.Kind != "create-patient" || (j.Attempts > 0) != (j.LastError != "") || j.NextAttemptAt == nil || j.IdempotencyKey == "" {
			t.Errorf("offline job: %+v", j)
		}
		keys[fmt.Sprint(j.ID)] = j.IdempotencyKey
	}
	if q.Jobs[0].Description != "Add patient Robin Q Testpatient" || q.Jobs[0].Attempts < 1 {
		t.Errorf("first job described as %q", q.Jobs[0].Description)
	}

	r = u.run("", "queue", "retry", first)
	if r.code != 1 || r.stderr != "scribe: Job "+first+" is queued already — nothing to retry; scribe sync sends it now.\n" {
		t.Errorf("retry of a queued job: exit %d, stderr %q", r.code, r.stderr)
	}

	r = u.run("", "sync").ok(t)
	if r.stdout != "Offline: "+addr+" cannot be reached. 2 jobs wait on this computer; they will be sent when the server can be reached (scribe sync, or while the Scribe window is open).\n" {
		t.Errorf("offline sync printed %q", r.stdout)
	}

	srv, _ = sandboxAt(t, dir, addr)
	r = u.run("", "sync").ok(t)
	want := "Sent 2 jobs:\n  " + first + "  Add patient Robin Q Testpatient\n  " + second + "  Add patient Robin Second\n"
	if r.stdout != want {
		t.Errorf("sync printed %q, want %q", r.stdout, want)
	}
	for id, key := range keys {
		if n := srv.EffectCount(key); n != 1 {
			t.Errorf("job %s took effect %d times at the server", id, n)
		}
	}
	if ps := searchPatients(t, u, "Testpatient"); len(ps) != 1 || ps[0].Id <= 0 || ps[0].FirstName != "Robin" {
		t.Errorf("after sync the server has %+v", ps)
	}

	r = u.run("", "queue").ok(t)
	if !strings.HasPrefix(r.stdout, "2 done\nServer "+addr+": online\n") || !strings.HasSuffix(r.stdout, "No unfinished jobs: everything made here has been sent.\n") {
		t.Errorf("queue after sync:\n%s", r.stdout)
	}
	r = u.run("", "queue", "--all").ok(t)
	if strings.Count(r.stdout, "  done  ") != 2 {
		t.Errorf("queue --all does not show the two done jobs:\n%s", r.stdout)
	}
	if q := readQueue(t, u, "--state", "done"); len(q.Jobs) != 2 || q.Jobs[0].State != "done" || q.Jobs[0].NextAttemptAt != nil {
		t.Errorf("queue --state done --json: %+v", q.Jobs)
	}
	if r := u.run("", "sync").ok(t); r.stdout != "Nothing to send: everything made here has been sent.\n" {
		t.Errorf("sync with nothing to send printed %q", r.stdout)
	}
}

// A patient the server refuses needs attention: sync says so and fails,
// queue says what to do, retry queues it again and cancel gives up on it.
func TestQueueNeedsAttentionRetryCancel(t *testing.T) {
	dir, addr := t.TempDir(), closedPort(t)
	srv, url := sandboxAt(t, dir, addr)
	u := newUser(t)
	login(t, u, url)

	// Online, the patient is added at once.
	r := u.run("", "patients", "create", "--first", "Ada", "--last", "Online", "--json").ok(t)
	var added struct {
		api.Patient
		Pending bool  `json:"pending"`
		Job     int64 `json:"job"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.Pending || added.Job == 0 || added.Id <= 0 {
		t.Errorf("online patients create --json: %v %+v", err, added)
	}

	srv.Close()
	// Scribe accepts the date; the server refuses dates before 1900.
	r = u.run("", "patients", "create", "--first", "Old", "--last", "Timer", "--dob", "1850-01-01").ok(t)
	m := keptRE.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("offline patients create printed %q", r.stdout)
	}
	id := m[1]
	sandboxAt(t, dir, addr)

	r = u.run("", "sync")
	if r.code != 1 || !strings.HasSuffix(r.stderr, "\nscribe: 1 job needs your attention — see above, or scribe queue.\n") ||
		!strings.HasPrefix(r.stdout, "Needs attention (1):\n  "+id+"  Add patient Old Timer: ") ||
		!strings.Contains(r.stdout, "(scribe queue retry "+id+" · scribe queue cancel "+id+")") {
		t.Errorf("sync of a refused patient: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = u.run("", "queue").ok(t)
	if !strings.HasPrefix(r.stdout, "1 needs attention · 1 done\n") || !strings.Contains(r.stdout, "needs-attention") {
		t.Errorf("queue with a refused job:\n%s", r.stdout)
	}
	q := readQueue(t, u)
	if len(q.Jobs) != 1 || q.Jobs[0].State != "needs_attention" || q.Jobs[0].WhatToDo == "" || q.Jobs[0].LastError == "" || q.Jobs[0].NextAttemptAt != nil {
		t.Fatalf("queue --json with a refused job: %+v", q.Jobs)
	}

	r = u.run("", "queue", "retry", id).ok(t)
	if r.stdout != "Job "+id+" (Add patient Old Timer) is queued again; it is sent by scribe sync or while the Scribe window is open.\n" {
		t.Errorf("retry printed %q", r.stdout)
	}
	if q := readQueue(t, u, "--state", "queued"); len(q.Jobs) != 1 || fmt.Sprint(q.Jobs[0].ID) != id {
		t.Errorf("after retry, queued: %+v", q.Jobs)
	}
	if r := u.run("", "sync"); r.code != 1 {
		t.Errorf("sync of the retried, still refused job: exit %d\n%s", r.code, r.stdout)
	}
	if q := readQueue(t, u, "--state", "needs-attention"); len(q.Jobs) != 1 || q.Jobs[0].Attempts != 3 { // offline, refused, refused again
		t.Errorf("after the second refusal: %+v", q.Jobs)
	}

	r = u.run("", "queue", "cancel", id).ok(t)
	if r.stdout != "Cancelled job "+id+" (Add patient Old Timer): it will not be sent.\n" {
		t.Errorf("cancel printed %q", r.stdout)
	}
	r = u.run("", "queue").ok(t)
	if !strings.HasPrefix(r.stdout, "1 done · 1 cancelled\n") || !strings.Contains(r.stdout, "No unfinished jobs") {
		t.Errorf("queue after cancel:\n%s", r.stdout)
	}
	if ps := searchPatients(t, u, "Timer"); len(ps) != 0 {
		t.Errorf("the cancelled patient is listed: %+v", ps)
	}
	if r := u.run("", "sync").ok(t); r.stdout != "Nothing to send: everything made here has been sent.\n" {
		t.Errorf("sync after cancel printed %q", r.stdout)
	}

	done := fmt.Sprint(added.Job)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cancel", id}, "scribe: Job " + id + " is cancelled already — nothing to do.\n"},
		{[]string{"cancel", done}, "scribe: Job " + done + " is done: the server has it — there is nothing to cancel.\n"},
		{[]string{"retry", done}, "scribe: Job " + done + " is done: the server has it — nothing to retry.\n"},
		{[]string{"retry", "999"}, "scribe: There is no job 999 — list the jobs with scribe queue --all.\n"},
		{[]string{"retry", "abc"}, `scribe: "abc" is not a job ID — give the number from the ID column of scribe queue.` + "\n"},
		{[]string{"cancel", "0"}, `scribe: "0" is not a job ID — give the number from the ID column of scribe queue.` + "\n"},
		{[]string{"retry"}, "scribe: give one job ID, e.g. scribe queue retry 14 — the IDs are in the first column of scribe queue.\n"},
		{[]string{"cancel", "1", "2"}, "scribe: give one job ID, e.g. scribe queue cancel 14 — the IDs are in the first column of scribe queue.\n"},
	} {
		r := u.run("", append([]string{"queue"}, tc.args...)...)
		if r.code != 1 || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("queue %v: exit %d, stdout %q, stderr %q; want exit 1, %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
	// Retrying a cancelled job sends it after all (and it is refused again).
	if r := u.run("", "queue", "retry", id).ok(t); !strings.HasPrefix(r.stdout, "Job "+id+" (Add patient Old Timer) is queued again") {
		t.Errorf("retry of a cancelled job printed %q", r.stdout)
	}
}

// --wait bounds sync: a job cut off mid-send goes back to the queue, and
// the next sync sends it with one effect at the server.
func TestSyncWaitElapses(t *testing.T) {
	dir, addr := t.TempDir(), closedPort(t)
	srv, url := sandboxAt(t, dir, addr)
	u := newUser(t)
	login(t, u, url)
	srv.Close()
	r := u.run("", "patients", "create", "--first", "Slow", "--last", "Network").ok(t)
	if keptRE.FindStringSubmatch(r.stdout) == nil {
		t.Fatalf("offline patients create printed %q", r.stdout)
	}
	q := readQueue(t, u)
	if len(q.Jobs) != 1 {
		t.Fatalf("queue: %+v", q.Jobs)
	}
	key := q.Jobs[0].IdempotencyKey

	srv, _ = sandboxAt(t, dir, addr)
	// Every answer comes after 2 s: sync signs in (2 s), sends, and gives
	// up after --wait, before the answer.
	defer func(d time.Duration) { drainWait = d }(drainWait)
	drainWait = 0
	srv.Faults().SetLatency(2 * time.Second)
	r = u.run("", "sync", "--wait", "500ms").ok(t)
	if r.stdout != "1 job still wait after 500ms; they will be sent by the next scribe sync or while the Scribe window is open (scribe queue shows why).\n" {
		t.Errorf("sync --wait 500ms printed %q", r.stdout)
	}
	if q := readQueue(t, u); len(q.Jobs) != 1 || q.Jobs[0].State != "queued" {
		t.Errorf("after the cut-off sync: %+v", q.Jobs)
	}

	srv.Faults().SetLatency(0)
	r = u.run("", "sync").ok(t)
	if !strings.HasPrefix(r.stdout, "Sent 1 job:\n") {
		t.Errorf("sync printed %q", r.stdout)
	}
	if n := srv.EffectCount(key); n != 1 {
		t.Errorf("the patient took effect %d times", n)
	}
	if ps := searchPatients(t, u, "Network"); len(ps) != 1 {
		t.Errorf("the server has %d such patients", len(ps))
	}
}

func TestQueueUsageErrors(t *testing.T) {
	u := newUser(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", "--all", "--state", "done"}, "scribe: --all and --state both choose the jobs"},
		{[]string{"queue", "--state", "queued,bogus"}, `scribe: --state "bogus" is not a job state`},
		{[]string{"queue", "extra"}, `scribe: unexpected argument "extra"`},
		{[]string{"sync", "--wait", "0s"}, "scribe: --wait must be more than 0, not 0s"},
		{[]string{"sync", "--wait", "soon"}, `scribe: invalid value "soon" for flag -wait`},
		{[]string{"sync", "now"}, `scribe: unexpected argument "now"`},
	} {
		r := u.run("", tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := u.run("", "help", "queue").ok(t); r.stdout != queueUsage {
		t.Errorf("help queue printed:\n%s", r.stdout)
	}
	if r := u.run("", "sync", "--help").ok(t); r.stdout != syncUsage {
		t.Errorf("sync --help printed:\n%s", r.stdout)
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-300 * time.Millisecond), "just now"},
		{now.Add(-42 * time.Second), "42 s ago"},
		{now.Add(12 * time.Second), "in 12 s"},
		{now.Add(-3*time.Minute - 10*time.Second), "3 min ago"},
		{now.Add(5 * time.Hour), "in 5 h"},
		{now.Add(-72 * time.Hour), "3 days ago"},
	} {
		if got := app.Ago(tc.t, now); got != tc.want {
			t.Errorf("Ago(%v) = %q, want %q", now.Sub(tc.t), got, tc.want)
		}
	}
}

package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// The crash test's child process is this test binary run with these
// variables set: it runs TestCrashChild only.
const (
	crashProfileEnv = "SCRIBE_CRASH_PROFILE" // the profile folder
	crashCountEnv   = "SCRIBE_CRASH_N"       // how many patients to add
	crashDrainEnv   = "SCRIBE_CRASH_DRAIN"   // "1": exit once every job is done
)

// crashLease is the child's job lease: how long a job a killed child was
// running waits before the next child runs it again.
const crashLease = 2 * time.Second

// crashPatient is the i-th patient the child adds; last names are unique
// and fixed-width, so a name search finds one patient's copies only.
func crashPatient(i int) app.NewPatient {
	return app.NewPatient{FirstName: "Crash", LastName: fmt.Sprintf("Crashtest%03d", i)}
}

// TestCrashChild is the child process of TestCrashKillsLoseNoJob: it
// resumes the session stored in the profile, serves the outbox, adds
// whichever of the N patients earlier (killed) children had not added yet,
// and serves until killed, or in drain mode until every job is done.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashProfileEnv)
	if dir == "" {
		t.Skip("the child process of TestCrashKillsLoseNoJob; runs only under it")
	}
	n, err := strconv.Atoi(os.Getenv(crashCountEnv))
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", crashCountEnv, os.Getenv(crashCountEnv))
	}
	ctx := t.Context()
	c := serveChild(t, dir)

	// Which patients earlier children added: a job and its local patient
	// commit together, so a patient is either fully added or not at all.
	jobs, err := c.Jobs(ctx, app.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	added := map[string]bool{}
	for _, j := range jobs {
		added[app.DescribeJob(j)] = true
	}
	for i := range n {
		np := crashPatient(i)
		if added["Add patient "+np.FirstName+" "+np.LastName] {
			continue
		}
		if _, err := c.CreatePatient(ctx, np); err != nil {
			t.Fatalf("add patient %d: %v", i, err)
		}
	}

	if os.Getenv(crashDrainEnv) != "1" {
		<-ctx.Done() // until killed
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		changed := c.JobsChanged()
		counts, err := c.JobCounts(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[outbox.Done] == n {
			return
		}
		if counts[outbox.NeedsAttention] > 0 || counts[outbox.Cancelled] > 0 {
			t.Fatalf("jobs %v: some need attention or were cancelled", counts)
		}
		select {
		case <-changed:
		case <-wctx.Done():
			t.Fatalf("gave up waiting for the jobs to drain: %v", counts)
		}
	}
}

// arrivals counts the requests that add a patient as they reach the
// sandbox and as the sandbox finishes with them (answered, failed on
// purpose or with the reply dropped), and lets a test wait for either
// count to grow.
type arrivals struct {
	mu             sync.Mutex
	came, finished int
	changed        chan struct{}
}

func (a *arrivals) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1/patients") {
			next.ServeHTTP(w, r)
			return
		}
		a.bump(&a.came)
		defer a.bump(&a.finished) // also when a lost reply aborts the handler
		next.ServeHTTP(w, r)
	})
}

func (a *arrivals) bump(n *int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	*n++
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *arrivals) count() (came, finished int, changed <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.came, a.finished, a.changed
}

// child is one run of TestCrashChild.
type child struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	exited chan error
}

func startChild(t *testing.T, dir string, n int, drain bool) *child {
	t.Helper()
	env := []string{crashProfileEnv + "=" + dir, crashCountEnv + "=" + strconv.Itoa(n)}
	if drain {
		env = append(env, crashDrainEnv+"=1")
	}
	return spawnChild(t, "TestCrashChild", env...)
}

// spawnChild runs this test binary again as a child process running the
// test named, with env added to its environment; the test's cleanup kills
// it if it is still running.
func spawnChild(t *testing.T, test string, env ...string) *child {
	t.Helper()
	ch := &child{exited: make(chan error, 1)}
	ch.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	ch.cmd.Env = append(os.Environ(), env...)
	ch.cmd.Stdout, ch.cmd.Stderr = &ch.out, &ch.out
	if err := ch.cmd.Start(); err != nil {
		t.Fatalf("start the child: %v", err)
	}
	go func() { ch.exited <- ch.cmd.Wait() }()
	t.Cleanup(func() {
		if ch.cmd.ProcessState == nil {
			ch.cmd.Process.Kill()
			<-ch.exited
		}
	})
	return ch
}

// serveChild is a child process's Core: it opens the profile in dir as a
// fresh start of Scribe would (with crashLease, so the job a killed child
// was running is taken over soon), resumes the stored session, and serves
// the outbox until the test ends.
func serveChild(t *testing.T, dir string) *app.Core {
	t.Helper()
	ctx := t.Context()
	vault, err := platform.NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := app.Open(ctx, app.Config{
		ProfileDir: dir, Secrets: vault, JobLease: crashLease,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The client retries 503s and 429s itself; an offline start (every
	// try failed) still starts the session.
	for {
		_, err := c.Resume(ctx)
		if err == nil || errors.Is(err, app.ErrOffline) {
			break
		}
		if errors.Is(err, app.ErrSignedOut) || ctx.Err() != nil {
			t.Fatalf("resume: %v", err)
		}
	}
	// Serve after Resume, as the window and the command line do: a job
	// run before there is a session waits a minute for a sign-in.
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c.Serve(sctx) }()
	t.Cleanup(func() { // runs before Close: cleanups go last-in first-out
		stop()
		<-served
	})
	return c
}

// A child process adds patients and sends them against a sandbox that
// fails on purpose (503s, 429 bursts, latency, lost replies), and is killed
// with SIGKILL at random points, again and again; a last child finishes.
// Every patient must then exist at the server exactly once, with every job
// done and none lost.
func TestCrashKillsLoseNoJob(t *testing.T) {
	n, kills := 60, 8
	if testing.Short() {
		n, kills = 20, 4
	}
	began := time.Now()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	seen := &arrivals{changed: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: seen.wrap(srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	url := "http://" + ln.Addr().String() + "/api"

	p := newProfile(t)
	c := p.open(t, "")
	signIn(t, c, url)

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	f := srv.Faults()
	f.Seed(seed)
	f.SetErrorRate(0.2)
	f.SetLatency(20 * time.Millisecond)
	f.SetLostReplyRate(0.1)

	for k := range kills {
		f.Burst429(3, time.Second)
		// The kill lands as the target-th create request reaches the
		// sandbox (it may or may not take effect), or once the sandbox is
		// done with it (it took effect; the child may be recording it).
		from, _, _ := seen.count()
		target := from + 1 + rng.IntN(5)
		afterReply := rng.IntN(2) == 1
		started := time.Now()
		ch := startChild(t, p.dir, n, false)
		deadline := time.NewTimer(60 * time.Second)
	wait:
		for {
			came, finished, more := seen.count()
			got := came
			if afterReply {
				got = finished
			}
			if got >= target {
				break wait
			}
			select {
			case <-more:
			case err := <-ch.exited:
				t.Fatalf("child %d exited by itself: %v\n%s", k+1, err, ch.out.String())
			case <-deadline.C:
				t.Fatalf("child %d: no progress in 60 s (%d of %d requests)\n%s", k+1, got, target, ch.out.String())
			}
		}
		deadline.Stop()
		if err := ch.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-ch.exited
		when := "as it arrived"
		if afterReply {
			when = "once the sandbox was done with it"
		}
		t.Logf("child %d killed after %v, at create request %d %s", k+1, time.Since(started).Round(time.Millisecond), target, when)
	}

	f.Burst429(3, time.Second)
	drained := time.Now()
	last := startChild(t, p.dir, n, true)
	select {
	case err := <-last.exited:
		if err != nil {
			t.Fatalf("the last child: %v\n%s", err, last.out.String())
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("the last child did not finish in 4 minutes\n%s", last.out.String())
	}
	f.Reset()
	t.Logf("the last child finished in %v", time.Since(drained).Round(time.Millisecond))

	jobs, err := c.Jobs(t.Context(), app.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != n {
		t.Errorf("the profile holds %d jobs, want %d", len(jobs), n)
	}
	attempts, again := 0, 0
	byName := map[string]int{}
	for _, j := range jobs {
		attempts += j.Attempts
		if j.Attempts > 1 {
			again++
		}
		byName[app.DescribeJob(j)]++
		if j.State != outbox.Done {
			t.Errorf("job %d is %s (%s), want done", j.ID, j.State, j.LastError)
		}
		if got := srv.EffectCount(j.IdempotencyKey); got != 1 {
			t.Errorf("job %d (%s): EffectCount = %d, want 1", j.ID, app.DescribeJob(j), got)
		}
	}
	atServer := map[string]int{}
	for _, pt := range serverPatients(t, p, url, "Crashtest") {
		atServer[app.PatientName(pt)]++
	}
	for i := range n {
		np := crashPatient(i)
		name := np.FirstName + " " + np.LastName
		if byName["Add patient "+name] != 1 {
			t.Errorf("%s: %d jobs, want 1", name, byName["Add patient "+name])
		}
		if atServer[name] != 1 {
			t.Errorf("%s: %d patients at the server, want 1", name, atServer[name])
		}
	}
	if len(atServer) != n {
		t.Errorf("the server holds %d distinct Crashtest patients, want %d", len(atServer), n)
	}
	if _, err := c.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	pg, err := c.Patients(t.Context(), "crashtest", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range pg.Items {
		if app.IsLocal(pt) {
			t.Errorf("%s is still a local patient after every job is done", app.PatientName(pt))
		}
	}
	posts, _, _ := seen.count()
	t.Logf("%d patients, %d kills, %d job attempts in all (%d jobs tried more than once), %d create requests reached the sandbox, %v",
		n, kills, attempts, again, posts, time.Since(began).Round(time.Millisecond))
}

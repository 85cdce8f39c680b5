package outbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// startOn starts sb on addr ("127.0.0.1:0" for any port) and returns the
// host:port it listens on.
func startOn(t *testing.T, sb *sandbox.Server, addr string) string {
	t.Helper()
	base, err := sb.Start(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// serverPatients reads back every patient whose last name is last, by
// first name.
func serverPatients(t *testing.T, r *remote, last string) map[string][]int64 {
	t.Helper()
	c, err := r.signedIn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int64{}
	for p, err := range c.Patients(t.Context(), api.PatientQuery{Search: last, PerPage: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		if p.LastName == last {
			out[p.FirstName] = append(out[p.FirstName], p.Id)
		}
	}
	return out
}

// checkLanded checks that every job is done, took effect once at the
// sandbox, exists there exactly once under its name, and that within each
// group the server created the patients in enqueue order.
func checkLanded(t *testing.T, q *Queue, sb *sandbox.Server, r *remote, last string, groups [][]string) {
	t.Helper()
	onServer := serverPatients(t, r, last)
	total := 0
	for _, keys := range groups {
		var prev int64
		for _, key := range keys {
			total++
			if n := sb.EffectCount(key); n != 1 {
				t.Errorf("%s: %d effects at the sandbox, want 1", key, n)
			}
			ids := onServer[key] // the first name is the key
			if len(ids) != 1 {
				t.Errorf("%s: %d patients on the server, want 1", key, len(ids))
				continue
			}
			if got, ok := r.patientID(key); !ok || got != ids[0] {
				t.Errorf("%s: the job was answered with patient %d (answered %v), the server holds %d", key, got, ok, ids[0])
			}
			if ids[0] <= prev {
				t.Errorf("%s: patient %d created after %d, out of group order", key, ids[0], prev)
			}
			prev = ids[0]
		}
	}
	if len(onServer) != total {
		t.Errorf("%d distinct patients named %s on the server, want %d", len(onServer), last, total)
	}
	jobs, err := q.List(t.Context(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.State != Done {
			t.Errorf("job %s: %s (%s)", j.IdempotencyKey, j.State, j.LastError)
		}
	}
}

// enqueueGroups enqueues groups × perGroup create-patient jobs, the groups
// interleaved, and returns each group's keys in enqueue order.
func enqueueGroups(t *testing.T, q *Queue, prefix, last string, groups, perGroup int) [][]string {
	t.Helper()
	keys := make([][]string, groups)
	for n := range perGroup {
		for g := range groups {
			key := fmt.Sprintf("%s-g%02d-n%02d", prefix, g, n)
			mustEnqueue(t, q, patientJob(t, fmt.Sprintf("%s-g%02d", prefix, g), key, key, last))
			keys[g] = append(keys[g], key)
		}
	}
	return keys
}

// Jobs enqueued while the server is down wait (the queue goes offline after
// the first attempt finds nothing listening), then all land, in group
// order, once it starts: found by the probe, not by a backoff.
func TestOfflineJobsLandInGroupOrderWhenServerReturns(t *testing.T) {
	addr := freeAddr(t)
	sb := newSandbox(t) // made now, listening only later
	r := newRemote(t, addr, true)
	probes := make(chan struct{}, 100)
	q, _ := openQueue(t, Options{Workers: 4, BaseDelay: 10 * time.Millisecond, // ProbeEvery: the default, 1 s
		Probe: func(ctx context.Context) error {
			defer signal(probes)
			return r.probe(ctx)
		}})
	q.Register(kindCreatePatient, r.createPatient)
	keys := enqueueGroups(t, q, "offline", "Offline", 5, 6)
	serveQueue(t, q)

	waitChanged(t, q, "the queue offline after an attempt, every job queued", func() bool {
		jobs, err := q.List(t.Context(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		attempted := 0
		for _, j := range jobs {
			if j.State != Queued {
				return false
			}
			attempted += min(j.Attempts, 1)
		}
		return !q.Online() && attempted > 0 && len(jobs) == 30
	})
	for len(probes) > 0 {
		<-probes
	}
	waitFor(t, probes, 1, "a failed probe")
	if q.Online() {
		t.Fatal("online while nothing listens")
	}

	start := time.Now()
	startOn(t, sb, addr)
	waitDone(t, q, 30, 20*time.Second, nil)
	t.Logf("all 30 jobs done %v after the sandbox started listening", time.Since(start).Round(time.Millisecond))
	checkLanded(t, q, sb, r, "Offline", keys)
}

// With the sandbox failing on purpose — 503s, a burst of 429s asking for a
// second, latency, replies lost after the effect — every job still lands
// exactly once and in group order.
func TestExactlyOnceUnderFaults(t *testing.T) {
	sb := newSandbox(t)
	r := newRemote(t, startOn(t, sb, "127.0.0.1:0"), false)
	if _, err := r.signedIn(t.Context()); err != nil { // before the faults: signing in is not idempotent
		t.Fatal(err)
	}
	var lost, limited atomic.Int32
	q, _ := openQueue(t, Options{Workers: 4, BaseDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
		Probe: r.probe, ProbeEvery: 50 * time.Millisecond})
	q.Register(kindCreatePatient, func(ctx context.Context, j Job) error {
		err := r.createPatient(ctx, j)
		if errors.Is(err, api.ErrUnreachable) {
			lost.Add(1)
		}
		if errors.Is(err, api.ErrRateLimited) {
			limited.Add(1)
		}
		return err
	})
	keys := enqueueGroups(t, q, "faults", "Faults", 20, 10)
	f := sb.Faults()
	f.Seed(7)
	f.SetErrorRate(0.2)
	f.Burst429(8, time.Second)
	f.SetLatency(10 * time.Millisecond)
	f.SetLostReplyRate(0.1)
	start := time.Now()
	serveQueue(t, q)
	waitDone(t, q, 200, 60*time.Second, nil)
	elapsed := time.Since(start)
	f.Reset()

	jobs, err := q.List(t.Context(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	attempts := 0
	for _, j := range jobs {
		attempts += j.Attempts
	}
	t.Logf("200 jobs done in %v with %d attempts (%d lost replies, %d rate-limited)", elapsed.Round(time.Millisecond), attempts, lost.Load(), limited.Load())
	if lost.Load() == 0 || limited.Load() == 0 || attempts <= 200 {
		t.Errorf("the faults did not bite: %d attempts, %d lost replies, %d rate-limited", attempts, lost.Load(), limited.Load())
	}
	checkLanded(t, q, sb, r, "Faults", keys)
}

package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestEnqueueAndDrain(t *testing.T) {
	idle := make(chan struct{}, 1)
	q, _ := openQueue(t, Options{Workers: 4, idle: func() {
		select {
		case idle <- struct{}{}:
		default: // one pending signal is enough: the waiter re-checks
		}
	}})
	got := make(chan string, 100)
	q.Register("test", func(ctx context.Context, j Job) error {
		got <- j.IdempotencyKey
		return nil
	})
	serve(t, q)
	want := map[string]bool{}
	for g := range 5 {
		for n := range 10 {
			j := job(fmt.Sprintf("g%d", g), n)
			want[j.IdempotencyKey] = true
			mustEnqueue(t, q, j)
		}
	}
	for _, k := range waitFor(t, got, len(want), "jobs run") {
		if !want[k] {
			t.Errorf("job %s ran twice or was never enqueued", k)
		}
		delete(want, k)
	}
	// Done is recorded just after the handler returns, before the worker
	// goes idle; re-check at each idle until all are recorded.
	deadline := time.After(20 * time.Second)
	for {
		c, err := q.Counts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if c[Done] == 50 && len(c) == 1 {
			break
		}
		select {
		case <-idle:
		case <-deadline:
			t.Fatalf("counts %v, want 50 done", c)
		}
	}
}

func TestEnqueueTxCommitsWithStateChange(t *testing.T) {
	q, s := openQueue(t, Options{})
	db := s.SQL()
	for _, commit := range []bool{false, true} {
		tx, err := db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(t.Context(), "INSERT INTO settings (key, value) VALUES ('note', 'signed')"); err != nil {
			t.Fatal(err)
		}
		if _, err := q.EnqueueTx(t.Context(), tx, job("note1", 1)); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := q.List(t.Context(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		_, serr := s.Setting(t.Context(), "note")
		if commit && (len(jobs) != 1 || serr != nil) {
			t.Errorf("after commit: %d jobs, setting err %v; want the job and the change", len(jobs), serr)
		}
		if !commit && (len(jobs) != 0 || serr == nil) {
			t.Errorf("after rollback: %d jobs, setting err %v; want neither", len(jobs), serr)
		}
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	q, _ := openQueue(t, Options{})
	for name, j := range map[string]NewJob{
		"not json":   {Kind: "k", Group: "g", IdempotencyKey: "a", Payload: []byte("{oops")},
		"no version": {Kind: "k", Group: "g", IdempotencyKey: "b", Payload: []byte(`{"x":1}`)},
		"array":      {Kind: "k", Group: "g", IdempotencyKey: "c", Payload: []byte(`[1]`)},
		"no kind":    {Group: "g", IdempotencyKey: "d", Payload: []byte(`{"v":1}`)},
		"no group":   {Kind: "k", IdempotencyKey: "e", Payload: []byte(`{"v":1}`)},
		"no key":     {Kind: "k", Group: "g", Payload: []byte(`{"v":1}`)},
	} {
		if _, err := q.Enqueue(t.Context(), j); err == nil {
			t.Errorf("%s: enqueued", name)
		}
	}
	if c, _ := q.Counts(t.Context()); len(c) != 0 {
		t.Errorf("bad jobs were stored: %v", c)
	}
	id := mustEnqueue(t, q, job("g", 1))
	again, err := q.Enqueue(t.Context(), job("g", 1))
	if !errors.Is(err, ErrDuplicate) || again != id {
		t.Errorf("duplicate enqueue: %d, %v; want %d and ErrDuplicate", again, err, id)
	}
}

// Each group's effects must happen in enqueue order, exactly once, even
// with four workers and handlers failing transiently at random.
func TestGroupOrderUnderTransientFailures(t *testing.T) {
	q, _ := openQueue(t, Options{Workers: 4, Jitter: func(time.Duration) time.Duration { return 0 }})
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	effects := map[string][]int{}
	inFlight := map[string]int{}
	done := make(chan struct{}, 1000)
	failures := 0
	q.Register("test", func(ctx context.Context, j Job) error {
		var p struct {
			Group string
			N     int
		}
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return err
		}
		mu.Lock()
		inFlight[p.Group]++
		if inFlight[p.Group] > 1 {
			t.Errorf("group %s: two jobs at once", p.Group)
		}
		fail := rng.IntN(10) < 3
		if fail {
			failures++
		} else {
			effects[p.Group] = append(effects[p.Group], p.N)
		}
		inFlight[p.Group]--
		mu.Unlock()
		if fail {
			return Transient(errors.New("503 from the server"))
		}
		done <- struct{}{}
		return nil
	})
	const groups, per = 8, 25
	for n := range per {
		for g := range groups {
			mustEnqueue(t, q, job(fmt.Sprintf("g%d", g), n))
		}
	}
	serve(t, q)
	waitFor(t, done, groups*per, "effects")
	mu.Lock()
	defer mu.Unlock()
	if failures == 0 {
		t.Fatal("no failures were injected")
	}
	for g := range groups {
		got := effects[fmt.Sprintf("g%d", g)]
		for i, n := range got {
			if n != i {
				t.Fatalf("group g%d effects %v, want 0..%d in order, each once", g, got, per-1)
			}
		}
		if len(got) != per {
			t.Errorf("group g%d: %d effects, want %d", g, len(got), per)
		}
	}
}

func TestNeedsAttentionBlocksOnlyItsGroup(t *testing.T) {
	q, _ := openQueue(t, Options{})
	var ran []string
	broken := true
	q.Register("test", func(ctx context.Context, j Job) error {
		if j.IdempotencyKey == "a-1" && broken {
			return Permanent(errors.New("422: the patient has no date of birth"), "add the date of birth, then Retry")
		}
		ran = append(ran, j.IdempotencyKey)
		return nil
	})
	a1 := mustEnqueue(t, q, job("a", 1))
	a2 := mustEnqueue(t, q, job("a", 2))
	mustEnqueue(t, q, job("b", 1))
	mustEnqueue(t, q, job("b", 2))
	drain(t, q)
	if strings.Join(ran, ",") != "b-1,b-2" {
		t.Errorf("ran %v, want b-1,b-2 (group a blocked)", ran)
	}
	j := mustGet(t, q, a1)
	if j.State != NeedsAttention || !strings.Contains(j.LastError, "date of birth") || j.WhatToDo != "add the date of birth, then Retry" {
		t.Errorf("a-1: %+v, want needs-attention with reason and what to do", j)
	}
	if j := mustGet(t, q, a2); j.State != Queued || j.Attempts != 0 {
		t.Errorf("a-2: state %s attempts %d, want queued and never tried", j.State, j.Attempts)
	}
	// A permanent failure is never retried by itself, whatever the time.
	if n := drain(t, q); n != 0 {
		t.Errorf("%d jobs ran with the head needing attention", n)
	}
	broken = false
	if err := q.Retry(t.Context(), a1); err != nil {
		t.Fatal(err)
	}
	drain(t, q)
	if strings.Join(ran, ",") != "b-1,b-2,a-1,a-2" {
		t.Errorf("after retry ran %v", ran)
	}
}

func TestRetryAndCancel(t *testing.T) {
	q, _ := openQueue(t, Options{})
	var ran []string
	q.Register("test", func(ctx context.Context, j Job) error {
		if j.IdempotencyKey == "a-1" {
			return errors.New("unclassified")
		}
		ran = append(ran, j.IdempotencyKey)
		return nil
	})
	a1 := mustEnqueue(t, q, job("a", 1))
	a2 := mustEnqueue(t, q, job("a", 2))
	drain(t, q)
	if j := mustGet(t, q, a1); j.State != NeedsAttention {
		t.Fatalf("an unclassified error left the job %s, want needs-attention", j.State)
	}
	if err := q.Cancel(t.Context(), a1); err != nil {
		t.Fatal(err)
	}
	drain(t, q)
	if strings.Join(ran, ",") != "a-2" {
		t.Errorf("after cancelling the head ran %v, want a-2", ran)
	}
	if err := q.Cancel(t.Context(), a2); !errors.Is(err, ErrState) {
		t.Errorf("cancel of a done job: %v, want ErrState", err)
	}
	if err := q.Retry(t.Context(), a2); !errors.Is(err, ErrState) {
		t.Errorf("retry of a done job: %v, want ErrState", err)
	}
	if err := q.Cancel(t.Context(), 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel of a missing job: %v, want ErrNotFound", err)
	}
	if err := q.Retry(t.Context(), a1); err != nil {
		t.Fatalf("retry of a cancelled job: %v", err)
	}
	if j := mustGet(t, q, a1); j.State != Queued {
		t.Errorf("retried job is %s, want queued", j.State)
	}
	c, err := q.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c[Queued] != 1 || c[Done] != 1 || len(c) != 2 {
		t.Errorf("counts %v, want 1 queued, 1 done", c)
	}
	if l, err := q.List(t.Context(), Filter{States: []State{Done}}); err != nil || len(l) != 1 || l[0].ID != a2 {
		t.Errorf("list done: %v, %v", l, err)
	}
}

func TestBackoffSchedule(t *testing.T) {
	clock := newClock()
	var ceilings []time.Duration
	q, _ := openQueue(t, Options{Now: clock.Now, Jitter: func(d time.Duration) time.Duration {
		ceilings = append(ceilings, d)
		return d // the worst case: the full ceiling
	}})
	q.Register("test", func(ctx context.Context, j Job) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	})
	id := mustEnqueue(t, q, job("a", 1))
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600}
	for i, w := range want {
		w *= time.Second
		if n := drain(t, q); n != 1 {
			t.Fatalf("attempt %d: %d jobs ran, want 1", i+1, n)
		}
		j := mustGet(t, q, id)
		if j.State != Queued || j.Attempts != i+1 || !j.NextAttemptAt.Equal(clock.Now().Add(w)) {
			t.Fatalf("after attempt %d: %s, attempts %d, next in %s; want queued, next in %s",
				i+1, j.State, j.Attempts, j.NextAttemptAt.Sub(clock.Now()), w)
		}
		clock.Advance(w - time.Millisecond)
		if n := drain(t, q); n != 0 {
			t.Fatalf("attempt %d: the job ran before it was due", i+1)
		}
		clock.Advance(time.Millisecond)
	}
	if len(ceilings) != len(want) {
		t.Errorf("jitter asked %d times, want %d", len(ceilings), len(want))
	}
}

func TestDefaultJitterBounds(t *testing.T) {
	q, _ := openQueue(t, Options{})
	seen := map[time.Duration]bool{}
	for range 2000 {
		d := q.backoff(3, 0) // ceiling 4 s
		if d < 0 || d > 4*time.Second {
			t.Fatalf("backoff %s outside [0, 4s]", d)
		}
		seen[d.Round(500*time.Millisecond)] = true
	}
	if len(seen) < 8 { // 0, 0.5, ..., 4 s: nine buckets; full jitter hits them all
		t.Errorf("backoff covered only %d of 9 half-second buckets: not uniform over [0, ceiling]", len(seen))
	}
	if d := q.backoff(3, time.Minute); d != time.Minute {
		t.Errorf("backoff with Retry-After 1m: %s", d)
	}
}

type retryLater struct{ d time.Duration }

func (e retryLater) Error() string             { return "429 slow down" }
func (e retryLater) RetryAfter() time.Duration { return e.d }

func TestRetryAfterHonoured(t *testing.T) {
	clock := newClock()
	q, _ := openQueue(t, Options{Now: clock.Now, Jitter: func(time.Duration) time.Duration { return 0 }})
	q.Register("marked", func(ctx context.Context, j Job) error {
		return TransientAfter(errors.New("429"), 90*time.Second)
	})
	q.Register("own", func(ctx context.Context, j Job) error {
		return fmt.Errorf("create patient: %w", retryLater{2 * time.Minute})
	})
	a, b := job("a", 1), job("b", 1)
	a.Kind, b.Kind = "marked", "own"
	ida, idb := mustEnqueue(t, q, a), mustEnqueue(t, q, b)
	drain(t, q)
	for id, w := range map[ID]time.Duration{ida: 90 * time.Second, idb: 2 * time.Minute} {
		j := mustGet(t, q, id)
		if j.State != Queued || j.NextAttemptAt.Sub(clock.Now()) != w {
			t.Errorf("job %d: %s, next in %s; want queued, next in %s", id, j.State, j.NextAttemptAt.Sub(clock.Now()), w)
		}
	}
}

func TestMaxAge(t *testing.T) {
	clock := newClock()
	q, _ := openQueue(t, Options{Now: clock.Now, MaxAge: time.Hour, Jitter: func(d time.Duration) time.Duration { return d }})
	q.Register("test", func(ctx context.Context, j Job) error { return context.DeadlineExceeded })
	id := mustEnqueue(t, q, job("a", 1))
	drain(t, q)
	if j := mustGet(t, q, id); j.State != Queued {
		t.Fatalf("young job after a timeout: %s, want queued", j.State)
	}
	clock.Advance(time.Hour)
	drain(t, q)
	j := mustGet(t, q, id)
	if j.State != NeedsAttention || !strings.Contains(j.LastError, "still failing") || j.WhatToDo == "" {
		t.Fatalf("job past its max age: %+v, want needs-attention saying it is still failing", j)
	}
	// A manual Retry starts a fresh window.
	if err := q.Retry(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	drain(t, q)
	if j := mustGet(t, q, id); j.State != Queued {
		t.Errorf("retried job after a timeout: %s, want queued (fresh max-age window)", j.State)
	}
}

// A worker that claims a job and dies holds it only until its lease ends;
// then another runs it, and the dead claim can no longer record anything.
func TestLeaseExpiryRerunsCrashedJob(t *testing.T) {
	clock := newClock()
	q, _ := openQueue(t, Options{Now: clock.Now, Lease: time.Minute})
	runs := 0
	q.Register("test", func(ctx context.Context, j Job) error { runs++; return nil })
	id := mustEnqueue(t, q, job("a", 1))
	mustEnqueue(t, q, job("a", 2))
	dead, ok, err := q.claim(t.Context(), "crashed")
	if err != nil || !ok || dead.ID != id {
		t.Fatalf("claim: %v %v %v", dead.ID, ok, err)
	}
	if n := drain(t, q); n != 0 {
		t.Fatalf("%d jobs ran while the head was leased", n)
	}
	clock.Advance(time.Minute)
	if n := drain(t, q); n != 2 || runs != 2 {
		t.Fatalf("after the lease expired %d jobs ran (%d handler calls), want 2", n, runs)
	}
	j := mustGet(t, q, id)
	if j.State != Done || j.Attempts != 2 {
		t.Errorf("re-run job: %s after %d attempts, want done after 2", j.State, j.Attempts)
	}
	if err := q.settle(t.Context(), dead, NeedsAttention, 0, "late", ""); err != nil {
		t.Fatal(err)
	}
	if j := mustGet(t, q, id); j.State != Done {
		t.Errorf("the dead claim overwrote the outcome: %s", j.State)
	}
}

func TestUnknownKindNeedsAttention(t *testing.T) {
	q, _ := openQueue(t, Options{})
	q.Register("test", func(ctx context.Context, j Job) error { return nil })
	j := job("a", 1)
	j.Kind = "push-to-ehr-v9"
	id := mustEnqueue(t, q, j)
	other := mustEnqueue(t, q, job("b", 1))
	drain(t, q)
	got := mustGet(t, q, id)
	if got.State != NeedsAttention || !strings.Contains(got.LastError, `no handler for kind "push-to-ehr-v9"`) || !strings.Contains(got.WhatToDo, "update Scribe") {
		t.Errorf("unknown kind: %+v", got)
	}
	if g := mustGet(t, q, other); g.State != Done {
		t.Errorf("other job: %s, want done", g.State)
	}
}

func TestHandlerPanicNeedsAttention(t *testing.T) {
	q, _ := openQueue(t, Options{})
	q.Register("test", func(ctx context.Context, j Job) error {
		if j.Group == "a" {
			var m map[string]int
			m["boom"]++ // nil map write
		}
		return nil
	})
	id := mustEnqueue(t, q, job("a", 1))
	other := mustEnqueue(t, q, job("b", 1))
	drain(t, q)
	got := mustGet(t, q, id)
	if got.State != NeedsAttention || !strings.Contains(got.LastError, "assignment to entry in nil map") {
		t.Errorf("panicking handler: %+v, want needs-attention with the panic text", got)
	}
	if g := mustGet(t, q, other); g.State != Done {
		t.Errorf("other job: %s, want done", g.State)
	}
}

func TestCorruptPayloadNeedsAttention(t *testing.T) {
	q, s := openQueue(t, Options{})
	var ran []ID
	q.Register("test", func(ctx context.Context, j Job) error { ran = append(ran, j.ID); return nil })
	bad := mustEnqueue(t, q, job("a", 1))
	good := []ID{mustEnqueue(t, q, job("b", 1)), mustEnqueue(t, q, job("c", 1))}
	if _, err := s.SQL().ExecContext(t.Context(), "UPDATE jobs SET payload = ? WHERE id = ?", "\x00\xffgarbage", bad); err != nil {
		t.Fatal(err)
	}
	drain(t, q)
	j := mustGet(t, q, bad)
	if j.State != NeedsAttention || !strings.Contains(j.LastError, "not valid JSON") || j.WhatToDo == "" {
		t.Errorf("corrupt job: %+v", j)
	}
	if len(ran) != 2 || ran[0] != good[0] || ran[1] != good[1] {
		t.Errorf("handler ran %v, want the two good jobs %v", ran, good)
	}
}

// Offline, workers claim nothing even when kicked; going online wakes them.
func TestOfflinePausesAndOnlineKicks(t *testing.T) {
	idle := make(chan struct{}, 100)
	q, _ := openQueue(t, Options{Workers: 2, idle: func() {
		select {
		case idle <- struct{}{}:
		default:
		}
	}})
	ran := make(chan ID, 10)
	q.Register("test", func(ctx context.Context, j Job) error { ran <- j.ID; return nil })
	q.SetOnline(false)
	serve(t, q)
	waitFor(t, idle, 2, "workers idle")
	id := mustEnqueue(t, q, job("a", 1)) // kicks
	waitFor(t, idle, 2, "workers idle again after the kick")
	select {
	case <-ran:
		t.Fatal("a job ran while offline")
	default:
	}
	if j := mustGet(t, q, id); j.State != Queued || j.Attempts != 0 {
		t.Fatalf("offline job: %s, %d attempts", j.State, j.Attempts)
	}
	q.SetOnline(true)
	if got := waitFor(t, ran, 1, "job after going online"); got[0] != id {
		t.Errorf("ran %d, want %d", got[0], id)
	}
}

func TestClassify(t *testing.T) {
	plain := errors.New("400 bad request")
	for _, c := range []struct {
		name      string
		err       error
		transient bool
	}{
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"wrapped reset", fmt.Errorf("send: %w", syscall.ECONNRESET), true},
		{"deadline", fmt.Errorf("send: %w", context.DeadlineExceeded), true},
		{"dns", &net.DNSError{Err: "no such host", Name: "x"}, true},
		{"plain", plain, false},
		{"marked transient", Transient(plain), true},
		{"marked permanent network", Permanent(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "fix the URL"), false},
		{"retry-after", retryLater{time.Second}, true},
	} {
		if got, _, _ := classify(c.err); got != c.transient {
			t.Errorf("%s: transient %v, want %v", c.name, got, c.transient)
		}
	}
	if _, _, what := classify(Permanent(plain, "fix it")); what != "fix it" {
		t.Errorf("what to do: %q", what)
	}
	if Transient(nil) != nil || Permanent(nil, "x") != nil || TransientAfter(nil, time.Second) != nil {
		t.Error("marking nil made an error")
	}
}

package outbox

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// signal is a channel a hook sends on without ever blocking (a test that
// stopped listening must not wedge the queue's goroutines).
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitChanged waits on q.Changed until cond holds or the deadline passes.
func waitChanged(t *testing.T, q *Queue, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		ch := q.Changed() // before the check, so a change during it is not missed
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// A handler's Offline mark hands the job back due at once (no backoff),
// takes the queue offline, and no worker claims anything until it is back.
func TestOfflineMarkRequeuesWithoutBackoff(t *testing.T) {
	clock := newClock()
	idle := make(chan struct{}, 1)
	q, _ := openQueue(t, Options{Workers: 2, Now: clock.Now, BaseDelay: time.Hour,
		Jitter: func(d time.Duration) time.Duration { return d }, idle: func() { signal(idle) }})
	down := errors.New("dial tcp: connection refused")
	var reachable atomic.Bool
	ran := make(chan string, 10)
	q.Register("test", func(_ context.Context, j Job) error {
		if !reachable.Load() {
			return Offline(down)
		}
		ran <- j.IdempotencyKey
		return nil
	})
	id := mustEnqueue(t, q, job("a", 1))
	clock.Advance(time.Minute)
	if ok, err := q.step(t.Context(), "test"); !ok || err != nil {
		t.Fatalf("step: ran %v, %v", ok, err)
	}
	j := mustGet(t, q, id)
	if j.State != Queued || j.Attempts != 1 || !j.NextAttemptAt.Equal(clock.Now()) || !strings.Contains(j.LastError, "connection refused") {
		t.Errorf("offline job: %s, %d attempts, next %v (now %v), last error %q; want queued after 1 attempt, due now, with the error",
			j.State, j.Attempts, j.NextAttemptAt, clock.Now(), j.LastError)
	}
	if q.Online() {
		t.Fatal("the queue is online after a handler said the far end is unreachable")
	}

	// Serving while offline: a kick (a new job in another group) wakes the
	// workers, and they go back to waiting without claiming either job.
	serve(t, q)
	waitFor(t, idle, 1, "workers idle")
	other := mustEnqueue(t, q, job("b", 1))
	waitFor(t, idle, 1, "workers idle after the kick")
	if a, b := mustGet(t, q, id), mustGet(t, q, other); a.Attempts != 1 || b.Attempts != 0 || a.State != Queued || b.State != Queued {
		t.Fatalf("offline: job a %s after %d attempts, job b %s after %d; want both queued, untouched", a.State, a.Attempts, b.State, b.Attempts)
	}

	reachable.Store(true)
	q.SetOnline(true)
	got := waitFor(t, ran, 2, "jobs after going online")
	if len(got) != 2 || got[0] == got[1] {
		t.Errorf("ran %v, want a-1 and b-1", got)
	}
	if err := Offline(down); !errors.Is(err, ErrOffline) || !errors.Is(err, down) || err.Error() != down.Error() {
		t.Errorf("Offline(%v) = %v: want it to match ErrOffline and the cause, with the cause's text", down, err)
	}
	if Offline(nil) != nil {
		t.Error("Offline(nil) made an error")
	}
}

// While offline the queue probes; a failing probe keeps it offline and
// claims nothing, and the first probe that succeeds brings it back and the
// waiting job runs.
func TestProbeBringsQueueOnline(t *testing.T) {
	var reachable atomic.Bool
	probes := make(chan struct{}, 100)
	// Two workers: one that read the queue as online just before the other
	// took it offline must still not claim the handed-back job.
	q, _ := openQueue(t, Options{Workers: 2, ProbeEvery: 5 * time.Millisecond, Probe: func(context.Context) error {
		defer signal(probes)
		if reachable.Load() {
			return nil
		}
		return errors.New("connection refused")
	}})
	var calls atomic.Int32
	ran := make(chan ID, 1)
	q.Register("test", func(_ context.Context, j Job) error {
		calls.Add(1)
		if !reachable.Load() {
			return Offline(errors.New("connection refused"))
		}
		ran <- j.ID
		return nil
	})
	serve(t, q)
	id := mustEnqueue(t, q, job("a", 1))
	waitChanged(t, q, "the queue to go offline with the job handed back", func() bool {
		return !q.Online() && mustGet(t, q, id).State == Queued
	})
	// Drain what is already buffered, then see three failed probes in a row.
	for len(probes) > 0 {
		<-probes
	}
	waitFor(t, probes, 3, "failed probes")
	if q.Online() {
		t.Fatal("online although every probe failed")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times while offline, want 1 (the call that found the far end gone)", n)
	}
	if j := mustGet(t, q, id); j.State != Queued || j.Attempts != 1 {
		t.Fatalf("job while offline: %s after %d attempts", j.State, j.Attempts)
	}
	reachable.Store(true)
	if got := waitFor(t, ran, 1, "the job once a probe succeeds"); got[0] != id {
		t.Errorf("ran %d, want %d", got[0], id)
	}
	if !q.Online() {
		t.Errorf("offline after a probe succeeded and a job ran (handler called %d times)", calls.Load())
	}
}

// RetryNow cuts a backoff short; it leaves jobs that are already due and
// jobs that are not queued alone.
func TestRetryNow(t *testing.T) {
	clock := newClock()
	q, _ := openQueue(t, Options{Now: clock.Now, BaseDelay: time.Hour, MaxDelay: 2 * time.Hour,
		Jitter: func(d time.Duration) time.Duration { return d }})
	var fail atomic.Bool
	fail.Store(true)
	q.Register("test", func(context.Context, Job) error {
		if fail.Load() {
			return Transient(errors.New("503"))
		}
		return nil
	})
	q.Register("broken", func(context.Context, Job) error { return Permanent(errors.New("422"), "fix it") })
	backedOff := mustEnqueue(t, q, job("a", 1))
	stuck := mustEnqueue(t, q, NewJob{Kind: "broken", Group: "b", IdempotencyKey: "b-1", Payload: []byte(`{"v":1}`)})
	drain(t, q)
	if j := mustGet(t, q, backedOff); j.State != Queued || !j.NextAttemptAt.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("backed-off job: %s next %v, want queued an hour from %v", j.State, j.NextAttemptAt, clock.Now())
	}
	mustEnqueue(t, q, job("c", 1)) // due now already: not counted
	fail.Store(false)
	clock.Advance(time.Minute)
	kick := q.kicked()
	n, err := q.RetryNow(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("RetryNow: %d, %v; want 1 job moved", n, err)
	}
	if !isClosed(kick) {
		t.Error("RetryNow did not wake the workers")
	}
	if j := mustGet(t, q, backedOff); !j.NextAttemptAt.Equal(clock.Now()) {
		t.Errorf("after RetryNow the job is due %v, want now (%v)", j.NextAttemptAt, clock.Now())
	}
	if ran := drain(t, q); ran != 2 {
		t.Errorf("drain after RetryNow ran %d jobs, want 2 (the backed-off one and c-1)", ran)
	}
	if j := mustGet(t, q, backedOff); j.State != Done {
		t.Errorf("backed-off job: %s, want done", j.State)
	}
	if j := mustGet(t, q, stuck); j.State != NeedsAttention {
		t.Errorf("needs-attention job: %s; RetryNow must not touch it", j.State)
	}
	if n, err := q.RetryNow(t.Context()); err != nil || n != 0 {
		t.Errorf("RetryNow with nothing backed off: %d, %v", n, err)
	}
}

// Changed is closed by every change a queue screen shows, and only then.
func TestChangedClosesOnEveryChange(t *testing.T) {
	q, _ := openQueue(t, Options{})
	ctx := t.Context()
	q.Register("test", func(context.Context, Job) error { return Permanent(errors.New("422"), "fix it") })
	must := func(what string, want bool, f func() error) {
		t.Helper()
		ch := q.Changed()
		if err := f(); err != nil && want {
			t.Fatalf("%s: %v", what, err)
		}
		if got := isClosed(ch); got != want {
			t.Errorf("%s: Changed closed = %v, want %v", what, got, want)
		}
	}
	var a, b ID
	must("enqueue", true, func() (err error) { a, err = q.Enqueue(ctx, job("a", 1)); return err })
	must("duplicate enqueue", false, func() error { _, err := q.Enqueue(ctx, job("a", 1)); return err })
	must("enqueue another", true, func() (err error) { b, err = q.Enqueue(ctx, job("b", 1)); return err })
	var claimed Job
	must("claim", true, func() error {
		j, ok, err := q.claim(ctx, "test")
		if err == nil && !ok {
			err = errors.New("nothing to claim")
		}
		claimed = j
		return err
	})
	if claimed.ID != a {
		t.Fatalf("claimed %d, want %d", claimed.ID, a)
	}
	must("settle", true, func() error { return q.settle(ctx, claimed, NeedsAttention, 0, "422", "fix it") })
	must("retry", true, func() error { return q.Retry(ctx, a) })
	must("cancel", true, func() error { return q.Cancel(ctx, b) })
	must("cancel of a cancelled job", false, func() error { return q.Cancel(ctx, b) })
	must("go offline", true, func() error { q.SetOnline(false); return nil })
	must("offline again", false, func() error { q.SetOnline(false); return nil })
	must("go online", true, func() error { q.SetOnline(true); return nil })
	must("online again", false, func() error { q.SetOnline(true); return nil })
}

// A job added with EnqueueTx is announced only by Committed, after the
// caller's commit: before it, watchers and workers are not woken.
func TestCommittedAfterEnqueueTx(t *testing.T) {
	q, s := openQueue(t, Options{Workers: 2})
	ran := make(chan ID, 1)
	q.Register("test", func(_ context.Context, j Job) error { ran <- j.ID; return nil })
	serve(t, q)
	changed, kick := q.Changed(), q.kicked()
	tx, err := s.SQL().BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.EnqueueTx(t.Context(), tx, job("note", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if isClosed(changed) || isClosed(kick) {
		t.Fatal("EnqueueTx announced a job before the caller's commit")
	}
	q.Committed()
	if !isClosed(changed) || !isClosed(kick) {
		t.Fatal("Committed did not close Changed and wake the workers")
	}
	if got := waitFor(t, ran, 1, "the committed job"); got[0] != id {
		t.Errorf("ran %d, want %d", got[0], id)
	}
}

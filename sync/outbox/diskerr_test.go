package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nextvisit/scribe/sync/store"
)

// onOneConn makes db a pool of one connection, so a per-connection PRAGMA
// set by the test applies to every statement the queue runs.
func onOneConn(t *testing.T, db *sql.DB, pragma string) {
	t.Helper()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(t.Context(), "PRAGMA "+pragma); err != nil {
		t.Fatalf("PRAGMA %s: %v", pragma, err)
	}
}

func bigJob(group string, n int) NewJob {
	j := job(group, n)
	j.Payload = []byte(fmt.Sprintf(`{"v":1,"pad":%q}`, strings.Repeat("x", 256<<10)))
	return j
}

// recordOrder registers a handler that records the keys it runs.
func recordOrder(q *Queue) *[]string {
	var ran []string
	q.Register("test", func(_ context.Context, j Job) error { ran = append(ran, j.IdempotencyKey); return nil })
	return &ran
}

// checkDrainedInOrder drains q and checks every job is done and each
// group's jobs ran in enqueue order.
func checkDrainedInOrder(t *testing.T, q *Queue, ran *[]string, want int) {
	t.Helper()
	if n := drain(t, q); n != want {
		t.Errorf("drained %d jobs, want %d", n, want)
	}
	c, err := q.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c[Done] != want || len(c) != 1 {
		t.Errorf("counts %v, want %d done", c, want)
	}
	jobs, err := q.List(t.Context(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, k := range *ran {
		pos[k] = i
	}
	last := map[string]ID{}
	for _, j := range jobs { // in enqueue order
		if p, ok := last[j.Group]; ok {
			prev := mustGet(t, q, p)
			if pos[prev.IdempotencyKey] > pos[j.IdempotencyKey] {
				t.Errorf("group %s: %s ran before %s", j.Group, j.IdempotencyKey, prev.IdempotencyKey)
			}
		}
		last[j.Group] = j.ID
	}
}

// A full disk refuses the new job with ErrDiskFull and a clear message;
// the jobs already queued are all there and drain once there is room.
func TestEnqueueOnFullDisk(t *testing.T) {
	q, s := openQueue(t, Options{})
	db := s.SQL()
	for n := range 5 {
		for _, g := range []string{"a", "b", "c", "d"} {
			mustEnqueue(t, q, job(g, n))
		}
	}
	var pages int
	if err := db.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	onOneConn(t, db, fmt.Sprintf("max_page_count = %d", pages))

	_, err := q.Enqueue(t.Context(), bigJob("a", 99))
	if !errors.Is(err, store.ErrDiskFull) || !strings.Contains(err.Error(), "free some space") || !strings.Contains(err.Error(), "enqueue test job") {
		t.Fatalf("enqueue on a full disk: %v, want ErrDiskFull naming the job and saying to free space", err)
	}
	// In a transaction with its state change: both are refused together.
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), "INSERT INTO settings (key, value) VALUES ('note', 'signed')"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.EnqueueTx(t.Context(), tx, bigJob("e", 1)); !errors.Is(err, store.ErrDiskFull) {
		t.Errorf("EnqueueTx on a full disk: %v, want ErrDiskFull", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Setting(t.Context(), "note"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the state change of the refused job was kept: %v", err)
	}
	c, err := q.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c[Queued] != 20 || len(c) != 1 {
		t.Fatalf("after the refusals: %v, want the 20 earlier jobs queued", c)
	}

	onOneConn(t, db, "max_page_count = 1073741823") // room again
	mustEnqueue(t, q, bigJob("a", 99))
	ran := recordOrder(q)
	checkDrainedInOrder(t, q, ran, 21)
}

// A read-only database (query_only gives SQLITE_READONLY, as a read-only
// file does) refuses every change with ErrReadOnly; nothing is lost, and
// the queue drains once it is writable again.
func TestReadOnlyDatabase(t *testing.T) {
	q, s := openQueue(t, Options{})
	db := s.SQL()
	var ids []ID
	for n := range 3 {
		for _, g := range []string{"a", "b"} {
			ids = append(ids, mustEnqueue(t, q, job(g, n)))
		}
	}
	onOneConn(t, db, "query_only = ON")
	ctx := t.Context()
	for what, err := range map[string]error{
		"enqueue":   func() error { _, err := q.Enqueue(ctx, job("c", 1)); return err }(),
		"cancel":    q.Cancel(ctx, ids[0]),
		"retry now": func() error { _, err := q.RetryNow(ctx); return err }(),
		"claim":     func() error { _, err := q.step(ctx, "test"); return err }(),
	} {
		if !errors.Is(err, store.ErrReadOnly) || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s on a read-only database: %v, want ErrReadOnly", what, err)
		}
	}
	onOneConn(t, db, "query_only = OFF")
	for _, id := range ids {
		if j := mustGet(t, q, id); j.State != Queued || j.Attempts != 0 {
			t.Errorf("job %d after the refusals: %s, %d attempts", id, j.State, j.Attempts)
		}
	}
	ran := recordOrder(q)
	checkDrainedInOrder(t, q, ran, 6)
}

// A job that cannot record its outcome (the disk went read-only while it
// ran) stays leased and says why; it is not lost and runs again later.
func TestSettleOnReadOnlyDatabase(t *testing.T) {
	clock := newClock()
	q, s := openQueue(t, Options{Now: clock.Now})
	db := s.SQL()
	id := mustEnqueue(t, q, job("a", 1))
	runs := 0
	q.Register("test", func(context.Context, Job) error {
		runs++
		if runs == 1 {
			onOneConn(t, db, "query_only = ON")
		}
		return nil
	})
	_, err := q.step(t.Context(), "test")
	if !errors.Is(err, store.ErrReadOnly) || !strings.Contains(err.Error(), fmt.Sprintf("job %d", id)) {
		t.Fatalf("settle on a read-only database: %v, want ErrReadOnly naming the job", err)
	}
	onOneConn(t, db, "query_only = OFF")
	if j := mustGet(t, q, id); j.State != Running {
		t.Fatalf("job after the failed settle: %s, want still running (leased)", j.State)
	}
	clock.Advance(q.opt.Lease) // the lease runs out: the job is claimable again
	if n := drain(t, q); n != 1 || runs != 2 {
		t.Fatalf("after the lease: drained %d, handler ran %d times; want it run once more", n, runs)
	}
	if j := mustGet(t, q, id); j.State != Done {
		t.Errorf("job: %s, want done", j.State)
	}
}

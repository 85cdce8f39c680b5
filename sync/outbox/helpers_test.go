package outbox

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/store"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openQueue opens a fresh profile database in a temporary folder.
func openQueue(tb testing.TB, opt Options) (*Queue, *store.DB) {
	tb.Helper()
	s, err := store.Open(tb.Context(), filepath.Join(tb.TempDir(), store.FileName), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return New(s.SQL(), opt), s
}

func job(group string, n int) NewJob {
	return NewJob{
		Kind:           "test",
		Group:          group,
		IdempotencyKey: fmt.Sprintf("%s-%d", group, n),
		Payload:        []byte(fmt.Sprintf(`{"v":1,"group":%q,"n":%d}`, group, n)),
	}
}

func mustEnqueue(t *testing.T, q *Queue, j NewJob) ID {
	t.Helper()
	id, err := q.Enqueue(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// drain runs jobs on the calling goroutine until none is runnable.
func drain(t *testing.T, q *Queue) int {
	t.Helper()
	n := 0
	for {
		ran, err := q.step(t.Context(), "test")
		if err != nil {
			t.Fatal(err)
		}
		if !ran {
			return n
		}
		n++
	}
}

func mustGet(t *testing.T, q *Queue, id ID) Job {
	t.Helper()
	j, err := q.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// serve runs q.Serve until the test ends.
func serve(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- q.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// waitFor receives n values from ch or fails at the deadline.
func waitFor[T any](t *testing.T, ch <-chan T, n int, what string) []T {
	t.Helper()
	deadline := time.After(20 * time.Second)
	var got []T
	for len(got) < n {
		select {
		case v := <-ch:
			got = append(got, v)
		case <-deadline:
			t.Fatalf("%s: got %d of %d before the deadline", what, len(got), n)
		}
	}
	return got
}

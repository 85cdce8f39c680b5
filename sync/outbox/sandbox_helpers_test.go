package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// The integration tests and the drain benchmark run real create-patient
// jobs against the sandbox through the real API client, so the outbox's
// retries meet the sandbox's faults and idempotency keys end to end.

const kindCreatePatient = "patient.create"

// patientPayload is a create-patient job's payload (version 1).
type patientPayload struct {
	V         int    `json:"v"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

func patientJob(tb testing.TB, group, key, first, last string) NewJob {
	tb.Helper()
	p, err := json.Marshal(patientPayload{V: 1, FirstName: first, LastName: last})
	if err != nil {
		tb.Fatal(err)
	}
	return NewJob{Kind: kindCreatePatient, Group: group, IdempotencyKey: key, Payload: p}
}

// remote is the far end as a handler sees it: the sandbox's URL, a client
// that signs in on first use (so jobs can be enqueued before the server
// exists), and the patient id each job's key was answered with.
type remote struct {
	addr string // host:port
	anon *api.Client

	mu      sync.Mutex
	client  *api.Client // signed in; nil until the first successful Login
	created map[string]int64
}

// newRemote makes the far end at addr. With keepAlive false every request
// has a connection of its own, so net/http never resends a request whose
// reply was lost on a reused connection (which it does by itself for one
// carrying an Idempotency-Key) and each lost reply reaches the outbox.
func newRemote(tb testing.TB, addr string, keepAlive bool) *remote {
	tb.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = !keepAlive
	hc := &http.Client{Transport: tr}
	tb.Cleanup(hc.CloseIdleConnections)
	// One attempt: the outbox, not the client, retries.
	c, err := api.New("http://"+addr+"/api", api.Options{HTTPClient: hc, MaxAttempts: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return &remote{addr: addr, anon: c, created: map[string]int64{}}
}

func (r *remote) signedIn(ctx context.Context) (*api.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return r.client, nil
	}
	tok, err := r.anon.Login(ctx, sandbox.SampleEmail, sandbox.SamplePassword, "outbox tests")
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	r.client = r.anon.WithToken(tok.Token)
	return r.client, nil
}

// probe is the queue's reachability check: can a TCP connection be made?
func (r *remote) probe(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// createPatient is the job handler.
func (r *remote) createPatient(ctx context.Context, j Job) error {
	var p patientPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return Permanent(fmt.Errorf("read create-patient payload: %w", err), "Cancel this job and add the patient again")
	}
	c, err := r.signedIn(ctx)
	if err != nil {
		return markAPIError(err)
	}
	pt, err := c.CreatePatient(ctx, api.PatientInput{FirstName: p.FirstName, LastName: p.LastName}, j.IdempotencyKey)
	if err != nil {
		return markAPIError(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created[j.IdempotencyKey] = pt.Id
	return nil
}

// count is how many keys have been answered.
func (r *remote) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.created)
}

func (r *remote) patientID(key string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.created[key]
	return id, ok
}

// markAPIError sorts an API client error into the outbox's marks. The
// client reports every failure without an HTTP answer as ErrUnreachable;
// only one that failed to connect means the server is down (Offline). One
// after the request went out (the connection dropped before the answer: a
// lost reply) may have taken effect, so it is retried with the same key
// (Transient), which the server answers by replaying its first reply.
func markAPIError(err error) error {
	var rl *api.RateLimitError
	var se *api.StatusError
	var ve *api.ValidationError
	var op *net.OpError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rl):
		return TransientAfter(err, rl.RetryAfter())
	case errors.Is(err, api.ErrUnreachable) && errors.As(err, &op) && op.Op == "dial":
		return Offline(err)
	case errors.Is(err, api.ErrUnreachable):
		return Transient(err)
	case errors.As(err, &se) && (se.StatusCode >= 500 || se.StatusCode == http.StatusRequestTimeout):
		return Transient(err)
	case errors.Is(err, api.ErrBadResponse):
		return Transient(err)
	case errors.As(err, &ve):
		return Permanent(err, "correct the patient's details, then add the patient again")
	case errors.Is(err, api.ErrUnauthorized):
		return Permanent(err, "sign in again, then Retry the job")
	}
	return Permanent(err, "see the error; fix its cause, then Retry the job, or Cancel it")
}

// newSandbox makes a sandbox (not yet listening) whose state lives in a
// temporary folder.
func newSandbox(tb testing.TB) *sandbox.Server {
	tb.Helper()
	sb, err := sandbox.New(tb.Context(), sandbox.Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := sb.Close(); err != nil {
			tb.Errorf("close sandbox: %v", err)
		}
	})
	return sb
}

// freeAddr reserves a loopback port and lets it go, so nothing listens
// there until the test starts a server on it.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// serveQueue runs q.Serve until the returned stop is called (or the test
// ends); stop waits for the workers to finish.
func serveQueue(tb testing.TB, q *Queue) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(tb.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Serve(ctx) // returns ctx's error, which is ours
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	tb.Cleanup(stop)
	return stop
}

// waitDone waits, on q.Changed, until n jobs are done, failing at the
// deadline with the counts. ready, when not nil, is a cheap check that
// must hold before the counts are read.
func waitDone(tb testing.TB, q *Queue, n int, within time.Duration, ready func() bool) {
	tb.Helper()
	deadline := time.After(within)
	var last map[State]int
	for {
		ch := q.Changed()
		if ready == nil || ready() {
			c, err := q.Counts(tb.Context())
			if err != nil {
				tb.Fatal(err)
			}
			if c[Done] == n {
				return
			}
			last = c
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("gave up after %v waiting for %d jobs done; counts %v", within, n, last)
		}
	}
}

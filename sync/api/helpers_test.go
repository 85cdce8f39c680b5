package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waits records the retry waits the doer asked for instead of sleeping them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// newTestClient makes a client whose waits are recorded, not slept, and whose jitter is the full
// backoff ceiling, so that tests can assert the exact schedule.
func newTestClient(t *testing.T, baseURL string, opts Options) (*Client, *waits) {
	t.Helper()
	if opts.Token == "" {
		opts.Token = "test-token"
	}
	c, err := New(baseURL, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", baseURL, err)
	}
	w := &waits{}
	c.doer.sleep = func(ctx context.Context, d time.Duration) error {
		w.add(d)
		return ctx.Err()
	}
	c.doer.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	return c, w
}

// server starts an httptest server that counts requests; URL is the "/api" base, as in production.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

// newServer's handler gets the request's 1-based number.
func newServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, int(s.hits.Add(1)))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) base() string { return s.URL + "/api" }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var sampleUser = map[string]any{"id": 7, "name": "Dr. Test", "email": "test@example.com"}

func sampleNote(id int64) map[string]any {
	return map[string]any{
		"id": id, "name": "Visit", "team_id": 1, "user_id": 7,
		"created_at": "2025-01-02T03:04:05Z", "updated_at": "2025-01-02T03:04:05Z",
	}
}

// countingTransport counts the response body bytes the client actually reads.
type countingTransport struct {
	base http.RoundTripper
	read atomic.Int64
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if resp != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &t.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

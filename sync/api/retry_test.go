package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRetry429HonoursRetryAfterSeconds(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 2 {
			w.Header().Set("Retry-After", "2")
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "Too Many Attempts."})
			return
		}
		writeJSON(w, http.StatusOK, sampleUser)
	})
	c, w := newTestClient(t, s.base(), Options{})

	u, err := c.User(t.Context())
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	if u.Id != 7 {
		t.Errorf("user id = %d, want 7", u.Id)
	}
	if got := s.hits.Load(); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	if got, want := w.all(), []time.Duration{2 * time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v (Retry-After, not the backoff)", got, want)
	}
}

func TestRetry429HonoursRetryAfterDate(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", now.Add(3*time.Second).Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		writeJSON(w, http.StatusOK, sampleUser)
	})
	c, w := newTestClient(t, s.base(), Options{})
	c.doer.now = func() time.Time { return now }

	if _, err := c.User(t.Context()); err != nil {
		t.Fatalf("User: %v", err)
	}
	if got, want := w.all(), []time.Duration{3 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

// The real timer (not the test seam) waits at least what Retry-After says.
func TestRetryAfterWaitsOnTheRealClock(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		writeJSON(w, http.StatusOK, sampleUser)
	})
	c, err := New(s.base(), Options{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.User(t.Context()); err != nil {
		t.Fatalf("User: %v", err)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("retried after %v, before the 1 s Retry-After", elapsed)
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("attempts = %d, want 2", got)
	}
}

func TestBackoffRetriesServerErrorsThenSucceeds(t *testing.T) {
	codes := []int{500, 502, 504}
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= len(codes) {
			w.WriteHeader(codes[n-1])
			return
		}
		writeJSON(w, http.StatusOK, sampleUser)
	})
	c, w := newTestClient(t, s.base(), Options{})

	if _, err := c.User(t.Context()); err != nil {
		t.Fatalf("User: %v", err)
	}
	if got := s.hits.Load(); got != 4 {
		t.Errorf("attempts = %d, want 4", got)
	}
	// The jitter seam returns the whole ceiling, so the waits are the capped exponential ceilings.
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if got := w.all(); !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestBackoffCeilingIsCapped(t *testing.T) {
	d := newRetryDoer(http.DefaultClient, 10, nil)
	var got []time.Duration
	for attempt := 1; attempt <= 8; attempt++ {
		got = append(got, d.backoffCeiling(attempt))
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("ceilings = %v, want %v", got, want)
	}
	for range 1000 {
		if j := fullJitter(time.Second); j < 0 || j >= time.Second {
			t.Fatalf("fullJitter(1s) = %v, outside [0, 1s)", j)
		}
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxAttempts int
		want        int32
	}{
		{"default", 0, 4},
		{"two", 2, 2},
		{"no retries", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "down for maintenance"})
			})
			c, w := newTestClient(t, s.base(), Options{MaxAttempts: tc.maxAttempts})
			_, err := c.User(t.Context())
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("err = %v, want *StatusError 503", err)
			}
			if !strings.Contains(err.Error(), "down for maintenance") {
				t.Errorf("error %q lacks the server's message", err)
			}
			if got := s.hits.Load(); got != tc.want {
				t.Errorf("attempts = %d, want %d", got, tc.want)
			}
			if got := len(w.all()); got != int(tc.want)-1 {
				t.Errorf("waits = %d, want %d", got, tc.want-1)
			}
		})
	}
}

func TestRateLimitedAfterRetries(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "Too Many Attempts."})
	})
	c, _ := newTestClient(t, s.base(), Options{})
	_, err := c.User(t.Context())
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Wait != 5*time.Second {
		t.Fatalf("err = %#v, want *RateLimitError with RetryAfter 5s", err)
	}
	if !strings.Contains(err.Error(), "5s") {
		t.Errorf("error %q does not say how long to wait", err)
	}
	if got := s.hits.Load(); got != 4 {
		t.Errorf("attempts = %d, want 4", got)
	}
}

func TestRetryAfterBeyondCapFailsAtOnce(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c, w := newTestClient(t, s.base(), Options{})
	_, err := c.User(t.Context())
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Wait != time.Hour {
		t.Fatalf("err = %v, want *RateLimitError with RetryAfter 1h", err)
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
	if got := w.all(); len(got) != 0 {
		t.Errorf("waited %v; a Retry-After over the cap must not be waited out", got)
	}
}

func TestRetryAfterBeyondDeadlineFailsAtOnce(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c, w := newTestClient(t, s.base(), Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.User(ctx)
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
	if got := w.all(); len(got) != 0 {
		t.Errorf("waited %v past the caller's deadline", got)
	}
}

func TestPOSTWithoutIdempotencyKeyIsNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if r.Header.Get("Idempotency-Key") != "" {
					t.Errorf("unexpected Idempotency-Key %q", r.Header.Get("Idempotency-Key"))
				}
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(status)
			})
			c, w := newTestClient(t, s.base(), Options{})
			_, err := c.CreatePatient(t.Context(), PatientInput{FirstName: "A", LastName: "B"}, "")
			if err == nil {
				t.Fatal("CreatePatient succeeded against a failing server")
			}
			if got := s.hits.Load(); got != 1 {
				t.Errorf("attempts = %d, want 1 (POST without Idempotency-Key)", got)
			}
			if len(w.all()) != 0 {
				t.Errorf("waited %v", w.all())
			}
		})
	}
}

func TestPOSTWithIdempotencyKeyIsRetriedWithTheSameBody(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	var bodies []string
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": 42, "first_name": "Ada", "last_name": "Byron"})
	})
	c, _ := newTestClient(t, s.base(), Options{})
	p, err := c.CreatePatient(t.Context(), PatientInput{FirstName: "Ada", LastName: "Byron"}, "enc-1")
	if err != nil {
		t.Fatalf("CreatePatient: %v", err)
	}
	if p.Id != 42 {
		t.Errorf("id = %d, want 42", p.Id)
	}
	if got := s.hits.Load(); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	for i := range keys {
		if keys[i] != "enc-1" {
			t.Errorf("attempt %d key = %q, want enc-1", i+1, keys[i])
		}
		if bodies[i] != bodies[0] || !strings.Contains(bodies[i], `"first_name":"Ada"`) {
			t.Errorf("attempt %d body = %q, want the first body %q", i+1, bodies[i], bodies[0])
		}
	}
}

func TestMultipartNoteIsReplayedOnRetry(t *testing.T) {
	type seen struct{ name, note, patient, model, context, doc0, doc1 string }
	var mu sync.Mutex
	var got []seen
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Errorf("attempt body is not multipart: %v", err)
		}
		v := r.MultipartForm.Value
		first := func(k string) string {
			if len(v[k]) == 0 {
				return ""
			}
			return v[k][0]
		}
		mu.Lock()
		got = append(got, seen{first("name"), first("note"), first("patient_id"), first("model_id"),
			first("context"), first("documents[0]"), first("documents[1]")})
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusCreated, sampleNote(9))
	})
	c, _ := newTestClient(t, s.base(), Options{})
	n, err := c.CreateTextNote(t.Context(), TextNote{
		Name: "Follow-up", PatientID: 123, Note: "Feels better.", ModelID: 2, Context: "sleep", Documents: []int{5, 6},
	}, "enc-2")
	if err != nil {
		t.Fatalf("CreateTextNote: %v", err)
	}
	if n.Id != 9 {
		t.Errorf("note id = %d, want 9", n.Id)
	}
	want := seen{"Follow-up", "Feels better.", "123", "2", "sleep", "5", "6"}
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("server saw %+v, want twice %+v", got, want)
	}
}

func TestAudioUploadsAreMultipartFiles(t *testing.T) {
	audio := strings.Repeat("RIFF-fake-wave-bytes", 100)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" {
			t.Errorf("content type %q, want multipart/form-data", r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		fields := map[string]string{}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "file" {
				if p.FileName() != `visit "1".wav` || p.Header.Get("Content-Type") != "audio/wav" {
					t.Errorf("file part %q type %q, want visit \"1\".wav, audio/wav", p.FileName(), p.Header.Get("Content-Type"))
				}
			}
			fields[p.FormName()] = string(b)
		}
		if fields["file"] != audio {
			t.Errorf("file part has %d bytes, want the %d sent", len(fields["file"]), len(audio))
		}
		if r.URL.Path == "/api/v1/transcriptions" {
			writeJSON(w, http.StatusOK, map[string]any{"text": "hello", "words": []any{}, "duration": 1.5})
			return
		}
		if fields["name"] != "Intake" || fields["patient_id"] != "5" {
			t.Errorf("fields = %v", fields)
		}
		writeJSON(w, http.StatusCreated, sampleNote(3))
	})
	c, _ := newTestClient(t, s.base(), Options{})
	if _, err := c.CreateAudioNote(t.Context(), AudioNote{
		Name: "Intake", PatientID: 5, FileName: `visit "1".wav`, Audio: strings.NewReader(audio),
	}, "k"); err != nil {
		t.Fatalf("CreateAudioNote: %v", err)
	}
	tr, err := c.Transcribe(t.Context(), `visit "1".wav`, strings.NewReader(audio), "k2")
	if err != nil {
		t.Fatalf("Transcribe: %v", err)
	}
	if tr.Text != "hello" || tr.Duration != 1.5 {
		t.Errorf("transcription = %+v", tr)
	}
	if _, err := c.Transcribe(t.Context(), "x.wav", nil, ""); err == nil {
		t.Error("Transcribe with no audio succeeded")
	}
}

func TestUnreachableServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now: connections are refused

	c, w := newTestClient(t, "http://"+addr+"/api", Options{})
	_, err = c.PatientsPage(t.Context(), PatientQuery{Search: "Confidential Name"}, 1)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want it to keep ECONNREFUSED", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, addr) {
		t.Errorf("error %q does not name the host %s", msg, addr)
	}
	if strings.Contains(msg, "Confidential") || strings.Contains(msg, "test-token") {
		t.Errorf("error %q leaks the search term or the token", msg)
	}
	if got := len(w.all()); got != 3 {
		t.Errorf("GET was retried after %d waits, want 3 (4 attempts)", got)
	}

	// A POST without a key is sent once: it may have reached the server.
	c2, w2 := newTestClient(t, "http://"+addr+"/api", Options{})
	if _, err := c2.Login(t.Context(), "a@b.example", "hunter2-secret", "laptop"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Login err = %v, want ErrUnreachable", err)
	} else if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q repeats the password", err)
	}
	if got := len(w2.all()); got != 0 {
		t.Errorf("POST without key retried (%d waits)", got)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	first := make(chan struct{})
	var once sync.Once
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		once.Do(func() { close(first) })
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c, err := New(s.base(), Options{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	c.doer.baseDelay = time.Hour // the real timer: only cancellation can end the wait
	c.doer.maxDelay = time.Hour
	c.doer.jitter = func(ceiling time.Duration) time.Duration { return ceiling }

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.User(ctx)
		errc <- err
	}()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the server")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("User did not return after its context was cancelled")
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 7 ", 7 * time.Second, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"99999999999999999", 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIdempotentMethods(t *testing.T) {
	for _, tc := range []struct {
		method, key string
		want        bool
	}{
		{http.MethodGet, "", true},
		{http.MethodPut, "", true},
		{http.MethodDelete, "", true},
		{http.MethodPost, "", false},
		{http.MethodPost, "k", true},
		{http.MethodPatch, "", false},
	} {
		req, _ := http.NewRequest(tc.method, "http://x/", nil)
		if tc.key != "" {
			req.Header.Set("Idempotency-Key", tc.key)
		}
		if got := isIdempotent(req); got != tc.want {
			t.Errorf("isIdempotent(%s, key %q) = %v, want %v", tc.method, tc.key, got, tc.want)
		}
	}
}

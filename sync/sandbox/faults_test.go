package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/live"
)

func TestFaultBurst429(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	e.srv.Faults().Burst429(2, 1500*time.Millisecond)
	for i := range 2 {
		r := e.do("GET", "/v1/templates", nil)
		var m apiMessage
		r.decode(t, &m)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" || m.Message == "" {
			t.Errorf("request %d: %d Retry-After %q %s", i, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	e.must("GET", "/v1/templates", nil, http.StatusOK, nil)
}

func TestFaultErrorRateIsSeeded(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	f := e.srv.Faults()
	pattern := func() []int {
		f.Seed(42)
		f.SetErrorRate(0.5)
		var out []int
		for range 24 {
			out = append(out, e.do("GET", "/v1/templates", nil).status)
		}
		f.SetErrorRate(0)
		return out
	}
	a, b := pattern(), pattern()
	counts := map[int]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different outcomes: %v vs %v", a, b)
		}
		counts[a[i]]++
	}
	if counts[http.StatusServiceUnavailable] == 0 || counts[http.StatusOK] == 0 || len(counts) != 2 {
		t.Errorf("rate 0.5 over 24 requests: %v", counts)
	}
	f.SetErrorRate(1)
	r := e.do("GET", "/v1/user", nil)
	var m apiMessage
	r.decode(t, &m)
	if r.status != http.StatusServiceUnavailable || m.Message == "" {
		t.Errorf("rate 1: %d %s", r.status, r.body)
	}
	f.Reset()
	e.must("GET", "/v1/user", nil, http.StatusOK, nil)
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	e.srv.Faults().SetLatency(150 * time.Millisecond)
	start := time.Now()
	e.must("GET", "/v1/templates", nil, http.StatusOK, nil)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("request took %v with 150 ms of latency", d)
	}
}

func TestFaultUserTokenTTL(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	e.srv.Faults().SetUserTokenTTL(time.Minute)
	short := e.login(SampleEmail, SamplePassword, "short")
	if r := e.doAs(short, "GET", "/v1/user", nil, nil); r.status != http.StatusOK {
		t.Fatalf("fresh short token: %d", r.status)
	}
	e.clock.Advance(2 * time.Minute)
	if r := e.doAs(short, "GET", "/v1/user", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("expired token: %d", r.status)
	}
	e.must("GET", "/v1/user", nil, http.StatusOK, nil) // the 30-day token made before the switch lives on
}

func TestStreamingTokens(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	type tokenBody struct {
		Token                     string `json:"token"`
		ExpiresInSeconds          int    `json:"expires_in_seconds"`
		URL                       string `json:"url"`
		MaxSessionDurationSeconds int    `json:"max_session_duration_seconds"`
	}
	var tk tokenBody
	e.must("POST", "/v1/transcription/token", nil, http.StatusCreated, &tk)
	wantURL := "ws" + e.base[len("http"):] + "/v1/transcription/stream"
	if tk.Token == "" || tk.ExpiresInSeconds != 60 || tk.URL != wantURL || tk.MaxSessionDurationSeconds != 3600 {
		t.Errorf("default token %+v, want url %s", tk, wantURL)
	}
	e.must("POST", "/v1/transcription/token", map[string]int{"expires_in_seconds": 600}, http.StatusCreated, &tk)
	if tk.ExpiresInSeconds != 600 {
		t.Errorf("expires_in_seconds %d", tk.ExpiresInSeconds)
	}
	for _, body := range []any{map[string]int{"expires_in_seconds": 0}, map[string]int{"expires_in_seconds": 601}, map[string]string{"expires_in_seconds": "soon"}, map[string]float64{"expires_in_seconds": 1.5}} {
		r := e.do("POST", "/v1/transcription/token", body)
		var v apiValidation
		r.decode(t, &v)
		if r.status != http.StatusUnprocessableEntity || len(v.Errors["expires_in_seconds"]) == 0 {
			t.Errorf("%v: %d %s", body, r.status, r.body)
		}
	}

	ctx := t.Context()
	// Single use.
	if _, err := e.srv.redeemStreamingToken(ctx, tk.Token); err != nil {
		t.Fatalf("first redeem: %v", err)
	}
	if _, err := e.srv.redeemStreamingToken(ctx, tk.Token); !errors.Is(err, live.ErrTokenUsed) {
		t.Errorf("second redeem: %v, want used", err)
	}
	if _, err := e.srv.redeemStreamingToken(ctx, "nvst_unknown"); !errors.Is(err, live.ErrTokenUnknown) {
		t.Errorf("unknown token: %v", err)
	}
	// Expiry: the clock passes the announced lifetime.
	e.must("POST", "/v1/transcription/token", map[string]int{"expires_in_seconds": 5}, http.StatusCreated, &tk)
	e.clock.Advance(6 * time.Second)
	if _, err := e.srv.redeemStreamingToken(ctx, tk.Token); !errors.Is(err, live.ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	// The fault expires tokens earlier than announced.
	e.srv.Faults().SetStreamingTokenTTL(time.Second)
	e.must("POST", "/v1/transcription/token", map[string]int{"expires_in_seconds": 60}, http.StatusCreated, &tk)
	if tk.ExpiresInSeconds != 60 {
		t.Errorf("announced %d s, want the 60 asked for", tk.ExpiresInSeconds)
	}
	e.clock.Advance(2 * time.Second)
	if _, err := e.srv.redeemStreamingToken(ctx, tk.Token); !errors.Is(err, live.ErrTokenExpired) {
		t.Errorf("token under the TTL fault: %v, want expired", err)
	}
	e.srv.Faults().Reset()

	// Of many concurrent redemptions of one token, exactly one wins.
	e.must("POST", "/v1/transcription/token", nil, http.StatusCreated, &tk)
	var wins, used atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := e.srv.redeemStreamingToken(ctx, tk.Token)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, live.ErrTokenUsed):
				used.Add(1)
			default:
				t.Errorf("concurrent redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || used.Load() != 15 {
		t.Errorf("%d wins and %d refusals, want 1 and 15", wins.Load(), used.Load())
	}
}

func TestFaultLostReply(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	f := e.srv.Faults()
	const key = "lost-reply-1"
	body := []byte(`{"first_name":"Lost","last_name":"Reply"}`)
	post := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(t.Context(), "POST", e.base+"/v1/patients", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Idempotency-Key", key)
		// A client of its own: no pooled connection from other tests, and none kept afterwards.
		hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		return hc.Do(req)
	}

	f.SetLostReplyRate(1)
	res, err := post()
	if err == nil {
		res.Body.Close()
		t.Fatalf("lost reply: got an answer %d, want a network error", res.StatusCode)
	}
	if n := e.srv.EffectCount(key); n != 1 {
		t.Fatalf("EffectCount after a lost reply = %d, want 1 (the request took effect)", n)
	}
	// Only handled requests lose replies: a 503 from the error rate still arrives.
	f.SetErrorRate(1)
	e.must("GET", "/v1/templates", nil, http.StatusServiceUnavailable, nil)
	f.SetErrorRate(0)

	f.SetLostReplyRate(0)
	var page apiPage[apiPatient]
	e.must("GET", "/v1/patients?search=lost+reply", nil, http.StatusOK, &page)
	if page.Meta.Total != 1 || len(page.Data) != 1 {
		t.Fatalf("%d patients named Lost Reply after the lost reply, want 1", page.Meta.Total)
	}
	res, err = post()
	if err != nil {
		t.Fatalf("retry with rate 0: %v", err)
	}
	defer res.Body.Close()
	var p apiPatient
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusCreated || res.Header.Get("Idempotent-Replayed") != "true" || p.ID != page.Data[0].ID {
		t.Errorf("retry: %d replayed=%q patient %d, want 201 replaying patient %d",
			res.StatusCode, res.Header.Get("Idempotent-Replayed"), p.ID, page.Data[0].ID)
	}
	if n := e.srv.EffectCount(key); n != 1 {
		t.Errorf("EffectCount after the retry = %d, want 1", n)
	}

	// Reset turns the fault off.
	f.SetLostReplyRate(1)
	f.Reset()
	e.must("GET", "/v1/templates", nil, http.StatusOK, nil)
}

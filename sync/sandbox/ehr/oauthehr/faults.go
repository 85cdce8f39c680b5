package oauthehr

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Faults are the EHR's switches for misbehaving on purpose. They apply to the API and the token
// endpoint (not the login pages), can be changed from any goroutine, and each request reads them as it
// arrives.
type Faults struct {
	mu         sync.Mutex
	seed       uint64
	rng        *rand.Rand
	errorRate  float64
	burst      int
	retryAfter time.Duration
	accessTTL  time.Duration
}

func newFaults() *Faults {
	f := &Faults{seed: 1}
	f.resetLocked()
	return f
}

func (f *Faults) resetLocked() {
	f.rng = rand.New(rand.NewPCG(f.seed, f.seed))
	f.errorRate, f.burst, f.retryAfter, f.accessTTL = 0, 0, 0, 0
}

// Reset turns every fault off and restarts the error-rate sequence from the current seed.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetLocked()
}

// Seed restarts the pseudo-random sequence SetErrorRate draws from, so a test sees the same requests fail
// on every run.
func (f *Faults) Seed(seed uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seed = seed
	f.rng = rand.New(rand.NewPCG(seed, seed))
}

// SetErrorRate makes that fraction (0 to 1) of requests fail with 503 before they have any effect.
func (f *Faults) SetErrorRate(rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errorRate = min(max(rate, 0), 1)
}

// SetBurst429 answers the next n requests with 429 and Retry-After (rounded up to whole seconds).
func (f *Faults) SetBurst429(n int, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.burst, f.retryAfter = max(n, 0), max(retryAfter, time.Second)
}

// SetAccessTokenTTL shortens the life of access tokens issued from now on (0 restores AccessTokenTTL).
func (f *Faults) SetAccessTokenTTL(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accessTTL = max(d, 0)
}

func (f *Faults) accessTokenTTL() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accessTTL
}

// decide returns the status a request is failed with, 0 to let it through.
func (f *Faults) decide() (int, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.burst > 0 {
		f.burst--
		return http.StatusTooManyRequests, f.retryAfter
	}
	if f.errorRate > 0 && f.rng.Float64() < f.errorRate {
		return http.StatusServiceUnavailable, 0
	}
	return 0, 0
}

func (s *Server) withFaults(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch status, retry := s.faults.decide(); status {
		case http.StatusTooManyRequests:
			secs := int(math.Ceil(retry.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			apiError(w, status, "rate_limited", fmt.Sprintf("Too many requests; retry after %d seconds.", secs))
		case http.StatusServiceUnavailable:
			apiError(w, status, "unavailable", "Service temporarily unavailable (sandbox fault injection); retry later.")
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// errorBody is every API error: a machine code and a sentence saying what is wrong and what to do.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Scope   string `json:"scope,omitempty"`
	// Fields names each invalid request field and what is wrong with it.
	Fields map[string]string `json:"fields,omitempty"`
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; failing to encode one is a bug worth a clear 500.
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error","message":"The sandbox EHR could not encode its response."}`)
	}
	writeRaw(w, status, body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

package oauthehr

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/internal/ehrkit"
)

// Faults are the EHR's switches for misbehaving on purpose: ehrkit's (SetErrorRate, Burst429,
// SetLostReplyRate, Seed), which apply to the API and the token endpoint, not the login pages, plus
// a shortened access-token lifetime. Safe to change from any goroutine.
type Faults struct {
	*ehrkit.Faults

	mu        sync.Mutex
	accessTTL time.Duration
}

func newFaults() *Faults { return &Faults{Faults: ehrkit.NewFaults()} }

// Reset turns every fault off, the access-token lifetime included.
func (f *Faults) Reset() {
	f.Faults.Reset()
	f.SetAccessTokenTTL(0)
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

// faultError is ehrkit's error writer in this EHR's wire format.
func faultError(w http.ResponseWriter, status int, msg string) {
	code := "server_error"
	switch status {
	case http.StatusTooManyRequests:
		code = "rate_limited"
	case http.StatusServiceUnavailable:
		code = "unavailable"
	}
	apiError(w, status, code, msg)
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

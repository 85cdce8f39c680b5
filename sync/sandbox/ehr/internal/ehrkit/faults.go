package ehrkit

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// Faults are switches for misbehaving on purpose: 503s at a rate, a burst of 429s, and replies lost
// after the request took effect. Safe to change from any goroutine; each request reads them as it
// arrives.
type Faults struct {
	mu            sync.Mutex
	seed          uint64
	rng           *rand.Rand
	errorRate     float64
	lostReplyRate float64
	burst         int
	retryAfter    time.Duration
}

// NewFaults returns faults all off.
func NewFaults() *Faults {
	f := &Faults{seed: 1}
	f.Reset()
	return f
}

// Reset turns every fault off and restarts the random sequence from the current seed.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rng = rand.New(rand.NewPCG(f.seed, f.seed))
	f.errorRate, f.lostReplyRate, f.burst, f.retryAfter = 0, 0, 0, 0
}

// Seed restarts the sequence the rates draw from, so a test sees the same requests fail every run.
func (f *Faults) Seed(seed uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seed = seed
	f.rng = rand.New(rand.NewPCG(seed, seed))
}

// SetErrorRate makes that fraction (0 to 1) of requests fail with 503 before they are handled.
func (f *Faults) SetErrorRate(rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errorRate = min(max(rate, 0), 1)
}

// SetLostReplyRate makes that fraction (0 to 1) of handled requests lose their reply: the request
// takes full effect, then the connection is cut, as when the network drops after the server
// committed. Only a retry with the same Idempotency-Key is then safe.
func (f *Faults) SetLostReplyRate(rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lostReplyRate = min(max(rate, 0), 1)
}

// Burst429 makes the next n requests fail with 429 and Retry-After (whole seconds, rounded up).
func (f *Faults) Burst429(n int, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.burst = max(n, 0)
	f.retryAfter = max(retryAfter, 0)
}

type verdict struct {
	status     int // 0: handle normally; 429 or 503
	retryAfter time.Duration
	loseReply  bool
}

func (f *Faults) decide() verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	var v verdict
	switch {
	case f.burst > 0:
		f.burst--
		v.status, v.retryAfter = http.StatusTooManyRequests, f.retryAfter
	case f.errorRate > 0 && f.rng.Float64() < f.errorRate:
		v.status = http.StatusServiceUnavailable
	}
	if v.status == 0 && f.lostReplyRate > 0 {
		v.loseReply = f.rng.Float64() < f.lostReplyRate
	}
	return v
}

// ErrorWriter answers a request with an error in the model's own wire format.
type ErrorWriter func(w http.ResponseWriter, status int, msg string)

// Serve wraps mux with the access log (method, route pattern, status, duration: never paths, queries
// or bodies, which carry ids and tokens), a panic guard and, when faults is not nil, the faults on
// every route. A model whose faults spare some routes (an OAuth EHR's login pages) passes nil and
// wraps the others with Faults.Guard.
func Serve(log *slog.Logger, faults *Faults, mux *http.ServeMux, writeErr ErrorWriter) http.Handler {
	var h http.Handler = mux
	if faults != nil {
		h = faults.Guard(mux, writeErr)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, route := mux.Handler(r)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					log.LogAttrs(r.Context(), slog.LevelInfo, "request aborted", slog.String("method", r.Method),
						slog.String("route", route), slog.Int("status", sw.status))
					panic(v)
				}
				log.Error("handler panicked", "route", route, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeErr(sw, http.StatusInternalServerError, "The sandbox EHR failed to handle this request.")
				}
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method),
				slog.String("route", route), slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
		}()
		h.ServeHTTP(sw, r)
	})
}

// Guard applies the faults to h: a 429 or 503 before h runs, or h's reply lost after it ran (the
// connection is cut with http.ErrAbortHandler, so h must run under Serve or net/http).
func (f *Faults) Guard(h http.Handler, writeErr ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := f.decide()
		switch v.status {
		case http.StatusTooManyRequests:
			secs := int(math.Ceil(v.retryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeErr(w, v.status, fmt.Sprintf("Too many requests. Retry after %d seconds.", secs))
			return
		case http.StatusServiceUnavailable:
			writeErr(w, v.status, "Service temporarily unavailable (sandbox fault injection). Retry later.")
			return
		}
		if !v.loseReply {
			h.ServeHTTP(w, r)
			return
		}
		lost := &lostReply{header: http.Header{}}
		h.ServeHTTP(lost, r)
		if sw, ok := w.(*statusWriter); ok && sw.status == 0 {
			sw.status = lost.status // for Serve's log line
		}
		panic(http.ErrAbortHandler)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// lostReply keeps the status for the log and discards the rest of a reply the faults drop.
type lostReply struct {
	header http.Header
	status int
}

func (w *lostReply) Header() http.Header { return w.header }

func (w *lostReply) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *lostReply) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

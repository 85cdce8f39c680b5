package sandbox

import (
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultUserTokenTTL is how long a token from POST /v1/tokens stays valid unless Faults say otherwise.
const DefaultUserTokenTTL = 30 * 24 * time.Hour

// Faults are the sandbox's switches for misbehaving on purpose, so clients can be tested against latency,
// failures, rate limits, dropped sockets and tokens that expire early. They can be changed at any time
// from any goroutine; each request reads them as it arrives.
type Faults struct {
	mu              sync.Mutex
	seed            uint64
	rng             *rand.Rand
	latency         time.Duration
	errorRate       float64
	lostReplyRate   float64
	burst           int
	retryAfter      time.Duration
	dropSocketAfter time.Duration
	streamTokenTTL  time.Duration
	userTokenTTL    time.Duration
}

func newFaults() *Faults {
	f := &Faults{seed: 1}
	f.resetLocked()
	return f
}

func (f *Faults) resetLocked() {
	f.rng = rand.New(rand.NewPCG(f.seed, f.seed))
	f.latency = 0
	f.errorRate = 0
	f.lostReplyRate = 0
	f.burst = 0
	f.retryAfter = 0
	f.dropSocketAfter = 0
	f.streamTokenTTL = 0
	f.userTokenTTL = DefaultUserTokenTTL
}

// Reset turns every fault off and restarts the error-rate sequence from the current seed.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetLocked()
}

// Seed restarts the pseudo-random sequence that SetErrorRate draws from, so a test sees the same
// requests fail on every run.
func (f *Faults) Seed(seed uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seed = seed
	f.rng = rand.New(rand.NewPCG(seed, seed))
}

// SetLatency delays every request by d before it is handled (0 turns it off).
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = max(d, 0)
}

// SetErrorRate makes that fraction (0 to 1) of requests fail with 503.
func (f *Faults) SetErrorRate(rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errorRate = min(max(rate, 0), 1)
}

// SetLostReplyRate makes that fraction (0 to 1) of the requests that are handled lose their reply: the
// request takes full effect (an Idempotency-Key is recorded with its answer) but the connection is
// aborted instead of answering, as when the network drops between server and client after the server
// committed. The client sees a network error and cannot tell whether its request took effect; only
// retrying with the same Idempotency-Key is safe. It draws from the same seeded sequence as
// SetErrorRate, after the 429/503 decision. WebSocket upgrades are exempt (see SetDropSocketAfter).
func (f *Faults) SetLostReplyRate(rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lostReplyRate = min(max(rate, 0), 1)
}

// Burst429 makes the next n requests fail with 429 Too Many Requests and Retry-After (whole seconds,
// rounded up).
func (f *Faults) Burst429(n int, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.burst = max(n, 0)
	f.retryAfter = max(retryAfter, 0)
}

// SetDropSocketAfter makes the server drop each live transcription socket d after it opens, without a
// closing handshake, as a flaky network would (0 turns it off).
func (f *Faults) SetDropSocketAfter(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropSocketAfter = max(d, 0)
}

// DropSocketAfter reports the current SetDropSocketAfter value.
func (f *Faults) DropSocketAfter() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropSocketAfter
}

// SetStreamingTokenTTL makes new streaming tokens expire after d even though the response still
// announces the lifetime the client asked for: a token that expires early (0 turns it off).
func (f *Faults) SetStreamingTokenTTL(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streamTokenTTL = max(d, 0)
}

// SetUserTokenTTL sets the lifetime of tokens created from now on by POST /v1/tokens (0 restores
// DefaultUserTokenTTL).
func (f *Faults) SetUserTokenTTL(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		d = DefaultUserTokenTTL
	}
	f.userTokenTTL = d
}

func (f *Faults) userTTL() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.userTokenTTL
}

// streamTTL shortens a requested streaming token lifetime when the fault is on.
func (f *Faults) streamTTL(requested time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streamTokenTTL > 0 && f.streamTokenTTL < requested {
		return f.streamTokenTTL
	}
	return requested
}

// verdict is what the faults decide for one request.
type verdict struct {
	latency    time.Duration
	status     int // 0: handle normally; 429 or 503
	retryAfter time.Duration
	loseReply  bool // handle normally, then abort the connection instead of answering
}

// decide draws the faults for one request; upgrade says it asks for a WebSocket, whose reply is never
// lost (there is no buffered answer to drop once the connection is hijacked).
func (f *Faults) decide(upgrade bool) verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := verdict{latency: f.latency}
	switch {
	case f.burst > 0:
		f.burst--
		v.status, v.retryAfter = 429, f.retryAfter
	case f.errorRate > 0 && f.rng.Float64() < f.errorRate:
		v.status = 503
	}
	// Drawn only when the rate is on, so a seed gives the same 503s as before this fault existed.
	if v.status == 0 && !upgrade && f.lostReplyRate > 0 {
		v.loseReply = f.rng.Float64() < f.lostReplyRate
	}
	return v
}

// Package outbox is Scribe's durable job queue: every change bound for a
// server waits in the profile database (table jobs, sync/store migration
// 0003) until a handler for its kind has made it take effect. Jobs of one
// group (an encounter or note) run strictly in the order they were
// enqueued; different groups run in parallel. Failures are classified as
// transient (backed off and retried by themselves) or permanent (left for a
// person in needs-attention). A worker that dies mid-job loses its lease
// and the job runs again, so handlers must be idempotent.
package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nextvisit/scribe/sync/store"
)

// State is where a job stands.
type State string

// The states of a job.
const (
	Queued         State = "queued"
	Running        State = "running"
	Done           State = "done"
	NeedsAttention State = "needs-attention"
	Cancelled      State = "cancelled"
)

// Errors returned (wrapped) by the queue.
var (
	ErrNotFound  = errors.New("no such job")
	ErrDuplicate = errors.New("a job with this idempotency key is already enqueued")
	ErrState     = errors.New("the job is not in a state that allows this")
	// ErrOffline matches errors marked with Offline.
	ErrOffline = errors.New("offline")
)

// ID identifies a job.
type ID int64

// NewJob is what a caller enqueues.
type NewJob struct {
	Kind  string
	Group string // the ordering group: an encounter or note key
	// IdempotencyKey is unique across all jobs; the handler sends it to the
	// server so a job run twice (after a crash) has one effect.
	IdempotencyKey string
	// Payload is a JSON object carrying its version: {"v":1,...}.
	Payload json.RawMessage
}

// Job is a job as stored.
type Job struct {
	ID             ID
	Kind           string
	Group          string
	Payload        json.RawMessage
	PayloadVersion int
	IdempotencyKey string
	State          State
	Attempts       int
	NextAttemptAt  time.Time
	LeaseUntil     time.Time // zero when not leased
	LeaseOwner     string
	LastError      string
	WhatToDo       string // for needs-attention: what the person should do
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Handler makes one job take effect. It returns nil on success, or an error
// marked with Transient/TransientAfter/Permanent (unmarked errors are
// classified by default: timeouts and network errors transient, the rest
// permanent).
type Handler func(ctx context.Context, job Job) error

// Options configure a Queue; zero values take the defaults.
type Options struct {
	Workers   int           // parallel workers; default 4
	BaseDelay time.Duration // first backoff ceiling; default 1 s
	MaxDelay  time.Duration // backoff ceiling; default 10 min
	MaxAge    time.Duration // a job failing transiently longer than this needs attention; default 7 days
	Lease     time.Duration // how long a claim holds a job; default 5 min
	Owner     string        // names this process in leases; default "outbox"
	Logger    *slog.Logger
	Now       func() time.Time // the clock; default time.Now
	// Jitter returns a uniformly random duration in [0, d]; default math/rand/v2.
	Jitter func(d time.Duration) time.Duration
	// Probe checks whether the far end is reachable again; while the queue
	// is offline Serve calls it every ProbeEvery and goes online when it
	// returns nil. Without a Probe only SetOnline(true) (or a handler's
	// success) brings the queue back.
	Probe      func(ctx context.Context) error
	ProbeEvery time.Duration // default 1 s

	// idle, when set (tests), is called each time a worker starts waiting.
	idle func()
}

// Queue is the outbox over one profile database.
type Queue struct {
	db   *sql.DB
	opt  Options
	log  *slog.Logger
	seq  atomic.Int64
	live atomic.Bool // online

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // the hot statements, parsed once (see stmt)

	mu       sync.Mutex
	handlers map[string]Handler
	kick     chan struct{} // closed and replaced by Kick: wakes every waiting worker
	changed  chan struct{} // closed and replaced whenever a job or the online state changes
}

// New returns a queue over db, which must hold the jobs table (open it with
// sync/store, which applies the migration).
func New(db *sql.DB, opt Options) *Queue {
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.BaseDelay <= 0 {
		opt.BaseDelay = time.Second
	}
	if opt.MaxDelay <= 0 {
		opt.MaxDelay = 10 * time.Minute
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = 7 * 24 * time.Hour
	}
	if opt.Lease <= 0 {
		opt.Lease = 5 * time.Minute
	}
	if opt.Owner == "" {
		opt.Owner = "outbox"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ProbeEvery <= 0 {
		opt.ProbeEvery = time.Second
	}
	if opt.Jitter == nil {
		opt.Jitter = func(d time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(d) + 1)) }
	}
	q := &Queue{db: db, opt: opt, log: opt.Logger, handlers: map[string]Handler{},
		kick: make(chan struct{}), changed: make(chan struct{})}
	q.live.Store(true)
	return q
}

// Register sets the handler for kind, replacing any earlier one.
func (q *Queue) Register(kind string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[kind] = h
}

func (q *Queue) handler(kind string) Handler {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.handlers[kind]
}

// Kick wakes every waiting worker at once (a job was enqueued, the network
// came back).
func (q *Queue) Kick() {
	q.mu.Lock()
	defer q.mu.Unlock()
	close(q.kick)
	q.kick = make(chan struct{})
}

func (q *Queue) kicked() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.kick
}

// Changed returns a channel that is closed at the next change to any job
// or to the online state; a screen showing the queue waits on it, then
// reads again and calls Changed again.
func (q *Queue) Changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

func (q *Queue) notify() {
	q.mu.Lock()
	defer q.mu.Unlock()
	close(q.changed)
	q.changed = make(chan struct{})
}

// SetOnline tells the queue whether the servers are reachable. Workers claim
// nothing while offline; going online wakes them.
func (q *Queue) SetOnline(online bool) {
	if was := q.live.Swap(online); online && !was {
		q.log.Info("outbox online")
		q.Kick()
		q.notify()
	} else if !online && was {
		q.log.Info("outbox offline; jobs wait")
		q.notify()
	}
}

// Online reports whether the queue believes the far end is reachable.
func (q *Queue) Online() bool { return q.live.Load() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// payloadVersion checks that p is a JSON object with a positive integer "v".
func payloadVersion(p json.RawMessage) (int, error) {
	var head struct {
		V *int `json:"v"`
	}
	if !json.Valid(p) {
		return 0, errors.New("payload is not valid JSON")
	}
	if err := json.Unmarshal(p, &head); err != nil {
		return 0, fmt.Errorf("payload is not a JSON object with a version: %w", err)
	}
	if head.V == nil || *head.V < 1 {
		return 0, errors.New(`payload has no version: it must be a JSON object with "v" ≥ 1`)
	}
	return *head.V, nil
}

// EnqueueTx adds job inside tx, so the state change that implies the job
// and the job itself commit (or roll back) together. A job whose
// idempotency key is taken is not added: its ID comes back with an error
// wrapping ErrDuplicate. Call Committed after committing.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, job NewJob) (ID, error) {
	var bad []string
	if job.Kind == "" {
		bad = append(bad, "no kind")
	}
	if job.Group == "" {
		bad = append(bad, "no group")
	}
	if job.IdempotencyKey == "" {
		bad = append(bad, "no idempotency key")
	}
	v, err := payloadVersion(job.Payload)
	if err != nil {
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("enqueue %s job: %s", job.Kind, strings.Join(bad, "; "))
	}
	now := ms(q.opt.Now())
	var id ID
	err = tx.QueryRowContext(ctx, `
		INSERT INTO jobs (kind, group_key, payload, payload_version, idempotency_key, state,
			next_attempt_at, age_from, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING id`,
		job.Kind, job.Group, string(job.Payload), v, job.IdempotencyKey, now, now, now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		if err := tx.QueryRowContext(ctx, "SELECT id FROM jobs WHERE idempotency_key = ?", job.IdempotencyKey).Scan(&id); err != nil {
			return 0, fmt.Errorf("enqueue %s job: find duplicate: %w", job.Kind, store.DiskError(err))
		}
		return id, fmt.Errorf("enqueue %s job: %w (job %d)", job.Kind, ErrDuplicate, id)
	}
	if err != nil {
		return 0, fmt.Errorf("enqueue %s job: %w", job.Kind, store.DiskError(err))
	}
	return id, nil
}

// Enqueue adds job in its own transaction and wakes the workers.
func (q *Queue) Enqueue(ctx context.Context, job NewJob) (ID, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s job: %w", job.Kind, store.DiskError(err))
	}
	defer tx.Rollback()
	id, err := q.EnqueueTx(ctx, tx, job)
	if err != nil {
		return id, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("enqueue %s job: %w", job.Kind, store.DiskError(err))
	}
	q.log.Debug("job enqueued", "kind", job.Kind, "job", id)
	q.Committed()
	return id, nil
}

// Committed wakes the workers and anyone watching Changed after a
// transaction holding EnqueueTx jobs has committed.
func (q *Queue) Committed() {
	q.Kick()
	q.notify()
}

// stmt returns query prepared once for the life of the queue: parsing the
// claim and settle statements again for every job was a third of the
// drain's CPU. database/sql keeps a prepared copy per connection.
func (q *Queue) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	q.stmtMu.Lock()
	defer q.stmtMu.Unlock()
	if st, ok := q.stmts[query]; ok {
		return st, nil
	}
	st, err := q.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, store.DiskError(err)
	}
	if q.stmts == nil {
		q.stmts = map[string]*sql.Stmt{}
	}
	q.stmts[query] = st
	return st, nil
}

// Close releases the prepared statements; call it after Serve has returned
// and before closing the database.
func (q *Queue) Close() error {
	q.stmtMu.Lock()
	defer q.stmtMu.Unlock()
	var errs []error
	for _, st := range q.stmts {
		errs = append(errs, st.Close())
	}
	q.stmts = nil
	return errors.Join(errs...)
}

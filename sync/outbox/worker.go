package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/store"
)

// Serve runs the workers until ctx is done. Each claims the oldest runnable
// job at the head of its group, runs its handler, and records the outcome;
// with nothing to do it waits for Kick or the next due time.
func (q *Queue) Serve(ctx context.Context) error {
	q.log.Info("outbox serving", "workers", q.opt.Workers)
	var wg sync.WaitGroup
	if q.opt.Probe != nil {
		wg.Go(func() { q.probe(ctx) })
	}
	for i := range q.opt.Workers {
		owner := fmt.Sprintf("%s/%d", q.opt.Owner, i)
		wg.Go(func() { q.work(ctx, owner) })
	}
	wg.Wait()
	return ctx.Err()
}

func (q *Queue) work(ctx context.Context, owner string) {
	for ctx.Err() == nil {
		// Taken before looking for work so a Kick during the look is not lost.
		kick := q.kicked()
		var wait time.Duration = -1
		if q.live.Load() {
			ran, err := q.step(ctx, owner)
			if ran {
				continue
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				q.log.Error("outbox worker", "worker", owner, "err", err)
				wait = q.opt.BaseDelay // a database hiccup: try again soon
			} else if due, ok, err := q.nextDue(ctx); err != nil {
				q.log.Error("outbox worker: next due time", "worker", owner, "err", err)
				wait = q.opt.BaseDelay
			} else if ok {
				wait = max(due.Sub(q.opt.Now()), time.Millisecond)
			}
		}
		var timer <-chan time.Time
		var t *time.Timer
		if wait >= 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		if q.opt.idle != nil {
			q.opt.idle()
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// probe checks reachability every ProbeEvery while the queue is offline,
// and sleeps on Changed while it is online.
func (q *Queue) probe(ctx context.Context) {
	t := time.NewTicker(q.opt.ProbeEvery)
	defer t.Stop()
	for {
		changed := q.Changed()
		if q.live.Load() {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
			continue
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, q.opt.ProbeEvery)
		err := q.opt.Probe(pctx)
		cancel()
		if err == nil {
			q.SetOnline(true)
		} else if ctx.Err() == nil {
			q.log.Debug("outbox still offline", "err", err)
		}
	}
}

const jobColumns = `id, kind, group_key, payload, payload_version, idempotency_key, state, attempts,
	next_attempt_at, lease_until, lease_owner, last_error, what_to_do, created_at, updated_at`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var payload string
	var next, lease, created, updated int64
	err := row.Scan(&j.ID, &j.Kind, &j.Group, &payload, &j.PayloadVersion, &j.IdempotencyKey, &j.State,
		&j.Attempts, &next, &lease, &j.LeaseOwner, &j.LastError, &j.WhatToDo, &created, &updated)
	if err != nil {
		return Job{}, err
	}
	j.Payload = []byte(payload)
	j.NextAttemptAt, j.LeaseUntil, j.CreatedAt, j.UpdatedAt = fromMS(next), fromMS(lease), fromMS(created), fromMS(updated)
	return j, nil
}

// claimQuery leases the oldest runnable head of a group (see claim).
const claimQuery = `
		UPDATE jobs SET state = 'running', attempts = attempts + 1,
			lease_until = ?1, lease_owner = ?2, updated_at = ?3
		WHERE id = (
			SELECT j.id FROM jobs j
			WHERE j.state IN ('queued', 'running')
			AND ((j.state = 'queued' AND j.next_attempt_at <= ?3) OR (j.state = 'running' AND j.lease_until <= ?3))
			AND NOT EXISTS (
				SELECT 1 FROM jobs p
				WHERE p.group_key = j.group_key AND p.id < j.id
				AND p.state IN ('queued', 'running', 'needs-attention'))
			ORDER BY j.id LIMIT 1)
		RETURNING ` + jobColumns

// claim leases the oldest runnable job at the head of its group: the first
// unfinished job of the group, queued and due, or running with an expired
// lease (its worker died). One UPDATE … RETURNING in a BEGIN IMMEDIATE
// transaction (the store's DSN sets _txlock=immediate), so two workers or
// processes never claim the same job.
func (q *Queue) claim(ctx context.Context, owner string) (Job, bool, error) {
	// Prepared before the transaction takes a connection: preparing needs
	// one too, and a pool of one would wait on itself.
	st, err := q.stmt(ctx, claimQuery)
	if err != nil {
		return Job{}, false, fmt.Errorf("claim job: %w", err)
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, false, fmt.Errorf("claim job: %w", store.DiskError(err))
	}
	defer tx.Rollback()
	now := q.opt.Now()
	lease := fmt.Sprintf("%s#%d", owner, q.seq.Add(1))
	j, err := scanJob(tx.StmtContext(ctx, st).QueryRowContext(ctx, ms(now.Add(q.opt.Lease)), lease, ms(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("claim job: %w", store.DiskError(err))
	}
	if !q.live.Load() {
		// Another worker took the queue offline after this one looked:
		// SetOnline(false) always precedes the settle that made a job
		// claimable again, so checking here, inside the claim, closes the gap.
		return Job{}, false, nil
	}
	if err := tx.Commit(); err != nil {
		return Job{}, false, fmt.Errorf("claim job: %w", store.DiskError(err))
	}
	q.notify()
	return j, true, nil
}

// nextDue is when the earliest waiting head-of-group job becomes runnable.
func (q *Queue) nextDue(ctx context.Context) (time.Time, bool, error) {
	var due sql.NullInt64
	err := q.db.QueryRowContext(ctx, `
		SELECT min(CASE state WHEN 'queued' THEN next_attempt_at ELSE lease_until END) FROM jobs
		WHERE id IN (
			SELECT min(id) FROM jobs
			WHERE state IN ('queued', 'running', 'needs-attention')
			GROUP BY group_key)
		AND state IN ('queued', 'running')`).Scan(&due)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due job: %w", err)
	}
	return fromMS(due.Int64), due.Valid, nil
}

// step claims and runs one job; ran is false when none was runnable.
func (q *Queue) step(ctx context.Context, owner string) (ran bool, err error) {
	j, ok, err := q.claim(ctx, owner)
	if err != nil || !ok {
		return false, err
	}
	return true, q.run(ctx, j)
}

// run calls the job's handler and records the outcome.
func (q *Queue) run(ctx context.Context, j Job) error {
	log := q.log.With("kind", j.Kind, "job", j.ID, "attempt", j.Attempts)
	if _, err := payloadVersion(j.Payload); err != nil {
		log.Warn("job payload is corrupt")
		return q.settle(ctx, j, NeedsAttention, 0, "the stored job is damaged: "+err.Error(),
			"Cancel this job and make the change again")
	}
	h := q.handler(j.Kind)
	if h == nil {
		log.Warn("no handler for job kind")
		return q.settle(ctx, j, NeedsAttention, 0, fmt.Sprintf("no handler for kind %q", j.Kind),
			"update Scribe: this job was made by a version that knows how to send it")
	}
	hctx, cancel := context.WithTimeout(ctx, q.opt.Lease) // finish (or give up) before the lease runs out
	err := safeCall(hctx, h, j)
	cancel()
	// The outcome is recorded even when Serve is stopping meanwhile: a
	// done job left "running" would wait out its lease and run again.
	shutdown := ctx
	ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err == nil {
		log.Debug("job done")
		if err := q.settle(ctx, j, Done, 0, "", ""); err != nil {
			return err
		}
		q.SetOnline(true)
		q.Kick() // the group's next job may now run, on any worker
		return nil
	}
	if shutdown.Err() != nil {
		// Shutting down, not a failure of the job: hand it back untouched.
		return q.settle(ctx, j, Queued, 0, j.LastError, "")
	}
	var pe *panicError
	if errors.As(err, &pe) {
		log.Error("job handler panicked", "stack", pe.stack)
		return q.settle(ctx, j, NeedsAttention, 0, err.Error(), "report this to Scribe's developers; then Retry or Cancel the job")
	}
	if errors.Is(err, ErrOffline) {
		log.Info("far end unreachable; jobs wait until it is back")
		q.SetOnline(false)
		if err := q.giveUpIfOld(ctx, j, err); !errors.Is(err, errYoung) {
			return err
		}
		return q.settle(ctx, j, Queued, 0, err.Error(), "")
	}
	transient, retryAfter, whatToDo := classify(err)
	now := q.opt.Now()
	if !transient {
		// Handler errors may echo what the server was sent (a patient's
		// name), so they go to the job row, which the UI shows, not the log.
		log.Warn("job failed permanently")
		return q.settle(ctx, j, NeedsAttention, 0, err.Error(), whatToDo)
	}
	if err := q.giveUpIfOld(ctx, j, err); !errors.Is(err, errYoung) {
		return err
	}
	delay := q.backoff(j.Attempts, retryAfter)
	log.Info("job failed; will retry", "in", delay)
	return q.settle(ctx, j, Queued, ms(now.Add(delay)), err.Error(), "")
}

// errYoung says a failing job is still within its maximum age.
var errYoung = errors.New("job is within its maximum age")

// giveUpIfOld moves a job that has been failing for longer than MaxAge to
// needs-attention; for a younger job it changes nothing and returns errYoung.
func (q *Queue) giveUpIfOld(ctx context.Context, j Job, cause error) error {
	var ageFrom int64
	if err := q.db.QueryRowContext(ctx, "SELECT age_from FROM jobs WHERE id = ?", j.ID).Scan(&ageFrom); err != nil {
		return fmt.Errorf("job %d: read age: %w", j.ID, err)
	}
	age := q.opt.Now().Sub(fromMS(ageFrom))
	if age < q.opt.MaxAge {
		return errYoung
	}
	q.log.Warn("job gave up after its maximum age", "kind", j.Kind, "job", j.ID)
	return q.settle(ctx, j, NeedsAttention, 0,
		fmt.Sprintf("still failing after %d attempts over %s: %v", j.Attempts, age.Round(time.Minute), cause),
		"check the connection to the server, then Retry the job")
}

// backoff is the wait before the next attempt after attempt n (1-based):
// full jitter, uniform in [0, min(MaxDelay, BaseDelay·2ⁿ⁻¹)], but never
// less than what the server asked for.
func (q *Queue) backoff(n int, retryAfter time.Duration) time.Duration {
	ceil := q.opt.BaseDelay
	for i := 1; i < n && ceil < q.opt.MaxDelay; i++ {
		ceil *= 2
	}
	ceil = min(ceil, q.opt.MaxDelay)
	return max(q.opt.Jitter(ceil), retryAfter)
}

const settleQuery = `
		UPDATE jobs SET state = ?, next_attempt_at = CASE WHEN ? = 0 THEN next_attempt_at ELSE ? END,
			lease_until = 0, lease_owner = '', last_error = ?, what_to_do = ?, updated_at = ?
		WHERE id = ? AND state = 'running' AND lease_owner = ?`

// settle records a claimed job's outcome, if this claim still holds it (a
// claim whose lease expired and was taken over changes nothing).
func (q *Queue) settle(ctx context.Context, j Job, to State, next int64, lastErr, whatToDo string) error {
	now := ms(q.opt.Now())
	if to == Queued && next == 0 {
		next = now
	}
	st, err := q.stmt(ctx, settleQuery)
	if err != nil {
		return fmt.Errorf("job %d: record %s: %w", j.ID, to, err)
	}
	res, err := st.ExecContext(ctx, to, next, next, lastErr, whatToDo, now, j.ID, j.LeaseOwner)
	if err != nil {
		return fmt.Errorf("job %d: record %s: %w", j.ID, to, store.DiskError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		q.log.Warn("job lease was lost before it finished; outcome not recorded", "kind", j.Kind, "job", j.ID)
	}
	q.notify()
	return nil
}

type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("the handler crashed: %v", e.value) }

// safeCall runs h, turning a panic into an error so one bad job cannot take
// the app down.
func safeCall(ctx context.Context, h Handler, j Job) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return h(ctx, j)
}

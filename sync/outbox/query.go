package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/nextvisit/scribe/sync/store"
)

// Get returns one job, or an error wrapping ErrNotFound.
func (q *Queue) Get(ctx context.Context, id ID) (Job, error) {
	j, err := scanJob(q.db.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("read job %d: %w", id, err)
	}
	return j, nil
}

// Filter selects jobs for List.
type Filter struct {
	States []State // only these; none means all
	Group  string  // only this group; "" means all
	Limit  int     // at most this many; 0 means all
	Newest bool    // newest first (the last Limit jobs) instead of enqueue order
}

// List returns the jobs matching f in enqueue order (or newest first).
func (q *Queue) List(ctx context.Context, f Filter) ([]Job, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.Group != "" {
		where = append(where, "group_key = ?")
		args = append(args, f.Group)
	}
	query := "SELECT " + jobColumns + " FROM jobs"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Newest {
		query += " ORDER BY id DESC"
	} else {
		query += " ORDER BY id"
	}
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// Counts returns how many jobs are in each state (states with none are absent).
func (q *Queue) Counts(ctx context.Context) (map[State]int, error) {
	rows, err := q.db.QueryContext(ctx, "SELECT state, count(*) FROM jobs GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	out := map[State]int{}
	for rows.Next() {
		var s State
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

// Retry puts a needs-attention or cancelled job back in the queue to run
// now, with a fresh maximum-age window.
func (q *Queue) Retry(ctx context.Context, id ID) error {
	now := ms(q.opt.Now())
	if err := q.transition(ctx, id, "retry", `
		UPDATE jobs SET state = 'queued', next_attempt_at = ?1, age_from = ?1, what_to_do = '', updated_at = ?1
		WHERE id = ?2 AND state IN ('needs-attention', 'cancelled')`, now, id); err != nil {
		return err
	}
	q.Kick()
	return nil
}

// Cancel gives up on a queued or needs-attention job; it will not run
// again unless retried. A running job cannot be cancelled: its effect may
// already be on the server.
func (q *Queue) Cancel(ctx context.Context, id ID) error {
	now := ms(q.opt.Now())
	if err := q.transition(ctx, id, "cancel", `
		UPDATE jobs SET state = 'cancelled', what_to_do = '', updated_at = ?1
		WHERE id = ?2 AND state IN ('queued', 'needs-attention')`, now, id); err != nil {
		return err
	}
	q.Kick() // the group behind it may now run
	return nil
}

func (q *Queue) transition(ctx context.Context, id ID, verb, query string, args ...any) error {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s job %d: %w", verb, id, store.DiskError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s job %d: %w", verb, id, err)
	} else if n == 1 {
		q.log.Info("job "+verb, "job", id)
		q.notify()
		return nil
	}
	j, err := q.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("%s job: %w", verb, err)
	}
	return fmt.Errorf("%s job %d: it is %s: %w", verb, id, j.State, ErrState)
}

// RetryNow makes every queued job due at once, cutting short any backoff
// (a person pressed Send now, or signed in again), and wakes the workers.
// It returns how many jobs it moved.
func (q *Queue) RetryNow(ctx context.Context) (int, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE jobs SET next_attempt_at = ?1, updated_at = ?1
		WHERE state = 'queued' AND next_attempt_at > ?1`, ms(q.opt.Now()))
	if err != nil {
		return 0, fmt.Errorf("retry queued jobs now: %w", store.DiskError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("retry queued jobs now: %w", err)
	}
	q.Committed()
	return int(n), nil
}

// QueuedTx reports, inside tx, whether group has a job of kind waiting to
// run (queued, not yet claimed). A caller that coalesces repeated changes
// (a note edited as it is typed) enqueues only when none waits: the waiting
// job will read the latest state when it runs.
func (q *Queue) QueuedTx(ctx context.Context, tx *sql.Tx, group, kind string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs
		WHERE group_key = ? AND kind = ? AND state = 'queued'`, group, kind).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for a queued %s job: %w", kind, err)
	}
	return n > 0, nil
}

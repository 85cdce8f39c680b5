package ehrkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

// Idempotency-Key handling. Each model's schema has this table:
//
//	CREATE TABLE idempotency_keys (
//		key TEXT PRIMARY KEY, route TEXT NOT NULL, boot_id TEXT NOT NULL,
//		status INTEGER, body BLOB, effects INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL) STRICT;
//
// status is NULL while the first request is in flight. The effect of a request and its stored answer
// are written in one transaction, so a key has both or neither; boot_id names the process that claimed
// it, so a claim left by a process that died (and so had no effect) can be taken over by a retry.

// MaxKeyLen bounds an Idempotency-Key.
const MaxKeyLen = 255

// keyWait bounds how long a retry waits for the first request with its key to finish.
const keyWait = time.Minute

var (
	// ErrKeyTooLong: the key is longer than MaxKeyLen.
	ErrKeyTooLong = fmt.Errorf("the Idempotency-Key header must be at most %d characters", MaxKeyLen)
	// ErrKeyReused: the key was first used for another route.
	ErrKeyReused = errors.New("this Idempotency-Key was already used for another request; use a new key for a new request")
	// ErrKeyInFlight: the first request with this key is still running after the wait.
	ErrKeyInFlight = errors.New("a request with this Idempotency-Key is still in progress; retry later")
)

// Keys hands out claims on Idempotency-Keys stored in db.
type Keys struct {
	db     *sql.DB
	now    func() time.Time
	bootID string
}

// NewKeys returns the claims store over db's idempotency_keys table.
func NewKeys(db *sql.DB, now func() time.Time) *Keys {
	return &Keys{db: db, now: now, bootID: rand.Text()}
}

// Replay is the stored answer of a key's first request.
type Replay struct {
	Status int
	Body   []byte
}

// Claim is a key owned by the request in flight. A nil *Claim (no key sent) makes every method a no-op.
type Claim struct {
	k    *Keys
	key  string
	done bool
}

// Begin claims key for a request to route. With no key it returns (nil, nil, nil). With a key whose
// first request has finished it returns that request's answer to replay; a key in flight is waited for.
func (k *Keys) Begin(ctx context.Context, key, route string) (*Claim, *Replay, error) {
	if key == "" {
		return nil, nil, nil
	}
	if len(key) > MaxKeyLen {
		return nil, nil, ErrKeyTooLong
	}
	ctx, cancel := context.WithTimeout(ctx, keyWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := k.db.ExecContext(ctx, `INSERT INTO idempotency_keys (key, route, boot_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, key, route, k.bootID, sqlitedb.FormatTime(k.now()))
		if err != nil {
			return nil, nil, fmt.Errorf("claim idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return &Claim{k: k, key: key}, nil, nil
		}
		var prevRoute, boot string
		var status sql.NullInt64
		var body []byte
		err = k.db.QueryRowContext(ctx, `SELECT route, boot_id, status, body FROM idempotency_keys WHERE key = ?`, key).
			Scan(&prevRoute, &boot, &status, &body)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // the first request failed and let the key go: claim it again
		case err != nil:
			return nil, nil, fmt.Errorf("read idempotency key: %w", err)
		case prevRoute != route:
			return nil, nil, ErrKeyReused
		case status.Valid:
			return nil, &Replay{Status: int(status.Int64), Body: body}, nil
		case boot != k.bootID:
			res, err := k.db.ExecContext(ctx, `UPDATE idempotency_keys SET boot_id = ? WHERE key = ? AND boot_id = ? AND status IS NULL`,
				k.bootID, key, boot)
			if err != nil {
				return nil, nil, fmt.Errorf("take over idempotency key: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				return &Claim{k: k, key: key}, nil, nil
			}
			continue
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, nil, ErrKeyInFlight
		}
	}
}

// Record stores the answer in tx, the transaction that made the request's effect (effect true) or, for
// a request that changed nothing, a transaction of its own.
func (c *Claim) Record(ctx context.Context, tx *sql.Tx, status int, body []byte, effect bool) error {
	if c == nil {
		return nil
	}
	n := 0
	if effect {
		n = 1
	}
	res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, body = ?, effects = effects + ?
		WHERE key = ? AND boot_id = ? AND status IS NULL`, status, body, n, c.key, c.k.bootID)
	if err != nil {
		return fmt.Errorf("record idempotent response: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("record idempotent response: the key is no longer held by this request")
	}
	c.done = true
	return nil
}

// Release lets the key go when the request ends without recording an answer (a failure of the sandbox
// itself), so a retry runs again instead of replaying an error.
func (c *Claim) Release(ctx context.Context) error {
	if c == nil || c.done {
		return nil
	}
	_, err := c.k.db.ExecContext(context.WithoutCancel(ctx),
		`DELETE FROM idempotency_keys WHERE key = ? AND boot_id = ? AND status IS NULL`, c.key, c.k.bootID)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// Effects reports how many times a request with key changed the chart: 0 or 1, never more.
func (k *Keys) Effects(ctx context.Context, key string) (int, error) {
	var n int
	err := k.db.QueryRowContext(ctx, `SELECT effects FROM idempotency_keys WHERE key = ?`, key).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read idempotency effects: %w", err)
	}
	return n, nil
}

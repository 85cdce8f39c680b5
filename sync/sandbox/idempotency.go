package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

// idempotencyWait bounds how long a retry waits for the first request with its key to finish.
const idempotencyWait = time.Minute

// claim is an Idempotency-Key owned by the request in flight. The effect of the request and its stored
// response are written in one transaction (record), so a key either has both or neither; a nil *claim
// (no key sent) makes every method a no-op.
type claim struct {
	s      *Server
	userID int64
	key    string
	done   bool
}

// beginIdempotent reads the Idempotency-Key header. With no key it returns (nil, true). With a new key
// the request owns it: (claim, true). A key whose first request has finished is answered with that
// request's stored status and body (a replay), and a key still in flight is waited for first; in those
// cases, and for a bad key, it has answered and returns false.
func (s *Server) beginIdempotent(w http.ResponseWriter, r *http.Request, p principal) (*claim, bool) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return nil, true
	}
	if len(key) > maxNameLen {
		invalid(w, "Idempotency-Key", fmt.Sprintf("The Idempotency-Key header must not be greater than %d characters.", maxNameLen))
		return nil, false
	}
	route := r.Pattern
	ctx, cancel := context.WithTimeout(r.Context(), idempotencyWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := s.db.ExecContext(ctx, `
			INSERT INTO idempotency_keys (user_id, key, route, boot_id, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, p.userID, key, route, s.bootID, sqlitedb.FormatTime(s.now()))
		if err != nil {
			s.internal(w, "claim idempotency key", err)
			return nil, false
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return &claim{s: s, userID: p.userID, key: key}, true
		}
		var prevRoute, boot string
		var status sql.NullInt64
		var body []byte
		err = s.db.QueryRowContext(ctx, `SELECT route, boot_id, status, body FROM idempotency_keys WHERE user_id = ? AND key = ?`,
			p.userID, key).Scan(&prevRoute, &boot, &status, &body)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // the first request failed and let the key go: claim it again
		case err != nil:
			s.internal(w, "read idempotency key", err)
			return nil, false
		case prevRoute != route:
			invalid(w, "Idempotency-Key", fmt.Sprintf("This Idempotency-Key was already used for another request (%s); use a new key for a new request.", prevRoute))
			return nil, false
		case status.Valid:
			w.Header().Set("Idempotent-Replayed", "true")
			writeRaw(w, int(status.Int64), body)
			return nil, false
		case boot != s.bootID:
			// Claimed by a sandbox process that has since died before recording anything: no effect
			// happened, so this request may take the key over.
			res, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys SET boot_id = ? WHERE user_id = ? AND key = ? AND boot_id = ? AND status IS NULL`,
				s.bootID, p.userID, key, boot)
			if err != nil {
				s.internal(w, "take over idempotency key", err)
				return nil, false
			}
			if n, _ := res.RowsAffected(); n == 1 {
				return &claim{s: s, userID: p.userID, key: key}, true
			}
			continue
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			if r.Context().Err() == nil {
				writeMessage(w, http.StatusConflict, "A request with this Idempotency-Key is still in progress; retry later.")
			}
			return nil, false
		}
	}
}

// record stores the response in tx, the transaction that made the request's effect (if effect is
// true) or, for a request that changed nothing, a transaction of its own.
func (c *claim) record(ctx context.Context, tx *sql.Tx, status int, body []byte, effect bool) error {
	if c == nil {
		return nil
	}
	n := 0
	if effect {
		n = 1
	}
	res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, body = ?, effects = effects + ?
		WHERE user_id = ? AND key = ? AND boot_id = ? AND status IS NULL`, status, body, n, c.userID, c.key, c.s.bootID)
	if err != nil {
		return fmt.Errorf("record idempotent response: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("record idempotent response: the key is no longer held by this request")
	}
	c.done = true
	return nil
}

// reply answers a request that had no effect (a validation failure) and, when it holds a key, stores
// that answer for retries with the same key.
func (s *Server) reply(ctx context.Context, w http.ResponseWriter, c *claim, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		s.internal(w, "encode response", err)
		return
	}
	if c != nil {
		if err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error { return c.record(ctx, tx, status, body, false) }); err != nil {
			s.internal(w, "store idempotent response", err)
			return
		}
	}
	writeRaw(w, status, body)
}

// release lets the key go when the request ends without recording a response (a failure of the
// sandbox itself), so a retry runs again instead of replaying an error.
func (c *claim) release(ctx context.Context) {
	if c == nil || c.done {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := c.s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND boot_id = ? AND status IS NULL`,
		c.userID, c.key, c.s.bootID); err != nil {
		c.s.log.Error("release idempotency key", "err", err)
	}
}

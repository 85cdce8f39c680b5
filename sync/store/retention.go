package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RetentionStore is what deleting local data needs beyond Store: a mark on
// an encounter whose audio (and perhaps text) is gone, the removal of its
// text, and the settings keys under a prefix (the servers signed in to).
type RetentionStore interface {
	// MarkLocalDeletion records that id's local data was deleted.
	MarkLocalDeletion(ctx context.Context, id string, d LocalDeletion) error
	// LocalDeletion returns id's mark, or an error wrapping ErrNotFound
	// when nothing of it was deleted.
	LocalDeletion(ctx context.Context, id string) (LocalDeletion, error)
	// DeleteLocalText removes id's transcript (turns, coverage), draft and
	// kept copy of the server's note, in one transaction.
	DeleteLocalText(ctx context.Context, id string) error
	// SettingKeys lists the settings keys that start with prefix.
	SettingKeys(ctx context.Context, prefix string) ([]string, error)
}

var _ RetentionStore = (*DB)(nil)

// LocalDeletion says what of an encounter's local data was deleted, when
// and why. The encounter's row stays, so its history can still be shown.
type LocalDeletion struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"` // e.g. "retention", "on request"
	Text   bool      `json:"text"`   // the transcript and draft went too, not only the audio
}

// The mark is kept as a setting rather than a column: it is written once
// and read by one screen, and a setting needs no table rebuild.
const deletionKey = "local-deletion:"

// MarkLocalDeletion implements RetentionStore.
func (s *DB) MarkLocalDeletion(ctx context.Context, id string, d LocalDeletion) error {
	if id == "" || d.At.IsZero() || d.Reason == "" {
		return fmt.Errorf("mark encounter %q deleted: empty id, time or reason", id)
	}
	d.At = d.At.UTC()
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("mark encounter %s deleted: %w", id, err)
	}
	return s.SetSetting(ctx, deletionKey+id, string(b))
}

// LocalDeletion implements RetentionStore.
func (s *DB) LocalDeletion(ctx context.Context, id string) (LocalDeletion, error) {
	v, err := s.Setting(ctx, deletionKey+id)
	if err != nil {
		return LocalDeletion{}, err
	}
	var d LocalDeletion
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		return LocalDeletion{}, fmt.Errorf("read the deletion mark of encounter %s: %w", id, err)
	}
	return d, nil
}

// DeleteLocalText implements RetentionStore.
func (s *DB) DeleteLocalText(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete the text of encounter %s: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "UPDATE encounters SET draft = '', note = '' WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete the text of encounter %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete the text of encounter %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete the text of encounter %s: %w", id, ErrNotFound)
	}
	for _, q := range []string{"DELETE FROM turns WHERE encounter_id = ?", "DELETE FROM coverage WHERE encounter_id = ?"} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("delete the text of encounter %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete the text of encounter %s: %w", id, err)
	}
	return nil
}

// SettingKeys implements RetentionStore.
func (s *DB) SettingKeys(ctx context.Context, prefix string) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("list settings: empty prefix")
	}
	// substr of bytes rather than LIKE: a prefix may hold '%' or '_' (URLs do).
	rows, err := s.db.QueryContext(ctx,
		"SELECT key FROM settings WHERE substr(CAST(key AS BLOB), 1, ?) = CAST(? AS BLOB) ORDER BY key", len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("list settings %q: %w", prefix, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list settings %q: %w", prefix, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list settings %q: %w", prefix, err)
	}
	return keys, nil
}

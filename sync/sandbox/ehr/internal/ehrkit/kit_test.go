package ehrkit

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

const keysTable = `CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, route TEXT NOT NULL, boot_id TEXT NOT NULL,
	status INTEGER, body BLOB, effects INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL) STRICT;`

func openTest(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sqlitedb.OpenDB(t.Context(), filepath.Join(t.TempDir(), "t.db"), fstest.MapFS{
		"migrations/001_keys.sql": {Data: []byte(keysTable)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestClaimRecordReplay(t *testing.T) {
	db := openTest(t)
	now := func() time.Time { return time.Unix(0, 0) }
	k := NewKeys(db, now)
	ctx := t.Context()
	if c, r, err := k.Begin(ctx, "", "POST /x"); c != nil || r != nil || err != nil {
		t.Fatalf("no key: %v %v %v", c, r, err)
	}
	if _, _, err := k.Begin(ctx, strings.Repeat("k", MaxKeyLen+1), "POST /x"); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("long key: %v", err)
	}
	c, _, err := k.Begin(ctx, "a", "POST /x")
	if err != nil || c == nil {
		t.Fatalf("claim: %v", err)
	}
	if err := sqlitedb.InTx(ctx, db, func(tx *sql.Tx) error { return c.Record(ctx, tx, 201, []byte(`{"id":1}`), true) }); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	_, r, err := k.Begin(ctx, "a", "POST /x")
	if err != nil || r == nil || r.Status != 201 || string(r.Body) != `{"id":1}` {
		t.Fatalf("replay: %+v %v", r, err)
	}
	if _, _, err := k.Begin(ctx, "a", "POST /y"); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("other route: %v", err)
	}
	if n, err := k.Effects(ctx, "a"); n != 1 || err != nil {
		t.Fatalf("effects %d %v", n, err)
	}
}

// A claim left by a process that died before recording had no effect; the next process takes it over.
func TestClaimOfADeadProcessIsTakenOver(t *testing.T) {
	db := openTest(t)
	now := func() time.Time { return time.Unix(0, 0) }
	if _, _, err := NewKeys(db, now).Begin(t.Context(), "a", "POST /x"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, r, err := NewKeys(db, now).Begin(ctx, "a", "POST /x")
	if err != nil || c == nil || r != nil {
		t.Fatalf("takeover: %v %v %v", c, r, err)
	}
	// A released claim frees the key for the next try.
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _, err := NewKeys(db, now).Begin(ctx, "a", "POST /x"); err != nil || c == nil {
		t.Fatalf("after release: %v", err)
	}
}

package sqlitedb

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrations(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	ok := fstest.MapFS{
		"migrations/001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"migrations/002_b.sql": {Data: []byte("CREATE TABLE b (y INTEGER);")},
	}
	db := open(t)
	for range 2 { // applying twice is a no-op
		if err := migrate(t.Context(), db, ok); err != nil {
			t.Fatal(err)
		}
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
		t.Errorf("user_version %d %v", v, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":     {"migrations/001_a.sql": ok["migrations/001_a.sql"], "migrations/003_c.sql": ok["migrations/002_b.sql"]},
		"no num":  {"migrations/first.sql": ok["migrations/001_a.sql"]},
		"bad sql": {"migrations/001_a.sql": {Data: []byte("CREATE TABL oops;")}},
	} {
		if err := migrate(t.Context(), open(t), fsys); err == nil {
			t.Errorf("%s: migrate succeeded", name)
		}
	}
	// A database from a newer sandbox is refused, not damaged.
	newer := open(t)
	if _, err := newer.Exec("PRAGMA user_version = 9"); err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), newer, ok); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer schema: %v", err)
	}
	// A failed migration leaves no half-applied state.
	half := open(t)
	if err := migrate(t.Context(), half, fstest.MapFS{"migrations/001_a.sql": {Data: []byte("CREATE TABLE t (x); CREATE TABL oops;")}}); err == nil {
		t.Fatal("broken migration applied")
	}
	var tables int
	if err := half.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 't'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("half-applied migration left table t (%d, %v)", tables, err)
	}
}

func TestOpenDBPragmasAndPermissions(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "x.db")
	db, err := OpenDB(t.Context(), file, fstest.MapFS{"migrations/001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var fk, busy int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || fk != 1 || busy < 1000 {
		t.Errorf("journal_mode %s foreign_keys %d busy_timeout %d", mode, fk, busy)
	}
	for _, f := range []string{file, file + "-wal"} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", f, fi.Mode().Perm(), err)
		}
	}
}

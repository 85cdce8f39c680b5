package store

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"modernc.org/sqlite"
)

// fillUp caps the database at its current size on the pool's only
// connection (max_page_count is per connection), so the next write that
// needs a page fails with SQLITE_FULL, as on a full disk.
func fillUp(t *testing.T, db *sql.DB) {
	t.Helper()
	db.SetMaxOpenConns(1)
	var pages int
	if err := db.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// PRAGMA takes no bound parameters.
	if _, err := db.ExecContext(t.Context(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
}

func TestDiskErrorFull(t *testing.T) {
	s, _ := openTest(t)
	if err := s.SetSetting(t.Context(), "before", "kept"); err != nil {
		t.Fatal(err)
	}
	fillUp(t, s.db)
	raw := s.SetSetting(t.Context(), "big", strings.Repeat("x", 256<<10))
	if raw == nil {
		t.Fatal("a 256 KiB write fit in a database capped at its size")
	}
	err := DiskError(raw)
	if !errors.Is(err, ErrDiskFull) || errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "free some space") {
		t.Errorf("DiskError(%v) = %v, want ErrDiskFull saying to free space", raw, err)
	}
	if se := (*sqlite.Error)(nil); !errors.As(err, &se) {
		t.Errorf("DiskError lost the SQLite error: %v", err)
	}
	if again := DiskError(err); again != err {
		t.Errorf("converting twice changed the error: %v", again)
	}
	if v, err := s.Setting(t.Context(), "before"); err != nil || v != "kept" {
		t.Errorf("setting written before the disk filled: %q, %v", v, err)
	}
	if _, err := s.Setting(t.Context(), "big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed write left something behind: %v", err)
	}
}

// query_only makes SQLite refuse writes with SQLITE_READONLY, the code a
// read-only file gives, and works even as root.
func TestDiskErrorReadOnly(t *testing.T) {
	s, _ := openTest(t)
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.ExecContext(t.Context(), "PRAGMA query_only = ON"); err != nil {
		t.Fatal(err)
	}
	raw := s.SetSetting(t.Context(), "k", "v")
	err := DiskError(raw)
	if !errors.Is(err, ErrReadOnly) || errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("DiskError(%v) = %v, want ErrReadOnly", raw, err)
	}
}

// A database file its user may not write (root may write anything, so this
// runs only as another user).
func TestDiskErrorReadOnlyFile(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs a POSIX system and a user other than root, whom file modes do not stop")
	}
	path := filepath.Join(t.TempDir(), "ro.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE t (v TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, raw := db.ExecContext(t.Context(), "INSERT INTO t VALUES ('x')")
	if err := DiskError(raw); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write to a 0400 file: DiskError(%v) = %v, want ErrReadOnly", raw, err)
	}
}

func TestDiskErrorLeavesOthersAlone(t *testing.T) {
	if DiskError(nil) != nil {
		t.Error("DiskError(nil) is not nil")
	}
	plain := errors.New("plain")
	if DiskError(plain) != plain {
		t.Error("DiskError changed a non-SQLite error")
	}
	s, _ := openTest(t)
	_, raw := s.db.ExecContext(t.Context(), "INSERT INTO no_such_table VALUES (1)")
	if raw == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	if err := DiskError(raw); err != raw {
		t.Errorf("DiskError changed a SQL error: %v", err)
	}
}

package store

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestOpenSetsWALAndPragmas(t *testing.T) {
	s, path := openTest(t)
	if err := s.SetSetting(t.Context(), "k", "v"); err != nil { // makes SQLite create the -wal file
		t.Fatal(err)
	}

	// Check from a connection opened independently of the store's DSN:
	// journal_mode=WAL is persistent, so it must be in the file itself.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}

	// Per-connection pragmas, on several of the store's own pool connections.
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		c, err := s.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		var fk, busy, syncMode int
		if err := c.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&syncMode); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || busy != 5000 || syncMode != 1 {
			t.Errorf("conn %d: foreign_keys=%d busy_timeout=%d synchronous=%d; want 1, 5000, 1 (NORMAL)", i, fk, busy, syncMode)
		}
	}

	if runtime.GOOS != "windows" {
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode = %o, want 600", filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
}

func TestOpenTightensExistingFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permission bits on Windows")
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // defeat the umask
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %o, want 600", fi.Mode().Perm())
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s, err := Open(t.Context(), path, nil)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		var v int
		if err := s.db.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != len(ms) {
			t.Errorf("open #%d: user_version = %d, want %d", i+1, v, len(ms))
		}
		if i == 0 {
			if err := s.SetSetting(t.Context(), "server", "http://a.example/api"); err != nil {
				t.Fatal(err)
			}
		} else if got, err := s.Setting(t.Context(), "server"); err != nil || got != "http://a.example/api" {
			t.Errorf("open #%d: setting = %q, %v", i+1, got, err)
		}
		s.Close()
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	s, path := openTest(t)
	if _, err := s.db.ExecContext(t.Context(), "PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(t.Context(), path, nil)
	if err == nil || !strings.Contains(err.Error(), "newer Scribe") {
		t.Fatalf("Open of a newer schema: %v, want an error saying a newer Scribe wrote it", err)
	}
}

// Two processes (the window and a CLI command) may open a fresh profile at
// once; both must succeed and the schema be applied once.
func TestConcurrentOpenOfFreshFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := Open(t.Context(), path, nil)
			if err == nil {
				err = s.SetSetting(t.Context(), "k", "v")
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(t.Context(), dir, nil); err == nil {
		t.Error("Open of a folder succeeded")
	}
	if _, err := Open(t.Context(), filepath.Join(dir, "a?b.db"), nil); err == nil || !strings.Contains(err.Error(), "'?'") {
		t.Errorf("Open of a path with '?': %v, want an error naming the '?'", err)
	}
	if _, err := Open(t.Context(), "", nil); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	if _, err := s.Setting(ctx, "server"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing setting: %v, want ErrNotFound", err)
	}
	for _, v := range []string{"https://nextvisit.app/api", "http://127.0.0.1:8080/api", ""} {
		if err := s.SetSetting(ctx, "server", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Setting(ctx, "server"); err != nil || got != v {
			t.Errorf("Setting = %q, %v; want %q", got, err, v)
		}
	}
	if err := s.SetSetting(ctx, "email", "a@b.c"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Setting(ctx, "server"); got != "" {
		t.Errorf("writing another key changed server to %q", got)
	}
	if err := s.SetSetting(ctx, "", "x"); err == nil {
		t.Error("SetSetting with empty key succeeded")
	}
}

func ids(ps []Patient) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func TestSearchPatients(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	updated := time.Date(2024, 6, 20, 14, 45, 0, 0, time.UTC)
	roster := []Patient{
		{ID: 1, FirstName: "Jane", MiddleName: "Marie", LastName: "Doe", DateOfBirth: "1985-03-15", Gender: "female", UpdatedAt: updated},
		{ID: 2, FirstName: "John", LastName: "Doe"},
		{ID: 3, FirstName: "Maria", LastName: "Garcia"},
		{ID: 4, FirstName: "Ann", LastName: "O'Neil_100%"},
		{ID: 5, FirstName: "ann", LastName: "Adams"},
	}
	if err := s.UpsertPatients(ctx, "srv-a#1", roster); err != nil {
		t.Fatal(err)
	}
	// Another account's roster must not leak into srv-a's searches.
	if err := s.UpsertPatients(ctx, "srv-b#1", []Patient{{ID: 1, FirstName: "Zed", LastName: "Doe"}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		q     string
		limit int
		want  []int64
	}{
		{"", 10, []int64{5, 1, 2, 3, 4}}, // by last name, then first, case-insensitive
		{"doe", 10, []int64{1, 2}},
		{"MAR", 10, []int64{1, 3}}, // middle name Marie, first name Maria
		{"jane doe", 10, []int64{1}},
		{"doe  jane", 10, []int64{1}},
		{"ann", 10, []int64{5, 4}},
		{"%", 10, []int64{4}}, // a literal percent sign, not a wildcard
		{"_", 10, []int64{4}},
		{"nobody", 10, nil},
		{"", 2, []int64{5, 1}},
	} {
		got, err := s.SearchPatients(ctx, "srv-a#1", tc.q, tc.limit)
		if err != nil {
			t.Fatalf("search %q: %v", tc.q, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("search %q limit %d = %v, want %v", tc.q, tc.limit, ids(got), tc.want)
		}
	}

	got, err := s.SearchPatients(ctx, "srv-a#1", "jane", 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("search jane: %v, %v", got, err)
	}
	p := got[0]
	if p.MiddleName != "Marie" || p.DateOfBirth != "1985-03-15" || p.Gender != "female" || !p.UpdatedAt.Equal(updated) {
		t.Errorf("round trip lost fields: %+v", p)
	}
	if p.FetchedAt.IsZero() || time.Since(p.FetchedAt) > time.Hour {
		t.Errorf("FetchedAt = %v, want stamped now when not given", p.FetchedAt)
	}

	// Upsert replaces a changed patient rather than duplicating it.
	if err := s.UpsertPatients(ctx, "srv-a#1", []Patient{{ID: 2, FirstName: "Johnny", LastName: "Doe"}}); err != nil {
		t.Fatal(err)
	}
	got, err = s.SearchPatients(ctx, "srv-a#1", "doe", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].FirstName != "Johnny" {
		t.Errorf("after upsert: %+v, want Jane and Johnny Doe", got)
	}

	if _, err := s.SearchPatients(ctx, "srv-a#1", "", 0); err == nil {
		t.Error("limit 0 accepted")
	}
	if err := s.UpsertPatients(ctx, "", roster); err == nil {
		t.Error("empty scope accepted")
	}
}

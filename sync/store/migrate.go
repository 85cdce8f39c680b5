package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
)

// Migrations are numbered files, 0001_name.sql, 0002_name.sql, ..., applied
// in order and never edited once released: a change is a new file. The
// schema version is SQLite's user_version.
//
// This is a small runner rather than goose: goose reads the applied version
// and applies the pending files in separate steps with no lock for SQLite,
// so the window and a CLI command opening a fresh profile at the same moment
// could both apply 0001. Here the check and all the work happen in one
// BEGIN IMMEDIATE transaction, so the second process waits (busy_timeout)
// and then finds nothing left to do.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded files and checks that they are
// numbered 1, 2, 3, ... with no gap or duplicate.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", e.Name())
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", e.Name(), len(ms)+1)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	return ms, nil
}

// migrate brings db to the newest schema version.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	// The DSN's _txlock=immediate makes this BEGIN IMMEDIATE: the write lock
	// is held before user_version is read.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var have int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("the database has schema version %d but this Scribe knows only up to %d; it was written by a newer Scribe — update Scribe", have, len(ms))
	}
	if have == len(ms) {
		return nil
	}
	for _, m := range ms[have:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		log.Info("applied database migration", "migration", m.name)
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(ms))); err != nil {
		return fmt.Errorf("migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

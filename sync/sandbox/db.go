package sandbox

import (
	"database/sql"
	"embed"
)

// migrationFiles is the sandbox's schema, applied by sqlitedb.OpenDB. Times
// are stored as sqlitedb.TimeLayout: UTC, fixed width (so stored times sort
// as text), microseconds like the Laravel API the sandbox stands in for.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// nullString maps "" to NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

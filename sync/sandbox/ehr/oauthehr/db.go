package oauthehr

import (
	"embed"
	"errors"
)

// migrationFiles is the EHR's schema, applied by sqlitedb.OpenDB. Times are
// stored as sqlitedb.TimeLayout: UTC and fixed width, so they sort as text
// (updated_since compares them that way).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// errNotFound is returned by lookups that found no row.
var errNotFound = errors.New("not found")

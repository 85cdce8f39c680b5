package store

import "database/sql"

// SQL returns the underlying pool, for packages that keep their own tables
// in the profile database (sync/outbox) and need transactions spanning them.
// The pool stays owned by s: do not close it.
func (s *DB) SQL() *sql.DB {
	return s.db
}

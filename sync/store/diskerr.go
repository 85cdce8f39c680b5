package store

import (
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinels for writes the disk refused, matched (errors.Is) by errors that
// went through DiskError. Each means the change was not saved and what was
// saved before is intact: SQLite rolls the failed transaction back whole.
var (
	// ErrDiskFull: the disk (or a size limit on the database) has no room left.
	ErrDiskFull = errors.New("disk full")
	// ErrReadOnly: the database may be read but not written (a read-only
	// file, folder or mount).
	ErrReadOnly = errors.New("database is read-only")
	// ErrCannotWrite: the operating system failed a read or write of the
	// database file, or could not open it (a failing disk, a removed
	// drive, permissions changed under a running Scribe).
	ErrCannotWrite = errors.New("cannot write the database")
)

// diskError carries a sentinel, what the person should do, and the SQLite
// error underneath.
type diskError struct {
	sentinel error
	advice   string
	err      error
}

func (e *diskError) Error() string   { return e.advice + " (" + e.err.Error() + ")" }
func (e *diskError) Unwrap() []error { return []error{e.sentinel, e.err} }

// DiskError turns a SQLite error that means the disk refused a write —
// SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR or SQLITE_CANTOPEN, with any
// extended code — into one that matches ErrDiskFull, ErrReadOnly or
// ErrCannotWrite, still wraps err, and says what to do. Any other error
// (nil included, or one already converted) comes back unchanged.
func DiskError(err error) error {
	var de *diskError
	if err == nil || errors.As(err, &de) {
		return err
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff { // the primary code; the rest says which variant
	case sqlite3.SQLITE_FULL:
		return &diskError{ErrDiskFull, "the disk holding the Scribe profile is full: free some space, then try again; nothing queued was lost", err}
	case sqlite3.SQLITE_READONLY:
		return &diskError{ErrReadOnly, "the profile database is read-only: make the profile folder and its scribe.db writable " +
			"(or move the profile off a read-only disk), then restart Scribe; nothing queued was lost", err}
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return &diskError{ErrCannotWrite, "Scribe cannot write the profile database: check that its disk is connected and healthy " +
			"and that the profile folder is writable, then restart Scribe; nothing queued was lost", err}
	}
	return err
}

// Package store is Scribe's local database: one SQLite file per profile
// (scribe.db), its schema as embedded numbered migrations, and the
// repositories the app uses on top of it. It holds the profile's settings,
// a cache of the patient roster, so a patient can be found while the server
// is out of reach, and the encounters recorded or imported here.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotADatabase is returned by Open when the file exists but is not SQLite.
var ErrNotADatabase = errors.New("not a database")

// busyTimeout is how long a statement waits for another connection's lock (busy_timeout).
const busyTimeout = 5 * time.Second

// FileName is the database's name inside a profile folder.
const FileName = "scribe.db"

// ErrNotFound is returned (wrapped) when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is what the app needs from the local database.
type Store interface {
	// Setting returns the value stored under key, or an error wrapping
	// ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// SetSetting stores value under key, replacing any earlier value.
	SetSetting(ctx context.Context, key, value string) error
	// UpsertPatients writes patients fetched from the account named by
	// scope into the roster cache, in one transaction.
	UpsertPatients(ctx context.Context, scope string, patients []Patient) error
	// BeginTx starts a write transaction, for the *Tx methods and a job
	// enqueued with them (sync/outbox EnqueueTx).
	BeginTx(ctx context.Context) (*sql.Tx, error)
	// UpsertPatientsTx is UpsertPatients inside tx.
	UpsertPatientsTx(ctx context.Context, tx *sql.Tx, scope string, patients []Patient) error
	// ResolvePatient replaces the local patient localID (negative: added on
	// this computer, not yet on the server) with p as the server made it,
	// and points the encounters of localID at p.ID, in one transaction.
	ResolvePatient(ctx context.Context, scope string, localID int64, p Patient) error
	// DeletePatient removes one patient from the cache; encounters with a
	// local (negative) patient id that is removed lose their patient.
	DeletePatient(ctx context.Context, scope string, id int64) error
	// Patient returns one patient kept for scope, or an error wrapping
	// ErrNotFound.
	Patient(ctx context.Context, scope string, id int64) (Patient, error)
	// ServerPatientID is the server id a local patient was given, or an
	// error wrapping ErrNotFound while it has none yet.
	ServerPatientID(ctx context.Context, scope string, localID int64) (int64, error)
	// LocalPatients lists the patients added on this computer and not yet
	// on the server (negative ids), newest first.
	LocalPatients(ctx context.Context, scope string) ([]Patient, error)
	// SearchPatients answers a roster search from the cache of scope: every
	// word of q must appear in the first, middle or last name
	// (case-insensitive); an empty q lists everyone. At most limit
	// patients come back, ordered by last then first name.
	SearchPatients(ctx context.Context, scope, q string, limit int) ([]Patient, error)
	// CreateEncounter adds an encounter; an error wrapping ErrExists when
	// its id is taken.
	CreateEncounter(ctx context.Context, e Encounter) error
	// UpdateEncounter changes an encounter's state and duration (and its
	// end time and device when given); an error wrapping ErrNotFound when
	// there is no such encounter.
	UpdateEncounter(ctx context.Context, id string, u EncounterUpdate) error
	// DeleteEncounter removes an encounter's row (not its journal).
	DeleteEncounter(ctx context.Context, id string) error
	// Encounter returns one encounter, or an error wrapping ErrNotFound.
	Encounter(ctx context.Context, id string) (Encounter, error)
	// Encounters lists encounters newest first.
	Encounters(ctx context.Context, q EncounterQuery) ([]Encounter, error)
	// EncounterTx is Encounter inside tx.
	EncounterTx(ctx context.Context, tx *sql.Tx, id string) (Encounter, error)
	// PatchEncounter changes the fields of p that are set; an error
	// wrapping ErrNotFound when there is no such encounter.
	PatchEncounter(ctx context.Context, id string, p EncounterPatch) error
	// PatchEncounterTx is PatchEncounter inside tx.
	PatchEncounterTx(ctx context.Context, tx *sql.Tx, id string, p EncounterPatch) error
	// AddTurn stores a final turn and adds covered to the coverage ledger,
	// in one transaction. A turn overlapping one already stored is not
	// stored again (added is false); its coverage still counts.
	AddTurn(ctx context.Context, id string, t Turn, covered Range) (added bool, err error)
	// AddCoverage adds r to the ledger without a turn (audio the server
	// finished with no speech in it).
	AddCoverage(ctx context.Context, id string, r Range) error
	// Coverage returns the ledger: sorted, disjoint, merged ranges.
	Coverage(ctx context.Context, id string) ([]Range, error)
	// Turns returns an encounter's final turns in audio order.
	Turns(ctx context.Context, id string) ([]Turn, error)
	Close() error
}

// Patient is a roster entry as cached locally. It is the store's own type,
// independent of the API's, because the cache outlives any one API shape.
type Patient struct {
	ID          int64 // the server's id; negative for a patient added offline and not yet sent
	FirstName   string
	MiddleName  string
	LastName    string
	DateOfBirth string    // YYYY-MM-DD, or "" when unknown
	Gender      string    // as the server gave it, or ""
	UpdatedAt   time.Time // the server's last change; zero when unknown
	FetchedAt   time.Time // when Scribe last received this patient
}

// DB is the SQLite implementation of Store.
type DB struct {
	db  *sql.DB
	log *slog.Logger
}

var _ Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path, applies its
// pragmas and brings the schema up to date. The file is created 0600: it
// holds patient data.
func Open(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open database %s: the path contains '?', which SQLite cannot take; choose a profile folder without it", path)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s, err := openChecked(ctx, path, log)
	if err != nil {
		if se := (*sqlite.Error)(nil); errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
			return nil, fmt.Errorf("open database %s: the file is not a database (damaged, or another file put in its place): "+
				"quit Scribe, move it out of the profile folder and start again; a new one is created and recordings "+
				"under encounters/ are kept: %w", path, ErrNotADatabase)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db := s.db
	if err := migrate(ctx, db, log); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

// dsn names the file and the per-connection settings. modernc applies each
// openChecked opens the pool and checks its pragmas. Turning a brand-new file to WAL needs an exclusive
// lock and SQLite answers SQLITE_BUSY at once, without its busy handler, when another process (the
// window and a CLI command starting together) is doing the same; so that one case is retried here.
func openChecked(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(busyTimeout)
	for {
		db, err := sql.Open("sqlite", dsn(path))
		if err != nil {
			return nil, err
		}
		s := &DB{db: db, log: log}
		err = s.check(ctx)
		if err == nil {
			return s, nil
		}
		db.Close()
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// _pragma on every new connection of the pool, which matters because
// busy_timeout and foreign_keys are per connection in SQLite.
//
//   - journal_mode=WAL: readers never block the writer and vice versa, and a
//     commit is one sequential append.
//   - synchronous=NORMAL: in WAL mode this still never corrupts the database;
//     a power cut can only lose the last commits since the previous
//     checkpoint's fsync, not tear one. FULL fsyncs on every commit and
//     is about 7x slower here (MACHINE-NOTES: 26,000 vs 3,500 rows/s), and
//     what must survive a crash byte for byte (audio) lives in the journal
//     files, not in this database.
//   - busy_timeout=5000: a second process on the same profile (the CLI while
//     the window is open) waits for the lock instead of failing at once.
//   - foreign_keys=ON: SQLite leaves them off unless asked.
//   - _txlock=immediate: write transactions take the write lock when they
//     begin, so two writers never both read and then deadlock upgrading.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	// A plain path, not a file: URI, so Windows drive letters need no
	// rewriting; the driver strips everything from the first '?' (Open
	// rejects paths containing one).
	return path + "?" + q.Encode()
}

// check confirms the pragmas took: journal_mode can silently stay on
// another mode (for example on a file system without shared memory), and
// the rest of the package relies on WAL's concurrency.
func (s *DB) check(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL; the profile folder may be on a network or read-only file system — choose a local folder with --profile", mode)
	}
	var fk, busy, syncMode int
	if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		return fmt.Errorf("read busy_timeout: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if fk != 1 || int64(busy) != busyTimeout.Milliseconds() || syncMode != 1 {
		return fmt.Errorf("pragmas did not take: foreign_keys=%d busy_timeout=%d synchronous=%d", fk, busy, syncMode)
	}
	return nil
}

// createPrivate makes sure path exists with mode 0600 before SQLite opens
// it; SQLite then gives its -wal and -shm files the same mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("restrict to its owner: %w", err)
		}
	}
	return nil
}

// Close closes the database.
func (s *DB) Close() error {
	return s.db.Close()
}

// Setting implements Store.
func (s *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("setting %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read setting %q: %w", key, err)
	}
	return v, nil
}

// SetSetting implements Store.
func (s *DB) SetSetting(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("save setting: empty key")
	}
	_, err := s.db.ExecContext(ctx,
		"INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
		key, value)
	if err != nil {
		return fmt.Errorf("save setting %q: %w", key, err)
	}
	return nil
}

// UpsertPatients implements Store.
func (s *DB) UpsertPatients(ctx context.Context, scope string, patients []Patient) error {
	if len(patients) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cache patients: %w", err)
	}
	defer tx.Rollback()
	if err := s.UpsertPatientsTx(ctx, tx, scope, patients); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cache patients: %w", err)
	}
	return nil
}

// BeginTx implements Store.
func (s *DB) BeginTx(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return tx, nil
}

// UpsertPatientsTx implements Store.
func (s *DB) UpsertPatientsTx(ctx context.Context, tx *sql.Tx, scope string, patients []Patient) error {
	if scope == "" {
		return errors.New("cache patients: empty scope")
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO patients (scope, id, first_name, middle_name, last_name, date_of_birth, gender, updated_at, fetched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (scope, id) DO UPDATE SET
			first_name = excluded.first_name, middle_name = excluded.middle_name,
			last_name = excluded.last_name, date_of_birth = excluded.date_of_birth,
			gender = excluded.gender, updated_at = excluded.updated_at, fetched_at = excluded.fetched_at`)
	if err != nil {
		return fmt.Errorf("cache patients: %w", err)
	}
	defer stmt.Close()
	now := time.Now()
	for _, p := range patients {
		if p.FetchedAt.IsZero() {
			p.FetchedAt = now
		}
		if _, err := stmt.ExecContext(ctx, scope, p.ID, p.FirstName, p.MiddleName, p.LastName,
			p.DateOfBirth, p.Gender, formatTime(p.UpdatedAt), formatTime(p.FetchedAt)); err != nil {
			return fmt.Errorf("cache patient %d: %w", p.ID, err)
		}
	}
	return nil
}

// ResolvePatient implements Store.
func (s *DB) ResolvePatient(ctx context.Context, scope string, localID int64, p Patient) error {
	if localID >= 0 {
		return fmt.Errorf("resolve patient: %d is not a local id (local ids are negative)", localID)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("resolve patient: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM patients WHERE scope = ? AND id = ?", scope, localID); err != nil {
		return fmt.Errorf("resolve patient: %w", err)
	}
	if err := s.UpsertPatientsTx(ctx, tx, scope, []Patient{p}); err != nil {
		return fmt.Errorf("resolve patient: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO patient_ids (scope, local_id, server_id) VALUES (?, ?, ?)
		ON CONFLICT (scope, local_id) DO UPDATE SET server_id = excluded.server_id`, scope, localID, p.ID); err != nil {
		return fmt.Errorf("resolve patient: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE encounters SET patient_id = ? WHERE patient_id = ?", p.ID, localID); err != nil {
		return fmt.Errorf("resolve patient: point encounters at the new id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("resolve patient: %w", err)
	}
	return nil
}

// DeletePatient implements Store.
func (s *DB) DeletePatient(ctx context.Context, scope string, id int64) error {
	return s.inTx(ctx, "forget patient", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM patients WHERE scope = ? AND id = ?", scope, id); err != nil {
			return fmt.Errorf("forget patient: %w", err)
		}
		if id < 0 {
			// A local patient that will never reach the server: its
			// visits keep their audio and lose only the patient.
			if _, err := tx.ExecContext(ctx, "UPDATE encounters SET patient_id = NULL WHERE patient_id = ?", id); err != nil {
				return fmt.Errorf("forget patient: %w", err)
			}
		}
		return nil
	})
}

// LocalPatients implements Store.
func (s *DB) LocalPatients(ctx context.Context, scope string) ([]Patient, error) {
	ps, err := s.queryPatients(ctx, `SELECT `+patientColumns+` FROM patients WHERE scope = ? AND id < 0 ORDER BY id DESC`, scope)
	if err != nil {
		return nil, fmt.Errorf("list patients added offline: %w", err)
	}
	return ps, nil
}

// Patient implements Store.
func (s *DB) Patient(ctx context.Context, scope string, id int64) (Patient, error) {
	ps, err := s.queryPatients(ctx, `SELECT `+patientColumns+` FROM patients WHERE scope = ? AND id = ?`, scope, id)
	if err != nil {
		return Patient{}, fmt.Errorf("read patient %d: %w", id, err)
	}
	if len(ps) == 0 {
		return Patient{}, fmt.Errorf("patient %d: %w", id, ErrNotFound)
	}
	return ps[0], nil
}

// ServerPatientID implements Store.
func (s *DB) ServerPatientID(ctx context.Context, scope string, localID int64) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, "SELECT server_id FROM patient_ids WHERE scope = ? AND local_id = ?", scope, localID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("server id of local patient %d: %w", localID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("server id of local patient %d: %w", localID, err)
	}
	return id, nil
}

// SearchPatients implements Store.
func (s *DB) SearchPatients(ctx context.Context, scope, q string, limit int) ([]Patient, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("search cached patients: limit %d must be positive", limit)
	}
	where := []string{"scope = ?"}
	args := []any{scope}
	for _, word := range strings.Fields(q) {
		// LIKE is case-insensitive for ASCII in SQLite; the escape keeps a
		// typed % or _ literal.
		pat := "%" + likeEscaper.Replace(word) + "%"
		where = append(where, `(first_name LIKE ? ESCAPE '\' OR middle_name LIKE ? ESCAPE '\' OR last_name LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat, pat)
	}
	args = append(args, limit)
	out, err := s.queryPatients(ctx, `
		SELECT `+patientColumns+` FROM patients WHERE `+strings.Join(where, " AND ")+`
		ORDER BY last_name COLLATE NOCASE, first_name COLLATE NOCASE, id
		LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("search cached patients: %w", err)
	}
	return out, nil
}

const patientColumns = "id, first_name, middle_name, last_name, date_of_birth, gender, updated_at, fetched_at"

func (s *DB) queryPatients(ctx context.Context, query string, args ...any) ([]Patient, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Patient
	for rows.Next() {
		var p Patient
		var updated, fetched string
		if err := rows.Scan(&p.ID, &p.FirstName, &p.MiddleName, &p.LastName, &p.DateOfBirth, &p.Gender, &updated, &fetched); err != nil {
			return nil, err
		}
		// A stamp that does not parse (edited by hand) reads as unknown
		// rather than failing the whole search.
		p.UpdatedAt = parseTime(updated)
		p.FetchedAt = parseTime(fetched)
		out = append(out, p)
	}
	return out, rows.Err()
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EHRStore keeps the profile's EHR connections (migration 0006): their
// settings and state, log, the EHR's providers and roster as last read, the
// provider mapping, and every push. Credentials are never kept here.
type EHRStore interface {
	// EHRConnections lists the saved connections by kind.
	EHRConnections(ctx context.Context) ([]EHRConnection, error)
	// EHRConnection returns one connection, or an error wrapping
	// ErrNotFound.
	EHRConnection(ctx context.Context, kind string) (EHRConnection, error)
	// EHRConnectionTx is EHRConnection inside tx.
	EHRConnectionTx(ctx context.Context, tx *sql.Tx, kind string) (EHRConnection, error)
	// SaveEHRConnectionTx writes c whole, adding or replacing it.
	SaveEHRConnectionTx(ctx context.Context, tx *sql.Tx, c EHRConnection) error
	// UpdateEHRConnection reads a connection, lets fn change it and writes
	// it back, in one transaction; an error wrapping ErrNotFound when there
	// is none. fn's error is returned as it is and nothing is written.
	UpdateEHRConnection(ctx context.Context, kind string, fn func(*EHRConnection) error) error
	// DeleteEHRConnection forgets a connection and the EHR's roster (the
	// providers and the mapping stay, for a reconnect).
	DeleteEHRConnection(ctx context.Context, kind string) error

	// AddEHRLog adds a line to a connection's log, keeping the latest
	// EHRLogKeep.
	AddEHRLog(ctx context.Context, kind string, e EHRLogEntry) error
	// EHRLog returns a connection's latest log lines, newest first.
	EHRLog(ctx context.Context, kind string, limit int) ([]EHRLogEntry, error)

	// SetEHRProviders replaces the EHR's providers.
	SetEHRProviders(ctx context.Context, kind string, ps []EHRProvider) error
	// EHRProviders lists the EHR's providers by name.
	EHRProviders(ctx context.Context, kind string) ([]EHRProvider, error)
	// EHRMappings lists the clinicians mapped to a provider.
	EHRMappings(ctx context.Context, kind string) ([]EHRMapping, error)
	// EHRMapping returns one clinician's provider, or an error wrapping
	// ErrNotFound when unmapped.
	EHRMapping(ctx context.Context, kind string, clinicianID int64) (EHRMapping, error)
	// SetEHRMappings writes the mappings in one transaction; one with an
	// empty ProviderID unmaps its clinician.
	SetEHRMappings(ctx context.Context, kind string, ms []EHRMapping) error

	// UpsertEHRPatients writes roster rows (by kind and id) in one
	// transaction.
	UpsertEHRPatients(ctx context.Context, kind string, ps []EHRPatient) error
	// EHRPatients returns the EHR's roster as kept.
	EHRPatients(ctx context.Context, kind string) ([]EHRPatient, error)
	// EHRPatientSources lists, for each linked Nextvisit patient, the kinds
	// of the saved connections whose roster holds them.
	EHRPatientSources(ctx context.Context) (map[int64][]string, error)

	// NextEHRVersionTx adds one to an encounter's note version and
	// returns it.
	NextEHRVersionTx(ctx context.Context, tx *sql.Tx, encounterID string) (int, error)
	// EHRVersion returns an encounter's note version.
	EHRVersion(ctx context.Context, encounterID string) (int, error)
	// AddEHRPushTx records a push; an error wrapping ErrExists when one for
	// the same kind, encounter and version is there.
	AddEHRPushTx(ctx context.Context, tx *sql.Tx, p EHRPush) error
	// EHRPush returns the push of one note version, or an error wrapping
	// ErrNotFound.
	EHRPush(ctx context.Context, kind, encounterID string, version int) (EHRPush, error)
	// LatestEHRPush returns the latest push of an encounter to kind, or an
	// error wrapping ErrNotFound.
	LatestEHRPush(ctx context.Context, kind, encounterID string) (EHRPush, error)
	// EHRPushes lists an encounter's pushes, oldest first.
	EHRPushes(ctx context.Context, encounterID string) ([]EHRPush, error)
	// SetEHRPushStatus changes a push's status (and its ref when not "").
	SetEHRPushStatus(ctx context.Context, kind, encounterID string, version int, status, ref string) error
}

var _ EHRStore = (*DB)(nil)

// EHRLogKeep is how many log lines are kept per connection.
const EHRLogKeep = 50

// EHRConnection is one EHR connection's row.
type EHRConnection struct {
	Kind          string
	State         string
	BaseURL       string
	APIURL        string
	TokenEndpoint string

	AccountName, AccountUser, AccountLocation string
	Subdomain, LocationID                     string

	PushWhen, PushWhat, PushUpdate string

	ConnectedAt, LastReadAt, LastWriteAt, RosterAt time.Time
	// RosterSince is the EHR's clock value to pass to the next roster read.
	RosterSince time.Time

	Reason, WhatToDo string

	TestEncounter   string
	TestJob         int64
	TestConfirmedAt time.Time
}

// EHRLogEntry is one line of a connection's log.
type EHRLogEntry struct {
	At      time.Time
	Error   bool
	Message string
}

// EHRProvider is a clinician in the EHR.
type EHRProvider struct {
	ID, Name, Email string
}

// EHRMapping pairs a Nextvisit clinician with an EHR provider.
type EHRMapping struct {
	ClinicianID int64
	ProviderID  string // "" unmaps (SetEHRMappings)
	ConfirmedAt time.Time
}

// EHRPatient is a patient in the EHR's roster.
type EHRPatient struct {
	ID                              string
	FirstName, MiddleName, LastName string
	DateOfBirth                     string
	UpdatedAt                       time.Time
	PatientID                       int64 // the Nextvisit patient it is; 0 when unknown
}

// EHRPush is one note version pushed to one EHR.
type EHRPush struct {
	Kind         string
	EncounterID  string
	Version      int
	Event        string // "sign" or "unsign"
	Ref          string
	Status       string // "pending", "confirmed" or "failed"
	Content      string // as sent
	EHRPatientID string
	PatientName  string
	ProviderID   string
	ProviderName string
	Clinician    string
	VisitDate    string
	PushedAt     time.Time
}

const ehrConnColumns = `kind, state, base_url, api_url, token_endpoint, account_name, account_user, account_location,
	subdomain, location_id, push_when, push_what, push_update, connected_at, last_read_at, last_write_at, roster_at,
	roster_since, reason, what_to_do, test_encounter, test_job, test_confirmed_at`

func scanEHRConnection(row interface{ Scan(...any) error }) (EHRConnection, error) {
	var c EHRConnection
	var connected, read, write, roster, since, confirmed string
	err := row.Scan(&c.Kind, &c.State, &c.BaseURL, &c.APIURL, &c.TokenEndpoint, &c.AccountName, &c.AccountUser,
		&c.AccountLocation, &c.Subdomain, &c.LocationID, &c.PushWhen, &c.PushWhat, &c.PushUpdate, &connected, &read,
		&write, &roster, &since, &c.Reason, &c.WhatToDo, &c.TestEncounter, &c.TestJob, &confirmed)
	if err != nil {
		return EHRConnection{}, err
	}
	c.ConnectedAt, c.LastReadAt, c.LastWriteAt = parseFixed(connected), parseFixed(read), parseFixed(write)
	c.RosterAt, c.RosterSince, c.TestConfirmedAt = parseFixed(roster), parseFixed(since), parseFixed(confirmed)
	return c, nil
}

// EHRConnections implements EHRStore.
func (s *DB) EHRConnections(ctx context.Context) ([]EHRConnection, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+ehrConnColumns+" FROM ehr_connections ORDER BY kind")
	if err != nil {
		return nil, fmt.Errorf("list EHR connections: %w", err)
	}
	defer rows.Close()
	var out []EHRConnection
	for rows.Next() {
		c, err := scanEHRConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("list EHR connections: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list EHR connections: %w", err)
	}
	return out, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func ehrConnection(ctx context.Context, q queryRower, kind string) (EHRConnection, error) {
	c, err := scanEHRConnection(q.QueryRowContext(ctx, "SELECT "+ehrConnColumns+" FROM ehr_connections WHERE kind = ?", kind))
	if errors.Is(err, sql.ErrNoRows) {
		return EHRConnection{}, fmt.Errorf("EHR connection %s: %w", kind, ErrNotFound)
	}
	if err != nil {
		return EHRConnection{}, fmt.Errorf("read EHR connection %s: %w", kind, err)
	}
	return c, nil
}

// EHRConnection implements EHRStore.
func (s *DB) EHRConnection(ctx context.Context, kind string) (EHRConnection, error) {
	return ehrConnection(ctx, s.db, kind)
}

// EHRConnectionTx implements EHRStore.
func (s *DB) EHRConnectionTx(ctx context.Context, tx *sql.Tx, kind string) (EHRConnection, error) {
	return ehrConnection(ctx, tx, kind)
}

// SaveEHRConnectionTx implements EHRStore.
func (s *DB) SaveEHRConnectionTx(ctx context.Context, tx *sql.Tx, c EHRConnection) error {
	if c.Kind == "" || c.State == "" {
		return fmt.Errorf("save EHR connection %q: empty kind or state", c.Kind)
	}
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO ehr_connections (`+ehrConnColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Kind, c.State, c.BaseURL, c.APIURL, c.TokenEndpoint, c.AccountName, c.AccountUser, c.AccountLocation,
		c.Subdomain, c.LocationID, c.PushWhen, c.PushWhat, c.PushUpdate, formatFixed(c.ConnectedAt),
		formatFixed(c.LastReadAt), formatFixed(c.LastWriteAt), formatFixed(c.RosterAt), formatFixed(c.RosterSince),
		c.Reason, c.WhatToDo, c.TestEncounter, c.TestJob, formatFixed(c.TestConfirmedAt))
	if err != nil {
		return fmt.Errorf("save EHR connection %s: %w", c.Kind, DiskError(err))
	}
	return nil
}

// UpdateEHRConnection implements EHRStore.
func (s *DB) UpdateEHRConnection(ctx context.Context, kind string, fn func(*EHRConnection) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update EHR connection %s: %w", kind, DiskError(err))
	}
	defer tx.Rollback()
	c, err := ehrConnection(ctx, tx, kind)
	if err != nil {
		return err
	}
	if err := fn(&c); err != nil {
		return err
	}
	c.Kind = kind
	if err := s.SaveEHRConnectionTx(ctx, tx, c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update EHR connection %s: %w", kind, DiskError(err))
	}
	return nil
}

// DeleteEHRConnection implements EHRStore.
func (s *DB) DeleteEHRConnection(ctx context.Context, kind string) error {
	return s.inTx(ctx, "forget EHR connection "+kind, func(tx *sql.Tx) error {
		for _, q := range []string{"DELETE FROM ehr_connections WHERE kind = ?", "DELETE FROM ehr_patients WHERE kind = ?"} {
			if _, err := tx.ExecContext(ctx, q, kind); err != nil {
				return fmt.Errorf("forget EHR connection %s: %w", kind, DiskError(err))
			}
		}
		return nil
	})
}

// AddEHRLog implements EHRStore.
func (s *DB) AddEHRLog(ctx context.Context, kind string, e EHRLogEntry) error {
	return s.inTx(ctx, "log for "+kind, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO ehr_log (kind, at, error, message) VALUES (?, ?, ?, ?)",
			kind, formatFixed(e.At), e.Error, e.Message); err != nil {
			return fmt.Errorf("log for %s: %w", kind, DiskError(err))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ehr_log WHERE kind = ? AND id NOT IN
			(SELECT id FROM ehr_log WHERE kind = ? ORDER BY id DESC LIMIT ?)`, kind, kind, EHRLogKeep); err != nil {
			return fmt.Errorf("log for %s: %w", kind, DiskError(err))
		}
		return nil
	})
}

// EHRLog implements EHRStore.
func (s *DB) EHRLog(ctx context.Context, kind string, limit int) ([]EHRLogEntry, error) {
	if limit <= 0 {
		limit = EHRLogKeep
	}
	rows, err := s.db.QueryContext(ctx, "SELECT at, error, message FROM ehr_log WHERE kind = ? ORDER BY id DESC LIMIT ?", kind, limit)
	if err != nil {
		return nil, fmt.Errorf("read the log of %s: %w", kind, err)
	}
	defer rows.Close()
	var out []EHRLogEntry
	for rows.Next() {
		var e EHRLogEntry
		var at string
		if err := rows.Scan(&at, &e.Error, &e.Message); err != nil {
			return nil, fmt.Errorf("read the log of %s: %w", kind, err)
		}
		e.At = parseFixed(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the log of %s: %w", kind, err)
	}
	return out, nil
}

// SetEHRProviders implements EHRStore.
func (s *DB) SetEHRProviders(ctx context.Context, kind string, ps []EHRProvider) error {
	return s.inTx(ctx, "save the providers of "+kind, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM ehr_providers WHERE kind = ?", kind); err != nil {
			return fmt.Errorf("save the providers of %s: %w", kind, DiskError(err))
		}
		for _, p := range ps {
			if p.ID == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO ehr_providers (kind, id, name, email) VALUES (?, ?, ?, ?)",
				kind, p.ID, p.Name, p.Email); err != nil {
				return fmt.Errorf("save the providers of %s: %w", kind, DiskError(err))
			}
		}
		return nil
	})
}

// EHRProviders implements EHRStore.
func (s *DB) EHRProviders(ctx context.Context, kind string) ([]EHRProvider, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, name, email FROM ehr_providers WHERE kind = ? ORDER BY name COLLATE NOCASE, id", kind)
	if err != nil {
		return nil, fmt.Errorf("read the providers of %s: %w", kind, err)
	}
	defer rows.Close()
	var out []EHRProvider
	for rows.Next() {
		var p EHRProvider
		if err := rows.Scan(&p.ID, &p.Name, &p.Email); err != nil {
			return nil, fmt.Errorf("read the providers of %s: %w", kind, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the providers of %s: %w", kind, err)
	}
	return out, nil
}

// EHRMappings implements EHRStore.
func (s *DB) EHRMappings(ctx context.Context, kind string) ([]EHRMapping, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT clinician_id, provider_id, confirmed_at FROM ehr_provider_map WHERE kind = ? ORDER BY clinician_id", kind)
	if err != nil {
		return nil, fmt.Errorf("read the provider mapping of %s: %w", kind, err)
	}
	defer rows.Close()
	var out []EHRMapping
	for rows.Next() {
		var m EHRMapping
		var at string
		if err := rows.Scan(&m.ClinicianID, &m.ProviderID, &at); err != nil {
			return nil, fmt.Errorf("read the provider mapping of %s: %w", kind, err)
		}
		m.ConfirmedAt = parseFixed(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the provider mapping of %s: %w", kind, err)
	}
	return out, nil
}

// EHRMapping implements EHRStore.
func (s *DB) EHRMapping(ctx context.Context, kind string, clinicianID int64) (EHRMapping, error) {
	m := EHRMapping{ClinicianID: clinicianID}
	var at string
	err := s.db.QueryRowContext(ctx, "SELECT provider_id, confirmed_at FROM ehr_provider_map WHERE kind = ? AND clinician_id = ?",
		kind, clinicianID).Scan(&m.ProviderID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return EHRMapping{}, fmt.Errorf("provider of clinician %d in %s: %w", clinicianID, kind, ErrNotFound)
	}
	if err != nil {
		return EHRMapping{}, fmt.Errorf("read the provider of clinician %d in %s: %w", clinicianID, kind, err)
	}
	m.ConfirmedAt = parseFixed(at)
	return m, nil
}

// SetEHRMappings implements EHRStore.
func (s *DB) SetEHRMappings(ctx context.Context, kind string, ms []EHRMapping) error {
	return s.inTx(ctx, "save the provider mapping of "+kind, func(tx *sql.Tx) error {
		for _, m := range ms {
			var err error
			if m.ProviderID == "" {
				_, err = tx.ExecContext(ctx, "DELETE FROM ehr_provider_map WHERE kind = ? AND clinician_id = ?", kind, m.ClinicianID)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO ehr_provider_map (kind, clinician_id, provider_id, confirmed_at)
					VALUES (?, ?, ?, ?)`, kind, m.ClinicianID, m.ProviderID, formatFixed(m.ConfirmedAt))
			}
			if err != nil {
				return fmt.Errorf("save the provider mapping of %s: %w", kind, DiskError(err))
			}
		}
		return nil
	})
}

// UpsertEHRPatients implements EHRStore.
func (s *DB) UpsertEHRPatients(ctx context.Context, kind string, ps []EHRPatient) error {
	return s.inTx(ctx, "save the roster of "+kind, func(tx *sql.Tx) error {
		for _, p := range ps {
			if p.ID == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO ehr_patients
				(kind, id, first_name, middle_name, last_name, date_of_birth, updated_at, patient_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, kind, p.ID, p.FirstName, p.MiddleName, p.LastName, p.DateOfBirth,
				formatFixed(p.UpdatedAt), p.PatientID); err != nil {
				return fmt.Errorf("save the roster of %s: %w", kind, DiskError(err))
			}
		}
		return nil
	})
}

// EHRPatients implements EHRStore.
func (s *DB) EHRPatients(ctx context.Context, kind string) ([]EHRPatient, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, first_name, middle_name, last_name, date_of_birth, updated_at, patient_id
		FROM ehr_patients WHERE kind = ? ORDER BY last_name COLLATE NOCASE, first_name COLLATE NOCASE, id`, kind)
	if err != nil {
		return nil, fmt.Errorf("read the roster of %s: %w", kind, err)
	}
	defer rows.Close()
	var out []EHRPatient
	for rows.Next() {
		var p EHRPatient
		var at string
		if err := rows.Scan(&p.ID, &p.FirstName, &p.MiddleName, &p.LastName, &p.DateOfBirth, &at, &p.PatientID); err != nil {
			return nil, fmt.Errorf("read the roster of %s: %w", kind, err)
		}
		p.UpdatedAt = parseFixed(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the roster of %s: %w", kind, err)
	}
	return out, nil
}

// EHRPatientSources implements EHRStore.
func (s *DB) EHRPatientSources(ctx context.Context) (map[int64][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT p.patient_id, p.kind FROM ehr_patients p
		JOIN ehr_connections c ON c.kind = p.kind WHERE p.patient_id <> 0 ORDER BY p.patient_id, p.kind`)
	if err != nil {
		return nil, fmt.Errorf("read the EHR rosters: %w", err)
	}
	defer rows.Close()
	out := map[int64][]string{}
	for rows.Next() {
		var id int64
		var kind string
		if err := rows.Scan(&id, &kind); err != nil {
			return nil, fmt.Errorf("read the EHR rosters: %w", err)
		}
		out[id] = append(out[id], kind)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the EHR rosters: %w", err)
	}
	return out, nil
}

// NextEHRVersionTx implements EHRStore.
func (s *DB) NextEHRVersionTx(ctx context.Context, tx *sql.Tx, encounterID string) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, "UPDATE encounters SET ehr_version = ehr_version + 1 WHERE id = ? RETURNING ehr_version",
		encounterID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("encounter %s: %w", encounterID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("count the note version of encounter %s: %w", encounterID, DiskError(err))
	}
	return v, nil
}

// EHRVersion implements EHRStore.
func (s *DB) EHRVersion(ctx context.Context, encounterID string) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, "SELECT ehr_version FROM encounters WHERE id = ?", encounterID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("encounter %s: %w", encounterID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read the note version of encounter %s: %w", encounterID, err)
	}
	return v, nil
}

const ehrPushColumns = `kind, encounter_id, version, event, ref, status, content, ehr_patient_id, patient_name,
	provider_id, provider_name, clinician, visit_date, pushed_at`

func scanEHRPush(row interface{ Scan(...any) error }) (EHRPush, error) {
	var p EHRPush
	var at string
	if err := row.Scan(&p.Kind, &p.EncounterID, &p.Version, &p.Event, &p.Ref, &p.Status, &p.Content, &p.EHRPatientID,
		&p.PatientName, &p.ProviderID, &p.ProviderName, &p.Clinician, &p.VisitDate, &at); err != nil {
		return EHRPush{}, err
	}
	p.PushedAt = parseFixed(at)
	return p, nil
}

// AddEHRPushTx implements EHRStore.
func (s *DB) AddEHRPushTx(ctx context.Context, tx *sql.Tx, p EHRPush) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO ehr_pushes (`+ehrPushColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, encounter_id, version) DO NOTHING`,
		p.Kind, p.EncounterID, p.Version, p.Event, p.Ref, p.Status, p.Content, p.EHRPatientID, p.PatientName,
		p.ProviderID, p.ProviderName, p.Clinician, p.VisitDate, formatFixed(p.PushedAt))
	if err != nil {
		return fmt.Errorf("record the push of encounter %s to %s: %w", p.EncounterID, p.Kind, DiskError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("record the push of encounter %s to %s: %w", p.EncounterID, p.Kind, err)
	} else if n == 0 {
		return fmt.Errorf("record the push of encounter %s version %d to %s: %w", p.EncounterID, p.Version, p.Kind, ErrExists)
	}
	return nil
}

func (s *DB) onePush(ctx context.Context, what, query string, args ...any) (EHRPush, error) {
	p, err := scanEHRPush(s.db.QueryRowContext(ctx, "SELECT "+ehrPushColumns+" FROM ehr_pushes WHERE "+query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return EHRPush{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return EHRPush{}, fmt.Errorf("read %s: %w", what, err)
	}
	return p, nil
}

// EHRPush implements EHRStore.
func (s *DB) EHRPush(ctx context.Context, kind, encounterID string, version int) (EHRPush, error) {
	return s.onePush(ctx, fmt.Sprintf("push of encounter %s version %d to %s", encounterID, version, kind),
		"kind = ? AND encounter_id = ? AND version = ?", kind, encounterID, version)
}

// LatestEHRPush implements EHRStore.
func (s *DB) LatestEHRPush(ctx context.Context, kind, encounterID string) (EHRPush, error) {
	return s.onePush(ctx, fmt.Sprintf("push of encounter %s to %s", encounterID, kind),
		"kind = ? AND encounter_id = ? ORDER BY version DESC LIMIT 1", kind, encounterID)
}

// EHRPushes implements EHRStore.
func (s *DB) EHRPushes(ctx context.Context, encounterID string) ([]EHRPush, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+ehrPushColumns+" FROM ehr_pushes WHERE encounter_id = ? ORDER BY pushed_at, kind, version", encounterID)
	if err != nil {
		return nil, fmt.Errorf("read the pushes of encounter %s: %w", encounterID, err)
	}
	defer rows.Close()
	var out []EHRPush
	for rows.Next() {
		p, err := scanEHRPush(rows)
		if err != nil {
			return nil, fmt.Errorf("read the pushes of encounter %s: %w", encounterID, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the pushes of encounter %s: %w", encounterID, err)
	}
	return out, nil
}

// SetEHRPushStatus implements EHRStore.
func (s *DB) SetEHRPushStatus(ctx context.Context, kind, encounterID string, version int, status, ref string) error {
	switch status {
	case "pending", "confirmed", "failed":
	default:
		return fmt.Errorf("set push status: %q is not pending, confirmed or failed", status)
	}
	set, args := "status = ?", []any{status}
	if ref = strings.TrimSpace(ref); ref != "" {
		set += ", ref = ?"
		args = append(args, ref)
	}
	args = append(args, kind, encounterID, version)
	res, err := s.db.ExecContext(ctx, "UPDATE ehr_pushes SET "+set+" WHERE kind = ? AND encounter_id = ? AND version = ?", args...)
	if err != nil {
		return fmt.Errorf("set the status of a push to %s: %w", kind, DiskError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set the status of a push to %s: %w", kind, err)
	} else if n == 0 {
		return fmt.Errorf("push of encounter %s version %d to %s: %w", encounterID, version, kind, ErrNotFound)
	}
	return nil
}

package nexhealth

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/internal/ehrkit"
	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

const (
	institutionID   = 512
	institutionName = "Riverside Behavioral Health (NexHealth sandbox)"
)

var locations = []struct {
	id   int64
	name string
}{
	{SampleLocationID, "Riverside Main"},
	{OtherLocationID, "Riverside Eastside"},
}

type provider struct {
	first, middle, last, suffix, email, npi string
	locations                               []int64
}

// providers are the Nextvisit sandbox's three clinicians (Dr. Sam Rivera, Dr. Maya Okafor, Dr. Luis
// Ferreira) as NexHealth lists them, with a middle initial, a suffix and one email on the practice's
// domain, plus a nurse practitioner who has no Nextvisit account.
var providers = []provider{
	{"Samuel", "J.", "Rivera", "MD", "srivera@riversidebh.example", "1467503921", []int64{SampleLocationID}},
	{"Maya", "", "Okafor", "PsyD", "maya.okafor@sandbox.local", "1578612034", []int64{SampleLocationID, OtherLocationID}},
	{"Luis", "A.", "Ferreira", "LCSW", "luis.ferreira@sandbox.local", "1689721145", []int64{SampleLocationID}},
	{"Dana", "", "Whitfield", "NP", "dwhitfield@riversidebh.example", "1790830256", []int64{OtherLocationID}},
}

// otherLocationPatients are the EHR-only patients of ehrkit.Patients (the last two), seen at Eastside.
const otherLocationPatients = 2

func (s *Server) seed(ctx context.Context) error {
	return sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var done bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'seeded')`).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		now := s.now().UTC().Truncate(time.Second)
		start := now.AddDate(-1, 0, 0)
		for _, l := range locations {
			if _, err := tx.ExecContext(ctx, `INSERT INTO locations (id, name) VALUES (?, ?)`, l.id, l.name); err != nil {
				return fmt.Errorf("seed locations: %w", err)
			}
		}
		for i, p := range providers {
			id := 901 + i
			if _, err := tx.ExecContext(ctx, `INSERT INTO providers (id, first_name, middle_name, last_name, suffix, email, npi, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, p.first, p.middle, p.last, p.suffix, p.email, p.npi,
				sqlitedb.FormatTime(start), sqlitedb.FormatTime(start)); err != nil {
				return fmt.Errorf("seed providers: %w", err)
			}
			for _, l := range p.locations {
				if _, err := tx.ExecContext(ctx, `INSERT INTO provider_locations (provider_id, location_id) VALUES (?, ?)`, id, l); err != nil {
					return fmt.Errorf("seed provider locations: %w", err)
				}
			}
		}
		patients := ehrkit.Patients()
		for i, p := range patients {
			loc, prov := int64(SampleLocationID), 901+i%3
			if i >= len(patients)-otherLocationPatients {
				loc, prov = OtherLocationID, 902+2*(i%2) // Okafor or Whitfield, who see patients there
			}
			created := start.Add(time.Duration(i) * 24 * time.Hour)
			// Edits spread over the last months, so updated_since selects a real subset.
			updated := now.Add(-time.Duration(len(patients)-i) * 5 * 24 * time.Hour)
			if _, err := tx.ExecContext(ctx, `INSERT INTO patients (id, location_id, provider_id, first_name, middle_name, last_name,
				preferred_name, gender, date_of_birth, phone_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				3001+i, loc, prov, p.First, p.Middle, p.Last, p.Preferred, p.Gender, p.DOB, p.Phone,
				sqlitedb.FormatTime(created), sqlitedb.FormatTime(updated)); err != nil {
				return fmt.Errorf("seed patients: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('token_secret', ?)`, newSecret()); err != nil {
			return fmt.Errorf("seed token secret: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('seeded', ?)`, sqlitedb.FormatTime(now))
		return err
	})
}

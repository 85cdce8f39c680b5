package simplepractice

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/internal/ehrkit"
	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

// The practice behind SampleToken and the admin who made it.
const (
	practiceID   = 40215
	practiceName = "Riverside Behavioral Health"
	adminName    = "Riverside Admin"
	adminEmail   = "admin@riversidebh.example"
)

type clinician struct{ first, last, credentials, email string }

// clinicians are the Nextvisit sandbox's three (Dr. Sam Rivera, Dr. Maya Okafor, Dr. Luis Ferreira) as
// SimplePractice lists them: a full first name, credentials after the name, one email on the practice's
// own domain.
var clinicians = []clinician{
	{"Samuel", "Rivera", "MD", "clinician@sandbox.local"},
	{"Maya", "Okafor", "PsyD", "maya.okafor@sandbox.local"},
	{"Luis", "Ferreira", "LCSW", "lferreira@riversidebh.example"},
}

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
		for i, c := range clinicians {
			if _, err := tx.ExecContext(ctx, `INSERT INTO clinicians (id, first_name, last_name, credentials, email) VALUES (?, ?, ?, ?, ?)`,
				i+1, c.first, c.last, c.credentials, c.email); err != nil {
				return fmt.Errorf("seed clinicians: %w", err)
			}
		}
		start := now.AddDate(-1, 0, 0)
		for i, p := range ehrkit.Patients() {
			// Client ids are SimplePractice's own numbering, unrelated to Nextvisit's.
			if _, err := tx.ExecContext(ctx, `INSERT INTO clients (id, first_name, middle_name, last_name, preferred_name,
				date_of_birth, gender, phone, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				7001+i, p.First, p.Middle, p.Last, p.Preferred, p.DOB, p.Gender, p.Phone,
				sqlitedb.FormatTime(start.Add(time.Duration(i)*24*time.Hour))); err != nil {
				return fmt.Errorf("seed clients: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('seeded', ?)`, sqlitedb.FormatTime(now))
		return err
	})
}

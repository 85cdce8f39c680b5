package oauthehr

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
	"golang.org/x/crypto/bcrypt"
)

// The EHR side of the sample workspace. The providers are the three Nextvisit clinicians of
// sync/sandbox/seed.go and the patients mirror its roster, but written the way each EHR writes them —
// credentials after the name, a middle initial, a nickname, an accent dropped, another email domain — so
// provider mapping and patient matching have real work to do. All of it is invented and deterministic.

type seedProvider struct{ name, email, credentials string }

var seedProviders = map[string][]seedProvider{
	"Osmind": {
		{"Samuel Rivera MD", "clinician@sandbox.local", "MD"},
		{"Maya Okafor PsyD", "maya.okafor@riverside-bh.example", "PsyD"},
		{"Luis Ferreira LCSW", "luis.ferreira@sandbox.local", "LCSW"},
	},
	"Kalix": {
		{"Rivera, Samuel", "sam.rivera@kalix-sandbox.example", "MD"},
		{"Okafor, Maya N.", "maya.okafor@sandbox.local", "PsyD"},
		{"Ferreira, Luís", "lferreira@sandbox.local", "LCSW"},
	},
}

// seedPatient is one roster entry before the EHR's own spelling is applied.
type seedPatient struct{ first, middle, last, nickname, gender, dob string }

// seedPatients are the first 25 patients of sync/sandbox/seed.go, same order, with a few nicknames.
var seedPatients = []seedPatient{
	{"Jane", "Marie", "Doe", "", "female", "1985-03-15"},
	{"Amara", "Nneka", "Okonkwo", "", "female", "1992-07-08"},
	{"Hiroshi", "", "Tanaka", "", "male", "1978-11-23"},
	{"Sofía", "Isabel", "García", "Sofi", "female", "2001-02-14"},
	{"Mohammed", "", "Al-Sayed", "Mo", "male", "1969-05-30"},
	{"Priya", "", "Raman", "", "female", "1988-09-12"},
	{"Liam", "Patrick", "O'Brien", "", "male", "1995-12-01"},
	{"Wei", "", "Chen", "", "male", "1983-04-19"},
	{"Fatima", "Zahra", "Benali", "", "female", "1990-06-25"},
	{"Dmitri", "", "Volkov", "Dima", "male", "1975-01-09"},
	{"Aiyana", "", "Redcloud", "", "female", "2003-10-31"},
	{"Kwame", "", "Mensah", "", "male", "1987-08-17"},
	{"Ingrid", "", "Johansson", "", "female", "1962-03-03"},
	{"Mateo", "Alejandro", "Rossi", "Teo", "male", "1999-07-22"},
	{"Lan", "Thi", "Nguyen", "", "female", "1980-12-11"},
	{"Jordan", "Avery", "Taylor", "", "non-binary", "1997-05-05"},
	{"Ewa", "", "Kowalska", "", "female", "1971-09-29"},
	{"Rafael", "", "Souza", "Rafa", "male", "1993-02-02"},
	{"Yasmin", "", "Haddad", "", "female", "2000-11-15"},
	{"Oluwaseun", "", "Adeyemi", "Seun", "male", "1984-06-06"},
	{"Grace", "", "Kim", "", "female", "1958-08-08"},
	{"Tomás", "Ángel", "Herrera", "", "male", "1966-04-04"},
	{"Zoë", "", "Müller", "", "female", "1991-10-10"},
	{"Arjun", "", "Mehta", "", "male", "1986-01-20"},
	{"Leilani", "", "Kahale", "", "female", "1994-03-27"},
}

// spell writes a patient as the named EHR does: Osmind keeps only middle initials and drops accents
// from first names; Kalix keeps full middle names but anglicises a few spellings.
func spell(name string, p seedPatient) seedPatient {
	switch name {
	case "Osmind":
		if p.middle != "" {
			p.middle = string([]rune(p.middle)[:1]) + "."
		}
		p.first = strings.NewReplacer("í", "i", "á", "a", "ó", "o").Replace(p.first)
	case "Kalix":
		p.first = strings.NewReplacer("Mohammed", "Mohamed", "Zoë", "Zoe").Replace(p.first)
		p.last = strings.NewReplacer("Müller", "Mueller", "García", "Garcia").Replace(p.last)
	}
	return p
}

// seed fills a new database once: a second New on the same folder finds the mark and adds nothing.
func (s *Server) seed(ctx context.Context) error {
	return sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var done bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'seeded')`).Scan(&done); err != nil {
			return fmt.Errorf("read seed mark: %w", err)
		}
		if done {
			return nil
		}
		now := s.now().UTC().Truncate(time.Second)
		// bcrypt's minimum cost: the password is a published sandbox constant, and tests log in often.
		hash, err := bcrypt.GenerateFromPassword([]byte(AdminPassword), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("hash admin password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO admins (id, email, name, password_hash) VALUES (1, ?, ?, ?)`,
			AdminEmail(s.name), s.name+" Admin (sandbox)", string(hash)); err != nil {
			return fmt.Errorf("seed admin: %w", err)
		}
		for i, p := range seedProviders[s.name] {
			if _, err := tx.ExecContext(ctx, `INSERT INTO providers (id, name, email, credentials) VALUES (?, ?, ?, ?)`,
				providerID(s.name, i), p.name, p.email, p.credentials); err != nil {
				return fmt.Errorf("seed providers: %w", err)
			}
		}
		for i, p := range seedPatients {
			p = spell(s.name, p)
			// Spread over the last 50 days so updated_since has something to filter.
			updated := now.Add(-time.Duration(len(seedPatients)-i) * 2 * 24 * time.Hour)
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO patients (id, first_name, middle_name, last_name, preferred_name, gender, date_of_birth, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				patientID(s.name, i), p.first, p.middle, p.last, p.nickname, p.gender, p.dob, sqlitedb.FormatTime(updated)); err != nil {
				return fmt.Errorf("seed patients: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('seeded', ?)`, sqlitedb.FormatTime(now)); err != nil {
			return fmt.Errorf("mark seeded: %w", err)
		}
		return nil
	})
}

// The two EHRs number their records differently, so an id from one never resolves in the other.
func providerID(name string, i int) string {
	if name == "Kalix" {
		return fmt.Sprintf("klx-prov-%02d", i+1)
	}
	return fmt.Sprintf("OSM-PR-%d", 501+i)
}

func patientID(name string, i int) string {
	if name == "Kalix" {
		return fmt.Sprintf("klx-pt-%04d", 101+i)
	}
	return fmt.Sprintf("OSM-%d", 10001+i)
}

package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
	"golang.org/x/crypto/bcrypt"
)

// The sample workspace: one team, three clinicians, patients of many backgrounds, the four templates and
// a history of notes, so every screen has something to show and lists span several pages. All of it is
// invented.

var sampleTemplates = []templateBody{
	{ID: 1, Name: "SOAP", Description: "Subjective, Objective, Assessment, Plan: the standard progress note.",
		Sections: []string{"Subjective", "Objective", "Assessment", "Plan"}},
	{ID: 2, Name: "DAP", Description: "Data, Assessment, Plan: a compact therapy note.",
		Sections: []string{"Data", "Assessment", "Plan"}},
	{ID: 3, Name: "BIRP", Description: "Behavior, Intervention, Response, Plan: for behavioral health sessions.",
		Sections: []string{"Behavior", "Intervention", "Response", "Plan"}},
	{ID: 4, Name: "Intake", Description: "First visit: complaint, history, mental status, assessment and plan.",
		Sections: []string{"Chief Complaint", "History of Present Illness", "Psychiatric History", "Medical History", "Social History", "Mental Status Exam", "Assessment", "Plan"}},
}

type sampleUser struct{ name, email string }

var sampleUsers = []sampleUser{
	{"Dr. Sam Rivera", SampleEmail},
	{"Dr. Maya Okafor", "maya.okafor@sandbox.local"},
	{"Dr. Luis Ferreira", "luis.ferreira@sandbox.local"},
}

type med struct {
	Name      string `json:"name"`
	Dose      string `json:"dose"`
	Frequency string `json:"frequency"`
}

type samplePatient struct {
	first, middle, last, gender, dob, notes string
	meds                                    []med
}

var samplePatients = []samplePatient{
	{"Jane", "Marie", "Doe", "female", "1985-03-15", "Patient has a history of anxiety. Prefers afternoon appointments.", []med{{"Sertraline", "50 mg", "daily"}}},
	{"Amara", "Nneka", "Okonkwo", "female", "1992-07-08", "Graduate student; sessions by video during term.", nil},
	{"Hiroshi", "", "Tanaka", "male", "1978-11-23", "Shift worker; schedule early mornings.", []med{{"Trazodone", "50 mg", "at bedtime"}}},
	{"Sofía", "Isabel", "García", "female", "2001-02-14", "Prefers sessions in Spanish when available.", nil},
	{"Mohammed", "", "Al-Sayed", "male", "1969-05-30", "", []med{{"Escitalopram", "10 mg", "daily"}, {"Lisinopril", "10 mg", "daily"}}},
	{"Priya", "", "Raman", "female", "1988-09-12", "Postpartum follow-up; coordinate with OB.", nil},
	{"Liam", "Patrick", "O'Brien", "male", "1995-12-01", "", []med{{"Bupropion XL", "150 mg", "daily"}}},
	{"Wei", "", "Chen", "male", "1983-04-19", "Interpreter not needed.", nil},
	{"Fatima", "Zahra", "Benali", "female", "1990-06-25", "", []med{{"Sertraline", "100 mg", "daily"}}},
	{"Dmitri", "", "Volkov", "male", "1975-01-09", "History of alcohol use; sober since 2021.", []med{{"Naltrexone", "50 mg", "daily"}}},
	{"Aiyana", "", "Redcloud", "female", "2003-10-31", "Referred by campus counseling.", nil},
	{"Kwame", "", "Mensah", "male", "1987-08-17", "", nil},
	{"Ingrid", "", "Johansson", "female", "1962-03-03", "Bereavement; husband died last spring.", []med{{"Mirtazapine", "15 mg", "at bedtime"}}},
	{"Mateo", "Alejandro", "Rossi", "male", "1999-07-22", "", []med{{"Methylphenidate ER", "36 mg", "every morning"}}},
	{"Lan", "Thi", "Nguyen", "female", "1980-12-11", "", nil},
	{"Jordan", "Avery", "Taylor", "non-binary", "1997-05-05", "Uses they/them pronouns.", nil},
	{"Ewa", "", "Kowalska", "female", "1971-09-29", "", []med{{"Venlafaxine XR", "75 mg", "daily"}}},
	{"Rafael", "", "Souza", "male", "1993-02-02", "Works nights; prefers late sessions.", nil},
	{"Yasmin", "", "Haddad", "female", "2000-11-15", "", nil},
	{"Oluwaseun", "", "Adeyemi", "male", "1984-06-06", "", []med{{"Propranolol", "10 mg", "as needed"}}},
	{"Grace", "", "Kim", "female", "1958-08-08", "Hard of hearing; face the patient when speaking.", nil},
	{"Tomás", "Ángel", "Herrera", "male", "1966-04-04", "", []med{{"Quetiapine", "25 mg", "at bedtime"}}},
	{"Zoë", "", "Müller", "female", "1991-10-10", "", nil},
	{"Arjun", "", "Mehta", "male", "1986-01-20", "", nil},
	{"Leilani", "", "Kahale", "female", "1994-03-27", "", nil},
	{"Samuel", "", "Levi", "male", "1973-07-14", "Prefers morning appointments.", nil},
}

// sampleVisits are the transcripts of the seeded notes, drafted at seeding by the same drafter the
// pipeline uses.
var sampleVisits = []string{
	"Patient reports improved sleep since starting the new routine. She states her anxiety is lower at work but she still worries about her mother's health. Appears calm with good eye contact and a congruent affect. GAD-7 score today is 9, down from 13. Symptoms are consistent with generalized anxiety and improving. Plan is to continue sertraline 50 mg and practice the breathing exercises daily. Follow up in two weeks.",
	"Patient says his mood has been low for the past month and he has lost interest in cycling. He denies suicidal ideation. PHQ-9 score is 16. Appears tired, speech is slow, oriented to person, place and time. Presentation is consistent with a depressive episode of moderate severity. We discussed behavioral activation and scheduling one pleasant activity a day. Will refer to psychiatry for a medication evaluation. Return next week.",
	"Patient reports trouble sleeping, waking at three most nights. She feels exhausted at work. Observed yawning, affect restricted. Insomnia likely related to stress at work. We reviewed sleep hygiene and a wind-down routine. Will start a sleep diary and review it at the next session.",
	"Patient describes nightmares and flashbacks after the car accident in March. He avoids driving on the highway. Appears hypervigilant, startles at noises in the hallway. Symptoms are consistent with post-traumatic stress. We practiced grounding with the five senses and he was receptive. Plan to begin trauma-focused CBT next session.",
	"Patient says the grief comes in waves since her husband died. She states she is eating and sleeping better than last month. Appears tearful at times but engaged. Adjustment is progressing as expected. We explored memories she wants to keep. Continue weekly sessions and the bereavement group on Thursdays.",
	"Patient reports he has trouble keeping attention in lectures and misses deadlines. He feels the medication helps in the mornings. Observed fidgeting, speech rapid but coherent. ADHD symptoms are partly controlled. Will increase structure with a daily planner and review the dose with the prescriber.",
	"Patient describes a panic attack on the train last Tuesday with chest tightness and fear of dying. She says she now avoids the train. Appears anxious, breathing quick when describing it. Panic symptoms with early avoidance. We taught paced breathing and planned gradual exposure. Schedule follow-up in one week.",
	"Patient reports 90 days without alcohol and goes to meetings twice a week. He says cravings are rare now. Appears well groomed and alert. Remission is stable. Continue naltrexone 50 mg. Return in four weeks.",
	"Patient states things have been steady and she is using the skills from therapy. Mood is good, sleep is fine. Appears relaxed, affect bright. Symptoms stable. Plan to space sessions to every three weeks.",
	"Patient is here for an initial evaluation of low mood and worry. She reports the symptoms began about six months ago after a move. She has a history of depression in college treated with therapy. Medical history includes asthma. She lives with her partner and works as a nurse. Appears well groomed, cooperative, thought process linear, insight good. Impression is depression with anxious distress, PHQ-9 of 12. Plan to start weekly therapy and discuss medication at the next visit.",
}

// seed fills a new database with the sample workspace, once: a second New on the same folder finds the
// mark and adds nothing.
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
		if err := seedWorkspace(ctx, tx, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('seeded', ?)`, sqlitedb.FormatTime(now))
		return err
	})
}

func seedWorkspace(ctx context.Context, tx *sql.Tx, now time.Time) error {
	start := sqlitedb.FormatTime(now.AddDate(0, -6, 0))
	if _, err := tx.ExecContext(ctx, `INSERT INTO teams (id, name, created_at) VALUES (1, 'Riverside Behavioral Health (sandbox)', ?)`, start); err != nil {
		return fmt.Errorf("seed team: %w", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(SamplePassword), passwordCost)
	if err != nil {
		return fmt.Errorf("hash sample password: %w", err)
	}
	for i, u := range sampleUsers {
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, team_id, name, email, password_hash, created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?)`,
			i+1, u.name, u.email, string(hash), start, start); err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
	}
	for _, t := range sampleTemplates {
		sections, err := json.Marshal(t.Sections)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO templates (id, name, description, sections) VALUES (?, ?, ?, ?)`,
			t.ID, t.Name, t.Description, string(sections)); err != nil {
			return fmt.Errorf("seed templates: %w", err)
		}
	}
	for i, p := range samplePatients {
		meds := p.meds
		if meds == nil {
			meds = []med{}
		}
		medsJSON, err := json.Marshal(meds)
		if err != nil {
			return err
		}
		created := sqlitedb.FormatTime(now.AddDate(0, -5, 0).Add(time.Duration(i) * 26 * time.Hour))
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO patients (id, uuid, team_id, user_id, first_name, middle_name, last_name, gender, date_of_birth, notes,
				latest_medications, search_name, created_at, updated_at)
			VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			i+1, newUUID(), i%len(sampleUsers)+1, p.first, nullString(p.middle), p.last, p.gender, p.dob, nullString(p.notes),
			string(medsJSON), searchName(p.first, p.middle, p.last), created, created); err != nil {
			return fmt.Errorf("seed patients: %w", err)
		}
	}
	return seedNotes(ctx, tx, now)
}

// seedNotes adds 30 finished notes over the last three months: most drafted, every third of the older
// ones signed, one failed.
func seedNotes(ctx context.Context, tx *sql.Tx, now time.Time) error {
	const count = 30
	for i := range count {
		pi := (i * 7) % len(samplePatients)
		p := samplePatients[pi]
		visit := sampleVisits[i%len(sampleVisits)]
		tpl := sampleTemplates[0]
		kind := "Follow-up Visit"
		switch {
		case i%len(sampleVisits) == len(sampleVisits)-1:
			tpl, kind = sampleTemplates[3], "Intake"
		case i%5 == 3:
			tpl, kind = sampleTemplates[1], "Therapy Session"
		case i%7 == 4:
			tpl, kind = sampleTemplates[2], "Group Session"
		}
		created := now.Add(-time.Duration(count-i) * 3 * 24 * time.Hour).Add(time.Duration(i%4) * time.Hour)
		t0, t1, t2, t3 := created.Add(5*time.Second), created.Add(40*time.Second), created.Add(41*time.Second), created.Add(55*time.Second)
		name := fmt.Sprintf("%s - %s %s", kind, p.first, p.last)
		var transcription, analysis, codesJSON, screenersJSON, errState any
		source := any(visit)
		tCompleted, aStarted, aCompleted, signed := any(sqlitedb.FormatTime(t1)), any(sqlitedb.FormatTime(t2)), any(sqlitedb.FormatTime(t3)), any(nil)
		updated := t3
		if i == 17 {
			// The one that failed: the recording held no speech.
			errState = "Transcription failed: no speech was found in the recording. Check the microphone and record again."
			tCompleted, aStarted, aCompleted, updated, source = nil, nil, nil, t1, nil
		} else {
			out := draft(draftInput{template: tpl, transcript: visit})
			c, err := json.Marshal(out.codes)
			if err != nil {
				return err
			}
			sc, err := json.Marshal(out.screeners)
			if err != nil {
				return err
			}
			transcription, analysis, codesJSON, screenersJSON = visit, out.analysis, string(c), string(sc)
			if i < count-6 && i%3 == 0 {
				at := created.Add(26 * time.Hour)
				signed, updated = sqlitedb.FormatTime(at), at
			}
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO progress_notes (team_id, user_id, patient_id, template_id, name, source_text, transcription, analysis,
				codes, screeners, signed_at, transcription_started_at, transcription_completed_at, analysis_started_at,
				analysis_completed_at, error_state, created_at, updated_at)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			i%len(sampleUsers)+1, pi+1, tpl.ID, name, source, transcription, analysis, codesJSON, screenersJSON, signed,
			sqlitedb.FormatTime(t0), tCompleted, aStarted, aCompleted, errState, sqlitedb.FormatTime(created), sqlitedb.FormatTime(updated)); err != nil {
			return fmt.Errorf("seed notes: %w", err)
		}
	}
	return nil
}

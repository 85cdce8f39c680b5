package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/mapping"
	"github.com/nextvisit/scribe/sync/ehr/simplepractice"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// The jobs that deliver notes to EHRs.
const (
	kindEHRPush    = "ehr-push"
	kindEHRConfirm = "ehr-confirm"
)

// Push events: what the clinician did to the note.
const (
	eventSign   = "sign"
	eventUnsign = "unsign"
)

// heldWait is how long a held push waits before it looks again; confirming
// the test push or connecting again wakes it at once.
const heldWait = time.Hour

// confirmPoll bounds one run of ehr-confirm before it hands the job back
// (it then runs again after confirmWait).
const (
	confirmPoll = 30 * time.Second
	confirmWait = 15 * time.Second
)

// errHeld marks a push that waits for its connection: test mode, or an
// expired authorization. Such a push is not failed.
var errHeld = errors.New("held")

func ehrGroupPrefix(kind ehr.Kind) string { return "ehr:" + string(kind) + ":" }

func ehrGroup(kind ehr.Kind, encounter string) string { return ehrGroupPrefix(kind) + encounter }

func ehrPushKey(kind ehr.Kind, encounter string, version int) string {
	return fmt.Sprintf("%s:%s:%s:%d", kindEHRPush, kind, encounter, version)
}

// pushPayload is an ehr-push (and ehr-confirm) job: a snapshot of the note
// as it was signed, so what reaches the EHR is what the clinician signed,
// whatever happens to the note later.
type pushPayload struct {
	V         int        `json:"v"`
	Kind      ehr.Kind   `json:"kind"`
	Encounter string     `json:"encounter"`
	Version   int        `json:"version"`
	Event     string     `json:"event"`
	Title     string     `json:"title"`
	Text      string     `json:"text"`
	Codes     []ehr.Code `json:"codes,omitempty"`
	VisitDate string     `json:"visit_date"`
	SignedAt  time.Time  `json:"signed_at"`
	// What and Update are the connection's push settings when the note was
	// signed: a note goes out as the settings said then, even if they
	// change before it can be sent. "" (older jobs): the current ones.
	What   ehr.Content `json:"what,omitempty"`
	Update ehr.Update  `json:"update,omitempty"`

	Scope       string `json:"scope"`
	ClinicianID int64  `json:"clinician_id"`
	Clinician   string `json:"clinician"`

	PatientID  int64  `json:"patient_id"` // Nextvisit's; negative for one added offline
	FirstName  string `json:"first_name,omitempty"`
	MiddleName string `json:"middle_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	BirthDate  string `json:"birth_date,omitempty"`
}

func (p pushPayload) patientName() string {
	return strings.Join(slices.DeleteFunc([]string{p.FirstName, p.MiddleName, p.LastName}, func(s string) bool { return s == "" }), " ")
}

// settings are the push settings p goes out with: those of its sign time,
// else the connection's now.
func (p pushPayload) settings(conn store.EHRConnection) PushSettings {
	set := settingsOf(conn)
	if p.What != "" {
		set.What = p.What
	}
	if p.Update != "" {
		set.Update = p.Update
	}
	return set
}

// wantsPush reports whether a connection set to when pushes at event.
func wantsPush(when PushWhen, event string) bool {
	switch when {
	case PushOnBoth:
		return true
	case PushOnUnsign:
		return event == eventUnsign
	}
	return event == eventSign
}

// enqueuePushesTx runs in the sign or unsign transaction: it counts the
// note's new version and queues an ehr-push for each connection whose
// push time matches the event. The content is fixed here.
func (c *Core) enqueuePushesTx(ctx context.Context, tx *sql.Tx, row store.Encounter, event string) error {
	version, err := c.ehr.db.NextEHRVersionTx(ctx, tx, row.ID)
	if err != nil {
		return err
	}
	var p *pushPayload
	for _, kind := range EHRKinds() {
		conn, err := c.ehr.db.EHRConnectionTx(ctx, tx, string(kind))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if conn.State == string(ConnNotConnected) || !wantsPush(settingsOf(conn).When, event) {
			continue
		}
		if p == nil {
			snap := c.pushSnapshot(ctx, row, version, event)
			p = &snap
		}
		q := *p
		set := settingsOf(conn)
		q.What, q.Update = set.What, set.Update
		if _, err := c.enqueuePushTx(ctx, tx, kind, q); err != nil {
			return err
		}
	}
	return nil
}

// enqueuePushTx queues p for kind; the job already there for the same
// note version is returned instead of a second one.
func (c *Core) enqueuePushTx(ctx context.Context, tx *sql.Tx, kind ehr.Kind, p pushPayload) (JobID, error) {
	p.Kind = kind
	b, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("queue the push to %s: %w", EHRName(kind), err)
	}
	id, err := c.queue.EnqueueTx(ctx, tx, outbox.NewJob{Kind: kindEHRPush, Group: ehrGroup(kind, p.Encounter),
		IdempotencyKey: ehrPushKey(kind, p.Encounter, p.Version), Payload: b})
	if err != nil && !errors.Is(err, outbox.ErrDuplicate) {
		return 0, fmt.Errorf("queue the push to %s: %w", EHRName(kind), err)
	}
	return id, nil
}

// pushSnapshot is the note of row as signed now.
func (c *Core) pushSnapshot(ctx context.Context, row store.Encounter, version int, event string) pushPayload {
	p := pushPayload{V: 1, Encounter: row.ID, Version: version, Event: event, Text: row.Draft, Scope: row.Scope,
		PatientID: row.PatientID, VisitDate: row.CreatedAt.Local().Format(time.DateOnly), SignedAt: time.Now().UTC()}
	var note api.ProgressNote
	if row.Note != "" && json.Unmarshal([]byte(row.Note), &note) == nil {
		p.Title = note.Name
		if p.Text == "" && note.Analysis != nil {
			p.Text = *note.Analysis
		}
		p.Codes = noteCodes(note)
	}
	if p.Title == "" {
		p.Title = "Visit — " + row.CreatedAt.Local().Format("2 Jan 2006")
	}
	p.ClinicianID, p.Clinician = c.scopeUser(ctx, row.Scope)
	if row.PatientID != 0 {
		if pt, err := c.db.Patient(ctx, row.Scope, row.PatientID); err == nil {
			p.FirstName, p.MiddleName, p.LastName, p.BirthDate = pt.FirstName, pt.MiddleName, pt.LastName, pt.DateOfBirth
		}
	}
	return p
}

// noteCodes are a server note's ICD-10 and CPT codes.
func noteCodes(n api.ProgressNote) []ehr.Code {
	if n.Codes == nil {
		return nil
	}
	var out []ehr.Code
	add := func(system string, cs *[]api.Code) {
		if cs == nil {
			return
		}
		for _, cd := range *cs {
			d := ""
			if cd.Description != nil {
				d = *cd.Description
			}
			out = append(out, ehr.Code{System: system, Code: cd.Code, Description: d})
		}
	}
	add("ICD-10", n.Codes.Icd10)
	add("CPT", n.Codes.Cpt)
	return out
}

// scopeUser is the clinician of an account scope ("server#id"): id and
// name, from the session or the user remembered for that server.
func (c *Core) scopeUser(ctx context.Context, scope string) (int64, string) {
	server, idText, ok := strings.Cut(scope, "#")
	if !ok {
		if s, err := c.current(); err == nil {
			return s.user.Id, s.user.Name
		}
		return 0, ""
	}
	id, _ := strconv.ParseInt(idText, 10, 64)
	if s, err := c.current(); err == nil && s.scope() == scope {
		return id, s.user.Name
	}
	if u, ok := c.rememberedUser(ctx, server); ok && u.Id == id {
		return id, u.Name
	}
	for _, cl := range c.cachedClinicians(ctx, scope) {
		if cl.ID == id {
			return id, cl.Name
		}
	}
	return id, ""
}

// TestPush queues a push of one signed visit to kind now: in test mode,
// the push the admin checks before automatic pushes start.
func (c *Core) TestPush(ctx context.Context, kind ehr.Kind, encounterID string) (JobID, error) {
	if err := knownKind(kind); err != nil {
		return 0, err
	}
	if _, err := c.ehr.db.EHRConnection(ctx, string(kind)); errors.Is(err, store.ErrNotFound) {
		return 0, &inputError{msg: EHRName(kind) + " is not connected — connect it first."}
	} else if err != nil {
		return 0, err
	}
	row, err := c.lookupEncounter(ctx, encounterID)
	if err != nil {
		return 0, err
	}
	if row.State != string(StateSigned) && row.State != string(StateDelivered) {
		return 0, &inputError{msg: "Only a signed note can be pushed — sign the visit's note first, or choose a signed visit."}
	}
	version, err := c.ehr.db.EHRVersion(ctx, row.ID)
	if err != nil {
		return 0, err
	}
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue the test push: %w", err)
	}
	defer tx.Rollback()
	if version == 0 {
		// Signed before any EHR was connected: this push is its first version.
		if version, err = c.ehr.db.NextEHRVersionTx(ctx, tx, row.ID); err != nil {
			return 0, err
		}
	}
	conn, err := c.ehr.db.EHRConnectionTx(ctx, tx, string(kind))
	if err != nil {
		return 0, err
	}
	p := c.pushSnapshot(ctx, row, version, eventSign)
	set := settingsOf(conn)
	p.What, p.Update = set.What, set.Update
	id, err := c.enqueuePushTx(ctx, tx, kind, p)
	if err != nil {
		return 0, err
	}
	conn.TestEncounter, conn.TestJob = row.ID, int64(id)
	if err := c.ehr.db.SaveEHRConnectionTx(ctx, tx, conn); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("queue the test push: %w", err)
	}
	c.queue.Committed()
	// The job may be one held earlier (the visit was signed in test mode),
	// or one that stopped: it goes now.
	c.wakeEHR(ctx, kind, func(ctx context.Context) {
		if j, err := c.queue.Get(ctx, id); err == nil && (j.State == outbox.NeedsAttention || j.State == outbox.Cancelled) {
			if err := c.queue.Retry(ctx, id); err != nil {
				c.log.Warn("cannot retry the test push", "ehr", kind, "error", err)
			}
		}
		c.retryNow(ctx)
	})
	c.logEHR(ctx, kind, false, "Test push queued (visit "+row.CreatedAt.Local().Format(time.DateOnly)+")")
	return id, nil
}

// ConfirmTestPush ends test mode once the test push has landed: the
// connection becomes Active and the pushes held meanwhile go.
func (c *Core) ConfirmTestPush(ctx context.Context, kind ehr.Kind) error {
	if err := knownKind(kind); err != nil {
		return err
	}
	name := EHRName(kind)
	row, err := c.ehr.db.EHRConnection(ctx, string(kind))
	if errors.Is(err, store.ErrNotFound) {
		return &inputError{msg: name + " is not connected — connect it first."}
	}
	if err != nil {
		return err
	}
	if row.State != string(ConnTest) {
		return &inputError{msg: fmt.Sprintf("%s is not in test mode (it is %s), so there is no test push to confirm.", name, ConnState(row.State).Label())}
	}
	if row.TestEncounter == "" {
		return &inputError{msg: "No test push has been made yet — push one signed visit first (Test push)."}
	}
	p, err := c.ehr.db.LatestEHRPush(ctx, string(kind), row.TestEncounter)
	if errors.Is(err, store.ErrNotFound) {
		return &inputError{msg: fmt.Sprintf("The test push has not reached %s yet — wait for it to land, check it, then confirm.", name)}
	}
	if err != nil {
		return err
	}
	if p.Status != string(ehr.Confirmed) {
		return &inputError{msg: fmt.Sprintf("%s has not confirmed the test note yet (it is %s) — wait a moment and confirm again.", name, p.Status)}
	}
	err = c.ehr.db.UpdateEHRConnection(ctx, string(kind), func(r *store.EHRConnection) error {
		r.State, r.Reason, r.WhatToDo, r.TestConfirmedAt = string(ConnActive), "", "", time.Now()
		return nil
	})
	if err != nil {
		return err
	}
	c.logEHR(ctx, kind, false, "Test push confirmed; signed notes are now sent automatically")
	c.log.Info("EHR test push confirmed", "ehr", kind)
	c.wakeEHR(ctx, kind, c.retryNow)
	return nil
}

// SentNotes lists what went to which EHR for one encounter, oldest first.
func (c *Core) SentNotes(ctx context.Context, encounterID string) ([]SentNote, error) {
	row, err := c.lookupEncounter(ctx, encounterID)
	if err != nil {
		return nil, err
	}
	ps, err := c.ehr.db.EHRPushes(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	out := make([]SentNote, 0, len(ps))
	for _, p := range ps {
		out = append(out, sentNote(p))
	}
	return out, nil
}

func sentNote(p store.EHRPush) SentNote {
	return SentNote{Kind: ehr.Kind(p.Kind), Encounter: p.EncounterID, PatientName: p.PatientName, EHRPatientID: p.EHRPatientID,
		VisitDate: p.VisitDate, Clinician: p.Clinician, ProviderName: p.ProviderName, Content: p.Content, Ref: ehr.Ref(p.Ref),
		Status: ehr.Status(p.Status), PushedAt: p.PushedAt, Version: p.Version, Event: p.Event}
}

// readPushPayload decodes an ehr-push or ehr-confirm job.
func readPushPayload(j Job) (pushPayload, error) {
	var p pushPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Encounter == "" || p.Kind == "" || p.Version <= 0 {
		return pushPayload{}, outbox.Permanent(fmt.Errorf("the job's details are unreadable: %v", err), "Cancel this job")
	}
	return p, nil
}

// pushConnection reads the connection a push job goes to.
func (c *Core) pushConnection(ctx context.Context, kind ehr.Kind) (store.EHRConnection, error) {
	conn, err := c.ehr.db.EHRConnection(ctx, string(kind))
	if errors.Is(err, store.ErrNotFound) {
		return conn, outbox.Permanent(fmt.Errorf("not connected to %s any more", EHRName(kind)),
			"Connect "+EHRName(kind)+" again in "+externalAppsPath(kind)+" and Retry this job, or Cancel it")
	}
	if err != nil {
		return conn, outbox.Transient(err)
	}
	return conn, nil
}

// held says why a push must wait for its connection, or nil.
func held(conn store.EHRConnection, encounter string) error {
	name := EHRName(ehr.Kind(conn.Kind))
	switch ConnState(conn.State) {
	case ConnExpired:
		return outbox.TransientAfter(fmt.Errorf("waiting for %s to be connected again (%s): %w", name, conn.Reason, errHeld), heldWait)
	case ConnTest:
		if conn.TestEncounter != encounter {
			return outbox.TransientAfter(fmt.Errorf("%s is in test mode: automatic pushes wait until the test push is confirmed: %w", name, errHeld), heldWait)
		}
	}
	return nil
}

// ehrPushJob delivers one note version to one EHR, once.
func (c *Core) ehrPushJob(ctx context.Context, j outbox.Job) error {
	p, err := readPushPayload(j)
	if err != nil {
		return err
	}
	kind, name := p.Kind, EHRName(p.Kind)
	conn, err := c.pushConnection(ctx, kind)
	if err != nil {
		return err
	}
	if _, err := c.ehr.db.EHRPush(ctx, string(kind), p.Encounter, p.Version); err == nil {
		c.settleDelivered(ctx, p.Encounter)
		return nil // an earlier run pushed it and recorded it
	} else if !errors.Is(err, store.ErrNotFound) {
		return outbox.Transient(err)
	}
	if err := held(conn, p.Encounter); err != nil {
		return err
	}
	cn, err := c.connector(ctx, conn)
	if err != nil {
		return c.ehrJobError(ctx, kind, "send the note", err)
	}
	if p.ClinicianID == 0 {
		return outbox.Permanent(errors.New("the visit's clinician is not known"), "sign in as the clinician who recorded the visit, then Retry")
	}
	who := p.Clinician
	if who == "" {
		who = fmt.Sprintf("clinician %d", p.ClinicianID)
	}
	m, err := c.ehr.db.EHRMapping(ctx, string(kind), p.ClinicianID)
	if errors.Is(err, store.ErrNotFound) {
		return outbox.Permanent(fmt.Errorf("map provider %s in %s: no %s provider is mapped to this clinician", who, name, name),
			"Open "+externalAppsPath(kind)+" → Providers and map "+who+", then Retry")
	}
	if err != nil {
		return outbox.Transient(err)
	}
	provider := m.ProviderID
	providerName := ""
	if ps, err := c.ehr.db.EHRProviders(ctx, string(kind)); err == nil {
		for _, pr := range ps {
			if pr.ID == provider {
				providerName = pr.Name
			}
		}
	}
	if err := c.resolvePatient(ctx, &p); err != nil {
		return err
	}
	patient, err := c.findEHRPatient(ctx, cn, conn, p)
	if err != nil {
		return err
	}
	set := p.settings(conn)
	opt := ehr.PushOptions{Content: set.What, Update: set.Update, IdempotencyKey: j.IdempotencyKey}
	if set.Update == ehr.Replace {
		if prev, err := c.ehr.db.LatestEHRPush(ctx, string(kind), p.Encounter); err == nil {
			opt.Previous = ehr.Ref(prev.Ref)
		} else if !errors.Is(err, store.ErrNotFound) {
			return outbox.Transient(err)
		}
	}
	note := ehr.Note{PatientID: patient, ProviderID: provider, VisitDate: p.VisitDate, Title: p.Title, Text: p.Text,
		Codes: p.Codes, Clinician: who, SignedAt: p.SignedAt}
	ref, err := cn.Push(ctx, note, opt)
	if err != nil {
		c.logEHR(ctx, kind, true, fmt.Sprintf("Sending a note (visit %s) failed: %v", p.VisitDate, err))
		return c.ehrJobError(ctx, kind, "send the note", err)
	}
	status := ehr.Confirmed
	if confirmsLater(kind) {
		status = ehr.Pending
	}
	rec := store.EHRPush{Kind: string(kind), EncounterID: p.Encounter, Version: p.Version, Event: p.Event, Ref: string(ref),
		Status: string(status), Content: ehr.Body(note, set.What), EHRPatientID: patient, PatientName: p.patientName(),
		ProviderID: provider, ProviderName: providerName, Clinician: who, VisitDate: p.VisitDate, PushedAt: time.Now()}
	if err := c.recordPush(ctx, rec, p); err != nil {
		return outbox.Transient(err)
	}
	verb := "Sent"
	if status == ehr.Pending {
		verb = "Sent (waiting for " + name + " to confirm)"
	}
	c.logEHR(ctx, kind, false, fmt.Sprintf("%s a note (visit %s, %s, %s)", verb, p.VisitDate, UpdateLabel(set.Update), ContentLabel(set.What)))
	c.log.Info("note pushed to the EHR", "ehr", kind, "encounter", p.Encounter, "version", p.Version)
	if status == ehr.Confirmed {
		c.recovered(ctx, kind)
		c.settleDelivered(ctx, p.Encounter)
	}
	return nil
}

// recordPush keeps a push, stamps the connection's last write and, for a
// push the EHR confirms later, queues its ehr-confirm, in one transaction.
func (c *Core) recordPush(ctx context.Context, rec store.EHRPush, p pushPayload) error {
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := c.ehr.db.AddEHRPushTx(ctx, tx, rec); err != nil {
		return err
	}
	conn, err := c.ehr.db.EHRConnectionTx(ctx, tx, rec.Kind)
	if err != nil {
		return err
	}
	conn.LastWriteAt = rec.PushedAt
	if err := c.ehr.db.SaveEHRConnectionTx(ctx, tx, conn); err != nil {
		return err
	}
	if rec.Status == string(ehr.Pending) {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		_, err = c.queue.EnqueueTx(ctx, tx, outbox.NewJob{Kind: kindEHRConfirm, Group: ehrGroup(p.Kind, p.Encounter),
			IdempotencyKey: fmt.Sprintf("%s:%s:%s:%d", kindEHRConfirm, p.Kind, p.Encounter, p.Version), Payload: b})
		if err != nil && !errors.Is(err, outbox.ErrDuplicate) {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	c.queue.Committed()
	c.notifyConnections()
	c.notifyEncounter()
	return nil
}

// resolvePatient fills in the Nextvisit patient's names and date of birth
// when the snapshot lacks them (a patient added offline, or not in the
// roster kept here when the note was signed).
func (c *Core) resolvePatient(ctx context.Context, p *pushPayload) error {
	if p.PatientID == 0 {
		return outbox.Permanent(errors.New("the visit has no patient, so it cannot be filed in a chart"),
			"choose the visit's patient, sign again, or Cancel this job")
	}
	if p.LastName != "" {
		return nil
	}
	id := p.PatientID
	if id < 0 {
		sid, err := c.db.ServerPatientID(ctx, p.Scope, id)
		if errors.Is(err, store.ErrNotFound) {
			return outbox.TransientAfter(errors.New("waiting for the patient added on this computer to reach the server"), 30*time.Second)
		}
		if err != nil {
			return outbox.Transient(err)
		}
		id = sid
	}
	pt, err := c.db.Patient(ctx, p.Scope, id)
	if err == nil {
		p.FirstName, p.MiddleName, p.LastName, p.BirthDate = pt.FirstName, pt.MiddleName, pt.LastName, pt.DateOfBirth
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return outbox.Transient(err)
	}
	s, err := c.jobSession(p.Scope)
	if err != nil {
		return err
	}
	ap, err := s.client.Patient(ctx, id)
	if err != nil {
		return c.jobError(ctx, s, "read the patient", err, "the server no longer has the visit's patient: Cancel this job")
	}
	c.cache(ctx, s, []api.Patient{ap})
	cp := toCache(ap, time.Now())
	p.FirstName, p.MiddleName, p.LastName, p.BirthDate = cp.FirstName, cp.MiddleName, cp.LastName, cp.DateOfBirth
	return nil
}

// findEHRPatient is the EHR's id for the visit's patient: the roster row
// linked to them, else the one with the same date of birth and a name alike
// enough (reading the roster again once when none is), or for
// SimplePractice a client lookup.
func (c *Core) findEHRPatient(ctx context.Context, cn ehr.Connector, conn store.EHRConnection, p pushPayload) (string, error) {
	kind, name := p.Kind, EHRName(p.Kind)
	notFound := outbox.Permanent(fmt.Errorf("the visit's patient is not in %s (no patient there with the same date of birth and a similar name)", name),
		"add the patient in "+name+" (or correct the name or date of birth in Nextvisit), then Retry")
	if sp, ok := cn.(*simplepractice.Connector); ok {
		// The lookup is by exact last name, which the EHR may spell
		// without accents (García, Garcia) or transliterated (Müller,
		// Mueller): each spelling is tried until one matches.
		var best *ehr.Patient
		for _, last := range lastNameSpellings(p.LastName) {
			found, err := sp.FindClients(ctx, last, p.BirthDate)
			if err != nil {
				return "", c.ehrJobError(ctx, kind, "find the patient", err)
			}
			if best = matchPatient(found, p); best != nil {
				break
			}
		}
		if best == nil {
			return "", notFound
		}
		row := toEHRPatient(*best, p.PatientID)
		if err := c.ehr.db.UpsertEHRPatients(ctx, string(kind), []store.EHRPatient{row}); err != nil {
			c.log.Warn("cannot keep the EHR patient found", "ehr", kind, "error", err)
		}
		return best.ID, nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		rows, err := c.ehr.db.EHRPatients(ctx, string(kind))
		if err != nil {
			return "", outbox.Transient(err)
		}
		for _, r := range rows {
			if r.PatientID != 0 && r.PatientID == p.PatientID {
				return r.ID, nil
			}
		}
		cands := make([]ehr.Patient, 0, len(rows))
		for _, r := range rows {
			cands = append(cands, ehr.Patient{ID: r.ID, FirstName: r.FirstName, MiddleName: r.MiddleName, LastName: r.LastName, DateOfBirth: r.DateOfBirth})
		}
		if best := matchPatient(cands, p); best != nil {
			return best.ID, nil
		}
		if attempt == 0 {
			// A patient added in the EHR since the last read.
			if _, err := c.pullRoster(ctx, cn, conn); err != nil {
				return "", c.ehrJobError(ctx, kind, "read the roster", err)
			}
		}
	}
	return "", notFound
}

// lastNameSpellings are a last name as written, transliterated (ü as ue,
// ß as ss) and without accents, each once.
func lastNameSpellings(last string) []string {
	translit := strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue", "ß", "ss").Replace(last)
	out := []string{last}
	for _, v := range []string{translit, stripAccents(last)} {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// stripAccents drops combining marks: García becomes Garcia.
func stripAccents(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		return s
	}
	return out
}

// matchPatient picks the EHR patient who is the visit's patient: the same
// date of birth (when Nextvisit has one) and the most alike name, at least
// mapping.MinNameScore; nil when none is, or two are equally likely.
func matchPatient(cands []ehr.Patient, p pushPayload) *ehr.Patient {
	var best *ehr.Patient
	bestScore, tie := 0.0, false
	// Spelled as written, without accents, or transliterated: the EHR
	// may keep any of these.
	var wants []string
	for _, last := range lastNameSpellings(p.LastName) {
		wants = append(wants, p.FirstName+" "+last, stripAccents(p.FirstName)+" "+last)
	}
	for i := range cands {
		e := &cands[i]
		if p.BirthDate != "" && e.DateOfBirth != p.BirthDate {
			continue
		}
		s := 0.0
		for _, want := range wants {
			s = max(s, mapping.NameScore(want, e.FirstName+" "+e.LastName))
		}
		if s < mapping.MinNameScore {
			continue
		}
		switch {
		case s > bestScore:
			best, bestScore, tie = e, s, false
		case s == bestScore:
			tie = true
		}
	}
	if tie {
		return nil
	}
	return best
}

// ehrConfirmJob waits for an EHR that accepts first (NexHealth) to say the
// note is in the chart.
func (c *Core) ehrConfirmJob(ctx context.Context, j outbox.Job) error {
	p, err := readPushPayload(j)
	if err != nil {
		return err
	}
	kind, name := p.Kind, EHRName(p.Kind)
	conn, err := c.pushConnection(ctx, kind)
	if err != nil {
		return err
	}
	rec, err := c.ehr.db.EHRPush(ctx, string(kind), p.Encounter, p.Version)
	if errors.Is(err, store.ErrNotFound) {
		return outbox.Permanent(errors.New("there is no push of this note to confirm"), "Cancel this job")
	}
	if err != nil {
		return outbox.Transient(err)
	}
	if rec.Status == string(ehr.Confirmed) {
		c.settleDelivered(ctx, p.Encounter)
		return nil
	}
	if ConnState(conn.State) == ConnExpired {
		return held(conn, p.Encounter)
	}
	cn, err := c.connector(ctx, conn)
	if err != nil {
		return c.ehrJobError(ctx, kind, "confirm the note", err)
	}
	if rec.Status == string(ehr.Failed) {
		// Retried by a person after the EHR refused it: send it again as a
		// new document, under a key of the refused one, so a retry of this
		// run is still one effect.
		if rec, err = c.repush(ctx, cn, conn, p, rec); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(confirmPoll)
	wait := 250 * time.Millisecond
	for {
		st, err := cn.Confirm(ctx, ehr.Ref(rec.Ref))
		if err != nil {
			return c.ehrJobError(ctx, kind, "confirm the note", err)
		}
		switch st {
		case ehr.Confirmed:
			if err := c.ehr.db.SetEHRPushStatus(ctx, string(kind), p.Encounter, p.Version, string(ehr.Confirmed), ""); err != nil {
				return outbox.Transient(err)
			}
			c.logEHR(ctx, kind, false, fmt.Sprintf("%s confirmed a note (visit %s) is in the chart", name, p.VisitDate))
			c.recovered(ctx, kind)
			c.notifyEncounter()
			c.settleDelivered(ctx, p.Encounter)
			return nil
		case ehr.Failed:
			if err := c.ehr.db.SetEHRPushStatus(ctx, string(kind), p.Encounter, p.Version, string(ehr.Failed), ""); err != nil {
				return outbox.Transient(err)
			}
			reason := name + "'s health record system refused a note it had accepted"
			c.setConnState(ctx, kind, ConnNeedsAttention, reason, "Retry the note's job on the Queue screen to send it again")
			return outbox.Permanent(errors.New(reason), "Retry to send the note again as a new document, or Cancel")
		}
		if time.Now().Add(wait).After(deadline) {
			return outbox.TransientAfter(fmt.Errorf("%s is still writing the note to the health record", name), confirmWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// repush sends a refused note again and records the new reference.
func (c *Core) repush(ctx context.Context, cn ehr.Connector, conn store.EHRConnection, p pushPayload, rec store.EHRPush) (store.EHRPush, error) {
	note := ehr.Note{PatientID: rec.EHRPatientID, ProviderID: rec.ProviderID, VisitDate: p.VisitDate, Title: p.Title, Text: p.Text,
		Codes: p.Codes, Clinician: rec.Clinician, SignedAt: p.SignedAt}
	set := p.settings(conn)
	ref, err := cn.Push(ctx, note, ehr.PushOptions{Content: set.What, Update: ehr.Append,
		IdempotencyKey: fmt.Sprintf("%s:%s:%s:%d:again-after:%s", kindEHRPush, p.Kind, p.Encounter, p.Version, rec.Ref)})
	if err != nil {
		return rec, c.ehrJobError(ctx, p.Kind, "send the note again", err)
	}
	if err := c.ehr.db.SetEHRPushStatus(ctx, string(p.Kind), p.Encounter, p.Version, string(ehr.Pending), string(ref)); err != nil {
		return rec, outbox.Transient(err)
	}
	c.logEHR(ctx, p.Kind, false, fmt.Sprintf("Sent a note (visit %s) again", p.VisitDate))
	rec.Ref, rec.Status = string(ref), string(ehr.Pending)
	return rec, nil
}

// ehrJobError marks a connector's error for the outbox: a refused
// authorization expires the connection and holds the push (it is not
// failed); a missing permission needs the admin; 5xx, 429, timeouts and
// network failures come back by themselves (after Retry-After when the EHR
// said); any other refusal needs a person, in the EHR's words.
func (c *Core) ehrJobError(ctx context.Context, kind ehr.Kind, op string, err error) error {
	name := EHRName(kind)
	var se *ehr.StatusError
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return err
	case errors.Is(err, ehr.ErrReauthorize):
		c.expire(ctx, kind, err)
		return outbox.TransientAfter(fmt.Errorf("%s: waiting for %s to be connected again: %w", op, name, errHeld), heldWait)
	case errors.Is(err, ehr.ErrScope):
		reason := fmt.Sprintf("%s refused a permission: %v", name, err)
		c.setConnState(ctx, kind, ConnNeedsAttention, reason, "Connect "+name+" again and allow every permission asked for")
		return outbox.Permanent(fmt.Errorf("%s: %w", op, err), "Connect "+name+" again in "+externalAppsPath(kind)+" and allow every permission, then Retry")
	case errors.As(err, &se) && se.Temporary():
		if d := se.RetryAfter(); d > 0 {
			return outbox.TransientAfter(err, d)
		}
		return outbox.Transient(err)
	case errors.Is(err, ehr.ErrUnsupported):
		return outbox.Permanent(err, "change the connection's push settings (Append), then Retry")
	case errors.As(err, &se):
		msg := se.Message
		if msg == "" {
			msg = fmt.Sprint(se.StatusCode)
		}
		return outbox.Permanent(fmt.Errorf("%s refused to %s: %w", name, op, err),
			fmt.Sprintf("%s said: %s — correct it (in %s or in Scribe), then Retry, or Cancel", name, msg, name))
	case errors.Is(err, context.DeadlineExceeded):
		return outbox.Transient(err)
	}
	if transportError(err) {
		// The push may have arrived (the reply was lost): its
		// Idempotency-Key makes sending it again one effect.
		return outbox.Transient(err)
	}
	return outbox.Permanent(err, "see the error; fix its cause, then Retry the job, or Cancel it")
}

// transportError reports whether err is the network failing (no answer,
// or a connection cut mid-reply) rather than the EHR answering. Connectors
// drop the request URL from these (ehr.WithoutURL), so the cause is
// matched, not the *url.Error.
func transportError(err error) bool {
	var ue *url.Error
	var ne net.Error
	var errno syscall.Errno
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &errno) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// settleDelivered marks a signed encounter delivered once every push of
// its current note version is confirmed and none of its EHR jobs is left.
func (c *Core) settleDelivered(ctx context.Context, encounter string) {
	row, err := c.db.Encounter(ctx, encounter)
	if err != nil || row.State != string(StateSigned) {
		return
	}
	version, err := c.ehr.db.EHRVersion(ctx, encounter)
	if err != nil || version == 0 {
		return
	}
	pushes, err := c.ehr.db.EHRPushes(ctx, encounter)
	if err != nil {
		return
	}
	confirmed := map[string]bool{}
	some := false
	for _, p := range pushes {
		if p.Version != version {
			continue
		}
		if p.Status != string(ehr.Confirmed) {
			return
		}
		some = true
		confirmed[p.Kind] = true
	}
	if !some {
		return
	}
	jobs, err := c.ehrJobs(ctx)
	if err != nil {
		return
	}
	for _, j := range jobs {
		if !strings.HasPrefix(j.Group, "ehr:") || !strings.HasSuffix(j.Group, ":"+encounter) {
			continue
		}
		// A job whose push is confirmed is finished even while the queue
		// still shows it running (its handler is returning now).
		if p, err := readPushPayload(j); err == nil && p.Version == version && confirmed[string(p.Kind)] {
			continue
		}
		return
	}
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return
	}
	defer tx.Rollback()
	if row, err = c.db.EncounterTx(ctx, tx, encounter); err != nil || row.State != string(StateSigned) {
		return
	}
	delivered := string(StateDelivered)
	if err := c.db.PatchEncounterTx(ctx, tx, encounter, store.EncounterPatch{State: &delivered}); err != nil {
		return
	}
	if tx.Commit() == nil {
		c.notifyEncounter()
		c.log.Info("note delivered to every connected EHR", "encounter", encounter)
	}
}

// retryNow wakes the held pushes.
func (c *Core) retryNow(ctx context.Context) {
	if _, err := c.queue.RetryNow(ctx); err != nil {
		c.log.Warn("cannot wake the held pushes", "error", err)
	}
}

// wakeEHR runs wake now and, when jobs of kind are running, once more
// after they have finished: a push that read its connection just before
// the change (the test push chosen, test mode ended, the connection
// renewed, a provider mapped) would otherwise settle into its long wait
// after the wake-up had passed it by.
func (c *Core) wakeEHR(ctx context.Context, kind ehr.Kind, wake func(ctx context.Context)) {
	// Running is read before the wake: a job that finishes in between is
	// then woken by it, and one that finishes after by the second wake.
	jobs, err := c.queue.List(ctx, outbox.Filter{States: []outbox.State{outbox.Running}})
	wake(ctx)
	if err != nil {
		c.log.Warn("cannot list the running jobs", "error", err)
		return
	}
	var running []JobID
	for _, j := range jobs {
		if strings.HasPrefix(j.Group, ehrGroupPrefix(kind)) {
			running = append(running, j.ID)
		}
	}
	if len(running) == 0 {
		return
	}
	// It belongs to the change, not to the caller's request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), confirmPoll+time.Minute)
	go func() {
		defer cancel()
		for {
			changed := c.queue.Changed()
			busy := false
			for _, id := range running {
				if j, err := c.queue.Get(ctx, id); err == nil && j.State == outbox.Running {
					busy = true
				}
			}
			if !busy {
				wake(ctx)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
}

package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/store"
)

// SyncRoster reads an EHR's providers and, for a two-way EHR, its roster
// now, and returns how many of its patients are kept here (0 for
// SimplePractice, which has no roster listing).
func (c *Core) SyncRoster(ctx context.Context, kind ehr.Kind) (int, error) {
	if err := knownKind(kind); err != nil {
		return 0, err
	}
	return c.syncRoster(ctx, kind)
}

func (c *Core) syncRoster(ctx context.Context, kind ehr.Kind) (int, error) {
	name := EHRName(kind)
	conn, err := c.ehr.db.EHRConnection(ctx, string(kind))
	if errors.Is(err, store.ErrNotFound) {
		return 0, &inputError{msg: name + " is not connected — connect it first."}
	}
	if err != nil {
		return 0, err
	}
	if ConnState(conn.State) == ConnExpired {
		return 0, &inputError{msg: fmt.Sprintf("The connection to %s has expired — connect it again.", name)}
	}
	cn, err := c.connector(ctx, conn)
	if err == nil {
		var n int
		if n, err = c.readEHR(ctx, cn, conn); err == nil {
			c.recovered(ctx, kind)
			return n, nil
		}
	}
	if errors.Is(err, ehr.ErrReauthorize) {
		c.expire(ctx, kind, err)
	} else if !errors.Is(err, context.Canceled) {
		c.logEHR(ctx, kind, true, "Reading providers and roster failed: "+err.Error())
	}
	return 0, explained(fmt.Sprintf("Reading %s's providers and roster failed: %v — try again later; if it persists, connect %s again.", name, err, name), err)
}

// readEHR reads the providers and (two-way) the roster into the store.
func (c *Core) readEHR(ctx context.Context, cn ehr.Connector, conn store.EHRConnection) (int, error) {
	kind := ehr.Kind(conn.Kind)
	ps, err := cn.Providers(ctx)
	if err != nil {
		return 0, err
	}
	rows := make([]store.EHRProvider, 0, len(ps))
	for _, p := range ps {
		rows = append(rows, store.EHRProvider{ID: p.ID, Name: p.Name, Email: p.Email})
	}
	if err := c.ehr.db.SetEHRProviders(ctx, string(kind), rows); err != nil {
		return 0, err
	}
	n := 0
	if twoWay(kind) {
		if n, err = c.pullRoster(ctx, cn, conn); err != nil {
			return 0, err
		}
	} else if err := c.ehr.db.UpdateEHRConnection(ctx, string(kind), func(r *store.EHRConnection) error {
		r.LastReadAt = time.Now()
		return nil
	}); err != nil {
		return 0, err
	}
	c.logEHR(ctx, kind, false, fmt.Sprintf("Read %d provider(s)%s", len(ps), rosterWords(kind, n)))
	return n, nil
}

func rosterWords(kind ehr.Kind, n int) string {
	if !twoWay(kind) {
		return ""
	}
	return fmt.Sprintf(" and a roster of %d patient(s)", n)
}

// pullRoster reads the patients changed since the last read, links every
// EHR patient to the Nextvisit patient they are, and stamps the read. It
// returns how many EHR patients are kept.
func (c *Core) pullRoster(ctx context.Context, cn ehr.Connector, conn store.EHRConnection) (int, error) {
	kind := string(conn.Kind)
	changed, next, err := cn.Roster(ctx, conn.RosterSince)
	if err != nil {
		return 0, err
	}
	kept, err := c.ehr.db.EHRPatients(ctx, kind)
	if err != nil {
		return 0, err
	}
	linked := make(map[string]int64, len(kept))
	for _, r := range kept {
		linked[r.ID] = r.PatientID
	}
	fresh := make([]store.EHRPatient, 0, len(changed))
	for _, p := range changed {
		fresh = append(fresh, toEHRPatient(p, linked[p.ID]))
	}
	if err := c.ehr.db.UpsertEHRPatients(ctx, kind, fresh); err != nil {
		return 0, err
	}
	all, err := c.ehr.db.EHRPatients(ctx, kind)
	if err != nil {
		return 0, err
	}
	if c.linkRoster(ctx, all) {
		if err := c.ehr.db.UpsertEHRPatients(ctx, kind, all); err != nil {
			return 0, err
		}
	}
	now := time.Now()
	err = c.ehr.db.UpdateEHRConnection(ctx, kind, func(r *store.EHRConnection) error {
		r.RosterSince, r.RosterAt, r.LastReadAt = next, now, now
		return nil
	})
	if err != nil {
		return 0, err
	}
	c.notifyConnections()
	return len(all), nil
}

func toEHRPatient(p ehr.Patient, linked int64) store.EHRPatient {
	return store.EHRPatient{ID: p.ID, FirstName: p.FirstName, MiddleName: p.MiddleName, LastName: p.LastName,
		DateOfBirth: p.DateOfBirth, UpdatedAt: p.UpdatedAt, PatientID: linked}
}

// linkRoster sets each EHR patient's link to the Nextvisit patient of the
// signed-in account with the same date of birth and the most alike name
// (links stay as they were when nobody is signed in). It reports whether
// it linked.
func (c *Core) linkRoster(ctx context.Context, rows []store.EHRPatient) bool {
	s, err := c.current()
	if err != nil {
		return false
	}
	c.refreshPatients(ctx, s)
	ours, err := c.db.SearchPatients(ctx, s.scope(), "", 1<<20)
	if err != nil {
		c.log.Warn("cannot read the roster kept here to link the EHR's", "error", err)
		return false
	}
	byBirth := map[string][]store.Patient{}
	for _, p := range ours {
		if p.ID > 0 && p.DateOfBirth != "" {
			byBirth[p.DateOfBirth] = append(byBirth[p.DateOfBirth], p)
		}
	}
	for i := range rows {
		r := &rows[i]
		cands := make([]ehr.Patient, 0, len(byBirth[r.DateOfBirth]))
		for _, p := range byBirth[r.DateOfBirth] {
			cands = append(cands, ehr.Patient{ID: fmt.Sprint(p.ID), FirstName: p.FirstName, MiddleName: p.MiddleName, LastName: p.LastName, DateOfBirth: p.DateOfBirth})
		}
		r.PatientID = 0
		if r.DateOfBirth == "" {
			continue
		}
		best := matchPatient(cands, pushPayload{FirstName: r.FirstName, LastName: r.LastName, BirthDate: r.DateOfBirth})
		if best == nil {
			continue
		}
		for _, p := range byBirth[r.DateOfBirth] {
			if fmt.Sprint(p.ID) == best.ID {
				r.PatientID = p.ID
			}
		}
	}
	return true
}

// PatientSources maps each Nextvisit patient found in a connected EHR's
// roster to those EHRs, for the patient list's source marks.
func (c *Core) PatientSources(ctx context.Context) (map[int64][]ehr.Kind, error) {
	m, err := c.ehr.db.EHRPatientSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]ehr.Kind, len(m))
	for id, kinds := range m {
		for _, k := range kinds {
			out[id] = append(out[id], ehr.Kind(k))
		}
	}
	return out, nil
}

// rosterLoop reads the providers and roster of every two-way connection
// every RosterEvery (and when kicked), until ctx ends.
func (c *Core) rosterLoop(ctx context.Context) {
	every(ctx, func() time.Duration { return c.ehr.rosterEvery }, c.ehr.kick, c.rosterRound)
}

// rosterRound reads each two-way connection whose last read is older than
// RosterEvery.
func (c *Core) rosterRound(ctx context.Context) {
	conns, err := c.ehr.db.EHRConnections(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("cannot list the EHR connections", "error", err)
		}
		return
	}
	for _, conn := range conns {
		kind := ehr.Kind(conn.Kind)
		if !twoWay(kind) || ConnState(conn.State) == ConnExpired || ConnState(conn.State) == ConnNotConnected {
			continue
		}
		if !conn.RosterAt.IsZero() && time.Since(conn.RosterAt) < c.ehr.rosterEvery {
			continue
		}
		if _, err := c.syncRoster(ctx, kind); err != nil && ctx.Err() == nil {
			c.log.Info("roster sync failed", "ehr", kind, "error", err)
		}
	}
}

// refreshPatients reads the account's whole patient list into the copy
// kept here, so the EHR's roster links to patients nobody has looked up on
// this computer yet. Unreachable or failing, the copy stays as it was.
func (c *Core) refreshPatients(ctx context.Context, s *session) {
	var page []api.Patient
	for p, err := range s.client.Patients(ctx, api.PatientQuery{PerPage: 100}) {
		if err != nil {
			c.log.Info("cannot refresh the patient list to link the EHR's roster", "error", err)
			break
		}
		if page = append(page, p); len(page) == 100 {
			c.cache(ctx, s, page)
			page = page[:0]
		}
	}
	c.cache(ctx, s, page)
}

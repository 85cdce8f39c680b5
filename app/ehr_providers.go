package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/mapping"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// settingClinicians + scope keeps the team's clinicians (JSON) for use
// while the server is out of reach.
const settingClinicians = "clinicians:"

// ProviderMap is one EHR's provider mapping: every clinician of the team
// with the EHR provider they are, or the best suggestion.
type ProviderMap struct {
	Kind       ehr.Kind
	Clinicians []mapping.Clinician
	Providers  []ehr.Provider
	Rows       []ProviderRow
}

// ProviderRow is one clinician's row of the mapping.
type ProviderRow struct {
	Clinician  mapping.Clinician
	ProviderID string // "" when unmapped
	// Confirmed: the admin mapped it (one by one, all suggested, or by
	// CSV). Only confirmed rows are used by pushes.
	Confirmed bool
	// Suggestion is the best suggestion when the row is not confirmed.
	Suggestion *mapping.Suggestion
}

// Clinicians lists the team's clinicians (Nextvisit users), kept here for
// use while the server is out of reach. A server without the team listing
// gives the signed-in clinician alone.
func (c *Core) Clinicians(ctx context.Context) ([]mapping.Clinician, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	users, err := s.client.TeamUsers(ctx)
	switch {
	case err == nil:
	case errors.Is(err, api.ErrNotFound):
		users = []api.User{s.user}
	case errors.Is(err, api.ErrUnreachable):
		if kept := c.cachedClinicians(ctx, s.scope()); len(kept) > 0 {
			return kept, &offlineError{&serverError{host: hostOf(s.server), op: "list the team", err: err}}
		}
		return nil, c.failed(ctx, s, "list the team", err)
	default:
		return nil, c.failed(ctx, s, "list the team", err)
	}
	out := make([]mapping.Clinician, 0, len(users))
	for _, u := range users {
		out = append(out, mapping.Clinician{ID: u.Id, Name: u.Name, Email: u.Email})
	}
	if !slices.ContainsFunc(out, func(cl mapping.Clinician) bool { return cl.ID == s.user.Id }) {
		out = append(out, mapping.Clinician{ID: s.user.Id, Name: s.user.Name, Email: s.user.Email})
	}
	slices.SortFunc(out, func(a, b mapping.Clinician) int { return strings.Compare(a.Name, b.Name) })
	if b, err := json.Marshal(out); err == nil {
		if err := c.db.SetSetting(ctx, settingClinicians+s.scope(), string(b)); err != nil {
			c.log.Warn("cannot keep the team on this computer", "error", err)
		}
	}
	return out, nil
}

// cachedClinicians are the team as last listed for scope.
func (c *Core) cachedClinicians(ctx context.Context, scope string) []mapping.Clinician {
	v, err := c.db.Setting(ctx, settingClinicians+scope)
	if err != nil {
		return nil
	}
	var out []mapping.Clinician
	if json.Unmarshal([]byte(v), &out) != nil {
		return nil
	}
	return out
}

// clinicians is Clinicians, falling back to the team kept here when the
// server cannot be asked.
func (c *Core) clinicians(ctx context.Context) ([]mapping.Clinician, error) {
	cls, err := c.Clinicians(ctx)
	if err == nil || (errors.Is(err, ErrOffline) && len(cls) > 0) {
		return cls, nil
	}
	if s, serr := c.current(); serr == nil {
		if kept := c.cachedClinicians(ctx, s.scope()); len(kept) > 0 {
			return kept, nil
		}
	}
	return nil, err
}

func toProviders(ps []store.EHRProvider) []ehr.Provider {
	out := make([]ehr.Provider, 0, len(ps))
	for _, p := range ps {
		out = append(out, ehr.Provider{ID: p.ID, Name: p.Name, Email: p.Email})
	}
	return out
}

// ProviderMap returns one EHR's mapping with suggestions for the
// clinicians not mapped yet (providers already mapped are not suggested
// again).
func (c *Core) ProviderMap(ctx context.Context, kind ehr.Kind) (ProviderMap, error) {
	if err := knownKind(kind); err != nil {
		return ProviderMap{}, err
	}
	cls, err := c.clinicians(ctx)
	if err != nil {
		return ProviderMap{}, err
	}
	return c.providerMap(ctx, kind, cls)
}

func (c *Core) providerMap(ctx context.Context, kind ehr.Kind, cls []mapping.Clinician) (ProviderMap, error) {
	sp, err := c.ehr.db.EHRProviders(ctx, string(kind))
	if err != nil {
		return ProviderMap{}, err
	}
	ms, err := c.ehr.db.EHRMappings(ctx, string(kind))
	if err != nil {
		return ProviderMap{}, err
	}
	pm := ProviderMap{Kind: kind, Clinicians: cls, Providers: toProviders(sp)}
	mapped := map[int64]string{}
	taken := map[string]bool{}
	for _, m := range ms {
		mapped[m.ClinicianID] = m.ProviderID
		taken[m.ProviderID] = true
	}
	var open []mapping.Clinician
	for _, cl := range cls {
		if mapped[cl.ID] == "" {
			open = append(open, cl)
		}
	}
	free := slices.DeleteFunc(slices.Clone(pm.Providers), func(p ehr.Provider) bool { return taken[p.ID] })
	sugg := map[int64]mapping.Suggestion{}
	for _, s := range mapping.Suggest(open, free) {
		sugg[s.ClinicianID] = s
	}
	for _, cl := range cls {
		row := ProviderRow{Clinician: cl, ProviderID: mapped[cl.ID]}
		row.Confirmed = row.ProviderID != ""
		if s, ok := sugg[cl.ID]; ok && !row.Confirmed {
			row.Suggestion = &s
		}
		pm.Rows = append(pm.Rows, row)
	}
	return pm, nil
}

// MapProvider maps a clinician to an EHR provider ("" unmaps). The
// clinician's pushes to kind that stopped for want of a mapping go again.
func (c *Core) MapProvider(ctx context.Context, kind ehr.Kind, clinicianID int64, providerID string) error {
	if err := knownKind(kind); err != nil {
		return err
	}
	providerID = strings.TrimSpace(providerID)
	if providerID != "" {
		ps, err := c.ehr.db.EHRProviders(ctx, string(kind))
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(ps, func(p store.EHRProvider) bool { return p.ID == providerID }) {
			return &inputError{msg: fmt.Sprintf("%s has no provider %q — pick one from the list (Sync now reads %s's providers again).",
				EHRName(kind), providerID, EHRName(kind))}
		}
	}
	if err := c.applyMappings(ctx, kind, []mapping.Pair{{ClinicianID: clinicianID, ProviderID: providerID}}); err != nil {
		return err
	}
	what := "Unmapped"
	if providerID != "" {
		what = "Mapped"
	}
	c.logEHR(ctx, kind, false, fmt.Sprintf("%s the provider of clinician %d", what, clinicianID))
	return nil
}

// ConfirmSuggestions maps every clinician with a suggestion to it and
// returns how many.
func (c *Core) ConfirmSuggestions(ctx context.Context, kind ehr.Kind) (int, error) {
	pm, err := c.ProviderMap(ctx, kind)
	if err != nil {
		return 0, err
	}
	var pairs []mapping.Pair
	for _, r := range pm.Rows {
		if !r.Confirmed && r.Suggestion != nil {
			pairs = append(pairs, mapping.Pair{ClinicianID: r.Clinician.ID, ProviderID: r.Suggestion.ProviderID})
		}
	}
	if len(pairs) == 0 {
		return 0, nil
	}
	if err := c.applyMappings(ctx, kind, pairs); err != nil {
		return 0, err
	}
	c.logEHR(ctx, kind, false, fmt.Sprintf("Confirmed %d suggested provider(s)", len(pairs)))
	return len(pairs), nil
}

// applyMappings saves pairs and wakes the pushes of their clinicians that
// stopped for want of a provider.
func (c *Core) applyMappings(ctx context.Context, kind ehr.Kind, pairs []mapping.Pair) error {
	now := time.Now()
	ms := make([]store.EHRMapping, 0, len(pairs))
	woken := map[int64]bool{}
	for _, p := range pairs {
		ms = append(ms, store.EHRMapping{ClinicianID: p.ClinicianID, ProviderID: p.ProviderID, ConfirmedAt: now})
		if p.ProviderID != "" {
			woken[p.ClinicianID] = true
		}
	}
	if err := c.ehr.db.SetEHRMappings(ctx, string(kind), ms); err != nil {
		return err
	}
	c.notifyConnections()
	if len(woken) == 0 {
		return nil
	}
	c.wakeEHR(ctx, kind, func(ctx context.Context) {
		stuck, err := c.queue.List(ctx, outbox.Filter{States: []outbox.State{outbox.NeedsAttention}})
		if err != nil {
			c.log.Warn("cannot find the pushes waiting for a provider", "ehr", kind, "error", err)
			return
		}
		for _, j := range stuck {
			if j.Kind != kindEHRPush || !strings.HasPrefix(j.Group, ehrGroupPrefix(kind)) {
				continue
			}
			if p, err := readPushPayload(j); err == nil && woken[p.ClinicianID] {
				if err := c.queue.Retry(ctx, j.ID); err != nil && !errors.Is(err, outbox.ErrState) {
					c.log.Warn("cannot retry a push waiting for a provider", "ehr", kind, "error", err)
				}
			}
		}
	})
	return nil
}

// ExportProviders writes the mapping as CSV: every clinician with their
// provider ("" when none), for the admin's spreadsheet.
func (c *Core) ExportProviders(ctx context.Context, kind ehr.Kind, w io.Writer) error {
	pm, err := c.ProviderMap(ctx, kind)
	if err != nil {
		return err
	}
	var pairs []mapping.Pair
	for _, r := range pm.Rows {
		if r.ProviderID != "" {
			pairs = append(pairs, mapping.Pair{ClinicianID: r.Clinician.ID, ProviderID: r.ProviderID})
		}
	}
	if err := mapping.WriteCSV(w, pm.Clinicians, pm.Providers, pairs); err != nil {
		return fmt.Errorf("write the provider mapping of %s: %w", EHRName(kind), err)
	}
	return nil
}

// ImportProviders reads a mapping CSV (as ExportProviders writes it): the
// good rows are applied and the bad ones reported, each naming its line;
// nothing is applied when the file is not a mapping at all.
func (c *Core) ImportProviders(ctx context.Context, kind ehr.Kind, r io.Reader) (int, []mapping.RowError, error) {
	pm, err := c.ProviderMap(ctx, kind)
	if err != nil {
		return 0, nil, err
	}
	pairs, rowErrs, err := mapping.ReadCSV(r, pm.Clinicians, pm.Providers)
	if errors.Is(err, mapping.ErrNotMapping) {
		return 0, nil, explained(fmt.Sprintf("The file is not a provider mapping (%v) — export one from %s's Providers to see the columns, fill it in and import it.",
			err, EHRName(kind)), err)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read the provider mapping: %w", err)
	}
	if len(pairs) > 0 {
		if err := c.applyMappings(ctx, kind, pairs); err != nil {
			return 0, rowErrs, err
		}
	}
	msg := fmt.Sprintf("Imported a provider mapping: %d row(s) applied", len(pairs))
	if len(rowErrs) > 0 {
		msg += fmt.Sprintf(", %d refused", len(rowErrs))
	}
	c.logEHR(ctx, kind, len(rowErrs) > 0, msg)
	return len(pairs), rowErrs, nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/mapping"
)

const providersUsage = `Usage: scribe providers [--ehr KIND] [--json] [flags]
       scribe providers map [--ehr KIND] CLINICIAN PROVIDER [flags]
       scribe providers confirm [--ehr KIND] [flags]
       scribe providers export [--ehr KIND] FILE [flags]
       scribe providers import [--ehr KIND] FILE [flags]

The provider mapping of a connected EHR: which EHR provider each clinician of the practice is, so that a
pushed note arrives under the right clinician's name. Scribe suggests matches by email, then by how alike
the names are (a score from 0 to 1); check them and confirm. A push for a clinician with no confirmed
provider stops and asks you to map one.

  (none)    list the clinicians with their provider: confirmed, suggested (with its score and whether
            by email or by name), or unmapped
  map       map CLINICIAN (an id, an email or a name) to PROVIDER (the EHR's id, email or name);
            PROVIDER none unmaps. A name may be part of one ("rivera") when it fits only one person
  confirm   confirm every suggestion
  export    write the mapping as CSV to FILE (- for stdout): clinician_id, clinician_name,
            clinician_email, provider_id, provider_name; fill in provider_id in a spreadsheet
  import    read a CSV written by export (FILE, or - for stdin): good rows are applied, each bad row is
            named with its line and what to fix, and the exit status is 1 when any row was bad

  --ehr KIND  osmind, kalix, simplepractice or nexhealth; may be left out when only one EHR is connected
  --json      print {"ehr", "providers": [{"id", "name", "email"}], "rows": [{"clinician": {"id", "name",
              "email"}, "provider": {"id", "name", "email"} or null, "confirmed", "suggestion":
              {"provider_id", "score", "by"} or null}]}
` + globalUsage

func runProviders(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "map":
			return runProvidersMap(ctx, e, args[1:])
		case "confirm":
			return runProvidersConfirm(ctx, e, args[1:])
		case "export":
			return runProvidersExport(ctx, e, args[1:])
		case "import":
			return runProvidersImport(ctx, e, args[1:])
		}
	}
	fs := e.flags("providers", providersUsage)
	kindFlag := fs.String("ehr", "", "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, providersUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr(providersUsage, "unknown providers subcommand %q; use map, confirm, export or import", fs.Arg(0))
	}
	p, c, err := e.openForProviders(ctx, *kindFlag)
	if err != nil {
		return err
	}
	defer p.Close()
	m, err := p.core.ProviderMap(ctx, c.Kind)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, newJSONProviderMap(m))
	}
	byID := providersByID(m.Providers)
	t := newTable(e.stdout, "ID", "CLINICIAN", "EMAIL", c.Name+" PROVIDER", "STATUS")
	for _, r := range m.Rows {
		pid, status := rowState(r)
		provider := "—"
		if pid != "" {
			provider = providerText(byID, pid)
		}
		t.row(r.Clinician.ID, r.Clinician.Name, orDash(r.Clinician.Email), provider, status)
	}
	if err := t.flush(); err != nil {
		return err
	}
	n := countRows(m.Rows)
	fmt.Fprintf(e.stdout, "%d clinicians: %d confirmed, %d suggested, %d unmapped; %d providers in %s.\n",
		len(m.Rows), n.confirmed, n.suggested, n.unmapped, len(m.Providers), c.Name)
	if n.suggested > 0 {
		fmt.Fprintf(e.stdout, "Check the suggestions, then confirm them all: scribe providers confirm --ehr %s\n", c.Kind)
	}
	return nil
}

// rowState is the provider a row shows and its status.
func rowState(r app.ProviderRow) (providerID, status string) {
	switch {
	case r.Confirmed && r.ProviderID != "":
		return r.ProviderID, "confirmed"
	case r.Suggestion != nil:
		return r.Suggestion.ProviderID, fmt.Sprintf("suggested (%.2f by %s)", r.Suggestion.Score, r.Suggestion.By)
	case r.ProviderID != "":
		return r.ProviderID, "mapped"
	}
	return "", "unmapped"
}

type rowCounts struct{ confirmed, suggested, unmapped int }

func countRows(rows []app.ProviderRow) rowCounts {
	var n rowCounts
	for _, r := range rows {
		switch _, s := rowState(r); {
		case s == "unmapped":
			n.unmapped++
		case r.Suggestion != nil && !r.Confirmed:
			n.suggested++
		default:
			n.confirmed++
		}
	}
	return n
}

func providersByID(ps []ehr.Provider) map[string]ehr.Provider {
	m := make(map[string]ehr.Provider, len(ps))
	for _, p := range ps {
		m[p.ID] = p
	}
	return m
}

// providerText is "Name (id)", or the id alone for a provider the EHR no
// longer lists.
func providerText(byID map[string]ehr.Provider, id string) string {
	if p, ok := byID[id]; ok {
		return p.Name + " (" + id + ")"
	}
	return id + " (no longer in the EHR)"
}

// openForProviders opens the profile with a session (the clinicians are
// the team's users) and picks the connection --ehr names, or the only
// connected one.
func (e *env) openForProviders(ctx context.Context, kindFlag string) (*profile, app.Connection, error) {
	var kind ehr.Kind
	if kindFlag != "" {
		var err error
		if kind, err = parseKind(providersUsage, kindFlag); err != nil {
			return nil, app.Connection{}, err
		}
	}
	p, err := e.openWithSession(ctx)
	if err != nil {
		return nil, app.Connection{}, err
	}
	c, err := pickConnection(ctx, p.core, kind)
	if err != nil {
		p.Close()
		return nil, app.Connection{}, err
	}
	return p, c, nil
}

// pickConnection is kind's connection, which must be connected, or with
// kind "" the only connected one.
func pickConnection(ctx context.Context, core *app.Core, kind ehr.Kind) (app.Connection, error) {
	conns, err := core.Connections(ctx)
	if err != nil {
		return app.Connection{}, err
	}
	var connected []app.Connection
	for _, c := range conns {
		if kind != "" && c.Kind == kind {
			if c.State == app.ConnNotConnected {
				return app.Connection{}, messageErr("%s is not connected — its providers come from it: %s", c.Name, connectHint(kind))
			}
			return c, nil
		}
		if c.State != app.ConnNotConnected {
			connected = append(connected, c)
		}
	}
	switch len(connected) {
	case 0:
		return app.Connection{}, messageErr("No EHR is connected — connect one first (scribe ehr connect KIND, KIND %s).", kindList)
	case 1:
		return connected[0], nil
	}
	names := make([]string, len(connected))
	for i, c := range connected {
		names[i] = "--ehr " + string(c.Kind)
	}
	return app.Connection{}, messageErr("%d EHRs are connected; say which one with %s.", len(connected), strings.Join(names, " or "))
}

func runProvidersMap(ctx context.Context, e *env, args []string) error {
	fs := e.flags("providers map", providersUsage)
	kindFlag := fs.String("ehr", "", "")
	if err := parseFlags(fs, providersUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErr(providersUsage, "providers map needs CLINICIAN PROVIDER, e.g. scribe providers map rivera 901")
	}
	p, c, err := e.openForProviders(ctx, *kindFlag)
	if err != nil {
		return err
	}
	defer p.Close()
	m, err := p.core.ProviderMap(ctx, c.Kind)
	if err != nil {
		return err
	}
	cl, err := findClinician(m.Clinicians, fs.Arg(0))
	if err != nil {
		return err
	}
	pid := ""
	if !strings.EqualFold(strings.TrimSpace(fs.Arg(1)), "none") {
		pr, err := findProvider(m.Providers, fs.Arg(1), c.Name)
		if err != nil {
			return err
		}
		pid = pr.ID
	}
	if err := p.core.MapProvider(ctx, c.Kind, cl.ID, pid); err != nil {
		return err
	}
	if pid == "" {
		fmt.Fprintf(e.stdout, "Unmapped %s in %s: pushes of their notes stop until a provider is mapped.\n", cl.Name, c.Name)
		return nil
	}
	fmt.Fprintf(e.stdout, "Mapped %s to %s in %s.\n", cl.Name, providerText(providersByID(m.Providers), pid), c.Name)
	return nil
}

// findClinician finds one clinician by id, email or (part of a) name.
func findClinician(cs []mapping.Clinician, q string) (mapping.Clinician, error) {
	q = strings.TrimSpace(q)
	if id, err := strconv.ParseInt(q, 10, 64); err == nil {
		for _, c := range cs {
			if c.ID == id {
				return c, nil
			}
		}
	}
	describe := func(c mapping.Clinician) string {
		if c.Email == "" {
			return fmt.Sprintf("%s (id %d)", c.Name, c.ID)
		}
		return fmt.Sprintf("%s (id %d, %s)", c.Name, c.ID, c.Email)
	}
	found := findAll(cs, q, func(c mapping.Clinician) (string, string) { return c.Email, c.Name })
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return mapping.Clinician{}, messageErr("%q fits %d clinicians: %s — give the id or the email.", q, len(found), describeAll(found, describe))
	case len(cs) == 0:
		return mapping.Clinician{}, messageErr("No clinicians are known — sign in (scribe login) so that Scribe can read the practice's team.")
	}
	return mapping.Clinician{}, messageErr("No clinician fits %q; the clinicians are: %s.", q, describeAll(cs, describe))
}

// findProvider finds one provider by id or (part of a) name or email.
func findProvider(ps []ehr.Provider, q, ehrName string) (ehr.Provider, error) {
	q = strings.TrimSpace(q)
	for _, p := range ps {
		if p.ID == q {
			return p, nil
		}
	}
	describe := func(p ehr.Provider) string { return fmt.Sprintf("%s (id %s)", p.Name, p.ID) }
	found := findAll(ps, q, func(p ehr.Provider) (string, string) { return p.Email, p.Name })
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return ehr.Provider{}, messageErr("%q fits %d providers in %s: %s — give the id.", q, len(found), ehrName, describeAll(found, describe))
	case len(ps) == 0:
		return ehr.Provider{}, messageErr("%s lists no providers — read them again with scribe ehr sync, or check the account in %s.", ehrName, ehrName)
	}
	return ehr.Provider{}, messageErr("No provider in %s fits %q; the providers are: %s.", ehrName, q, describeAll(ps, describe))
}

// findAll returns the items whose email or name equals q (ignoring case),
// or when there are none, those whose name contains q. Emails are matched
// whole: every one contains "@" and the practice's domain.
func findAll[T any](items []T, q string, emailName func(T) (string, string)) []T {
	lq := strings.ToLower(q)
	if lq == "" {
		return nil
	}
	for _, match := range []func(email, name string) bool{
		func(email, name string) bool { return strings.EqualFold(email, q) || strings.EqualFold(name, q) },
		func(_, name string) bool { return strings.Contains(strings.ToLower(name), lq) },
	} {
		var found []T
		for _, it := range items {
			if match(emailName(it)) {
				found = append(found, it)
			}
		}
		if len(found) > 0 {
			return found
		}
	}
	return nil
}

func describeAll[T any](items []T, describe func(T) string) string {
	ds := make([]string, len(items))
	for i, it := range items {
		ds[i] = describe(it)
	}
	return strings.Join(ds, "; ")
}

func runProvidersConfirm(ctx context.Context, e *env, args []string) error {
	fs := e.flags("providers confirm", providersUsage)
	kindFlag := fs.String("ehr", "", "")
	if err := parseFlags(fs, providersUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, providersUsage); err != nil {
		return err
	}
	p, c, err := e.openForProviders(ctx, *kindFlag)
	if err != nil {
		return err
	}
	defer p.Close()
	n, err := p.core.ConfirmSuggestions(ctx, c.Kind)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(e.stdout, "No suggestions to confirm in %s.\n", c.Name)
	} else {
		fmt.Fprintf(e.stdout, "Confirmed %d suggested providers in %s.\n", n, c.Name)
	}
	m, err := p.core.ProviderMap(ctx, c.Kind)
	if err != nil {
		return err
	}
	var unmapped []string
	for _, r := range m.Rows {
		if _, s := rowState(r); s == "unmapped" {
			unmapped = append(unmapped, r.Clinician.Name)
		}
	}
	if len(unmapped) > 0 {
		fmt.Fprintf(e.stdout, "Still unmapped: %s — map them with scribe providers map --ehr %s CLINICIAN PROVIDER.\n", strings.Join(unmapped, ", "), c.Kind)
	}
	return nil
}

func runProvidersExport(ctx context.Context, e *env, args []string) error {
	fs := e.flags("providers export", providersUsage)
	kindFlag := fs.String("ehr", "", "")
	if err := parseFlags(fs, providersUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr(providersUsage, "providers export needs FILE, the CSV to write (- for stdout)")
	}
	file := fs.Arg(0)
	p, c, err := e.openForProviders(ctx, *kindFlag)
	if err != nil {
		return err
	}
	defer p.Close()
	if file == "-" {
		return p.core.ExportProviders(ctx, c.Kind, e.stdout)
	}
	// Names and emails of the practice's staff: private to this user.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return messageErr("cannot write %s: %v — check the path", file, err)
	}
	if err := p.core.ExportProviders(ctx, c.Kind, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	fmt.Fprintf(e.stdout, "Wrote the provider mapping of %s to %s; fill in provider_id and load it with scribe providers import --ehr %s %s\n", c.Name, file, c.Kind, file)
	return nil
}

func runProvidersImport(ctx context.Context, e *env, args []string) error {
	fs := e.flags("providers import", providersUsage)
	kindFlag := fs.String("ehr", "", "")
	if err := parseFlags(fs, providersUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr(providersUsage, "providers import needs FILE, a CSV written by scribe providers export (- for stdin)")
	}
	file := fs.Arg(0)
	var r io.Reader = e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return messageErr("cannot read %s: %v — check the path", file, err)
		}
		defer f.Close()
		r = f
	}
	p, c, err := e.openForProviders(ctx, *kindFlag)
	if err != nil {
		return err
	}
	defer p.Close()
	applied, bad, err := p.core.ImportProviders(ctx, c.Kind, r)
	if errors.Is(err, mapping.ErrNotMapping) {
		return messageErr("Nothing imported from %s: %v", file, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Applied %d rows of %s to the provider mapping of %s.\n", applied, file, c.Name)
	if len(bad) == 0 {
		return nil
	}
	for _, re := range bad {
		fmt.Fprintf(e.stderr, "%s line %d: %s\n", file, re.Line, clean(re.Msg))
	}
	rows, them := "rows were", "them"
	if len(bad) == 1 {
		rows, them = "row was", "it"
	}
	return messageErr("%d %s not applied — fix %s in %s and import it again (the good rows are applied already).", len(bad), rows, them, file)
}

// jsonProviderMap is scribe providers --json.
type jsonProviderMap struct {
	EHR       string            `json:"ehr"`
	Providers []jsonProvider    `json:"providers"`
	Rows      []jsonProviderRow `json:"rows"`
}

type jsonProvider struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type jsonClinician struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type jsonProviderRow struct {
	Clinician  jsonClinician   `json:"clinician"`
	Provider   *jsonProvider   `json:"provider"`
	Confirmed  bool            `json:"confirmed"`
	Suggestion *jsonSuggestion `json:"suggestion"`
}

type jsonSuggestion struct {
	ProviderID string  `json:"provider_id"`
	Score      float64 `json:"score"`
	By         string  `json:"by"`
}

func newJSONProviderMap(m app.ProviderMap) jsonProviderMap {
	out := jsonProviderMap{EHR: string(m.Kind), Providers: make([]jsonProvider, len(m.Providers)), Rows: make([]jsonProviderRow, len(m.Rows))}
	byID := providersByID(m.Providers)
	for i, p := range m.Providers {
		out.Providers[i] = jsonProvider{ID: p.ID, Name: p.Name, Email: p.Email}
	}
	for i, r := range m.Rows {
		row := jsonProviderRow{Clinician: jsonClinician{ID: r.Clinician.ID, Name: r.Clinician.Name, Email: r.Clinician.Email}, Confirmed: r.Confirmed}
		if r.ProviderID != "" {
			p := byID[r.ProviderID]
			row.Provider = &jsonProvider{ID: r.ProviderID, Name: p.Name, Email: p.Email}
		}
		if s := r.Suggestion; s != nil {
			row.Suggestion = &jsonSuggestion{ProviderID: s.ProviderID, Score: s.Score, By: s.By}
		}
		out.Rows[i] = row
	}
	return out
}

package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/nextvisit/scribe/app"
)

const patientsUsage = `Usage: scribe patients [--search S] [--page N] [--per-page N] [--json] [flags]
       scribe patients create --first F --last L [--middle M] [--dob YYYY-MM-DD] [--gender G] [--notes TEXT] [--json] [flags]

Lists the patients of your team, a page at a time, optionally only those whose name contains S.
When the server cannot be reached, answers from the patients kept on this computer and says so.

  --search S     only patients with S in their first, middle or last name
  --page N       the page to show (default 1)
  --per-page N   patients per page, 1–100 (default: the server's, 15)
  --json         print JSON ({"data", "links", "meta"}, and "offline": true for kept data)
` + globalUsage

func runPatients(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "create" {
		return runPatientsCreate(ctx, e, args[1:])
	}
	fs := e.flags("patients", patientsUsage)
	search := fs.String("search", "", "")
	page := fs.Int("page", 1, "")
	perPage := fs.Int("per-page", 0, "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, patientsUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, patientsUsage); err != nil {
		return err
	}
	if err := checkPaging(patientsUsage, *page, *perPage); err != nil {
		return err
	}
	p, err := e.signedIn(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	pg, err := p.core.Patients(ctx, *search, *page, *perPage)
	offline := errors.Is(err, app.ErrOffline)
	if err != nil && !offline {
		return err
	}
	if offline {
		e.warnOffline(err, "patients")
	}
	if *asJSON {
		return writeJSON(e.stdout, newJSONPage(pg, offline))
	}
	t := newTable(e.stdout, "ID", "NAME", "DATE OF BIRTH", "GENDER")
	for _, pt := range pg.Items {
		dob := ""
		if pt.DateOfBirth != nil {
			dob = pt.DateOfBirth.String()
		}
		t.row(pt.Id, app.PatientName(pt), orDash(dob), orDash(deref(pt.Gender)))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, pg.Meta.Summary("patient", "patients"))
	return nil
}

// checkPaging refuses page numbers and sizes the server would refuse.
func checkPaging(usage string, page, perPage int) error {
	if page < 1 {
		return usageErr(usage, "--page must be 1 or more, not %d", page)
	}
	if perPage < 0 || perPage > 100 {
		return usageErr(usage, "--per-page must be between 1 and 100, not %d", perPage)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

package cli

import (
	"context"
	"fmt"

	"github.com/nextvisit/scribe/app"
)

const patientsCreateUsage = `Usage: scribe patients create --first F --last L [--middle M] [--dob YYYY-MM-DD] [--gender G] [--notes TEXT] [--json] [flags]

Adds a patient to your team's roster and prints it.

  --first F          first name (required)
  --last L           last name (required)
  --middle M         middle name
  --dob YYYY-MM-DD   date of birth
  --gender G         gender, as your practice records it
  --notes TEXT       notes about the patient
  --json             print the new patient as JSON
` + globalUsage

func runPatientsCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("patients create", patientsCreateUsage)
	var np app.NewPatient
	fs.StringVar(&np.FirstName, "first", "", "")
	fs.StringVar(&np.LastName, "last", "", "")
	fs.StringVar(&np.MiddleName, "middle", "", "")
	fs.StringVar(&np.DateOfBirth, "dob", "", "")
	fs.StringVar(&np.Gender, "gender", "", "")
	fs.StringVar(&np.Notes, "notes", "", "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, patientsCreateUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, patientsCreateUsage); err != nil {
		return err
	}
	if np.FirstName == "" || np.LastName == "" {
		return usageErr(patientsCreateUsage, "--first and --last are required")
	}
	p, err := e.signedIn(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	added, err := p.core.CreatePatient(ctx, np)
	if err != nil {
		return err
	}
	pt := added.Patient
	if *asJSON {
		return writeJSON(e.stdout, pt)
	}
	fmt.Fprintf(e.stdout, "Added patient %d: %s\n", pt.Id, clean(app.PatientName(pt)))
	return nil
}

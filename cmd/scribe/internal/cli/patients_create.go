package cli

import (
	"context"
	"fmt"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/api"
)

const patientsCreateUsage = `Usage: scribe patients create --first F --last L [--middle M] [--dob YYYY-MM-DD] [--gender G] [--notes TEXT] [--json] [flags]

Adds a patient to your team's roster and prints it. The patient is kept on this computer first, so this
works without a connection: when the server cannot take the patient within a few seconds, it says
"Kept on this computer (job N)", and the patient is sent by scribe sync or while the Scribe window is open
(scribe queue lists what waits). A kept patient can be used for a visit at once.

  --first F          first name (required)
  --last L           last name (required)
  --middle M         middle name
  --dob YYYY-MM-DD   date of birth
  --gender G         gender, as your practice records it
  --notes TEXT       notes about the patient
  --json             print the new patient as JSON, with "pending" (true while kept on this computer only)
                     and "job" (the outbox job that sends it)
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
	// CreatePatient waits for the first attempt to send the patient; the
	// outbox makes that attempt only while it is served.
	stop := serveInBackground(ctx, p.core)
	added, err := p.core.CreatePatient(ctx, np)
	stop()
	if err != nil {
		return err
	}
	pt := added.Patient
	if *asJSON {
		return writeJSON(e.stdout, jsonAddedPatient{Patient: pt, Pending: added.Pending, Job: int64(added.Job), Reason: added.Reason})
	}
	name := clean(app.PatientName(pt))
	if !added.Pending {
		fmt.Fprintf(e.stdout, "Added patient %d: %s\n", pt.Id, name)
		return nil
	}
	fmt.Fprintf(e.stdout, "Kept on this computer (job %d): %s — %s. It will be sent by `scribe sync` or while the Scribe window is open.\n",
		added.Job, name, pendingReason(p, added))
	return nil
}

// jsonAddedPatient is patients create --json: the patient as the API shows
// one, plus where it stands.
type jsonAddedPatient struct {
	api.Patient
	Pending bool   `json:"pending"`
	Job     int64  `json:"job"`
	Reason  string `json:"reason,omitempty"` // while pending: the last attempt's error, if any
}

// pendingReason says why a patient is not on the server yet.
func pendingReason(p *profile, added app.AddedPatient) string {
	switch {
	case !p.core.Online():
		return "the server " + hostOf(p.server) + " cannot be reached"
	case added.Reason != "":
		return "the server has not taken it yet (" + clean(shorten(added.Reason, 200)) + ")"
	}
	return "the server has not answered yet"
}

package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// providerMapJSON is scribe providers --json as a script reads it.
type providerMapJSON struct {
	EHR       string `json:"ehr"`
	Providers []struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"providers"`
	Rows []struct {
		Clinician struct {
			ID    int64  `json:"id"`
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"clinician"`
		Provider *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"provider"`
		Confirmed  bool `json:"confirmed"`
		Suggestion *struct {
			ProviderID string  `json:"provider_id"`
			Score      float64 `json:"score"`
			By         string  `json:"by"`
		} `json:"suggestion"`
	} `json:"rows"`
}

func providersJSON(t *testing.T, u *user, kind string) providerMapJSON {
	t.Helper()
	r := u.run("", "providers", "--ehr", kind, "--json").ok(t)
	var m providerMapJSON
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("providers --json: %v\n%s", err, r.stdout)
	}
	if m.EHR != kind {
		t.Fatalf("providers --ehr %s --json is of %q", kind, m.EHR)
	}
	return m
}

// mappedTo is the provider a clinician is mapped to ("" for none) and
// whether that is confirmed.
func (m providerMapJSON) mappedTo(clinician int64) (string, bool) {
	for _, r := range m.Rows {
		if r.Clinician.ID == clinician {
			if r.Provider == nil {
				return "", r.Confirmed
			}
			return r.Provider.ID, r.Confirmed
		}
	}
	return "", false
}

func TestProviders(t *testing.T) {
	_, base := testSandbox(t)
	u := newUser(t)
	login(t, u, base)
	connectSimplePractice(t, u)
	connectNexHealth(t, u)

	r := u.run("", "providers")
	if r.code != 1 || r.stderr != "scribe: 2 EHRs are connected; say which one with --ehr simplepractice or --ehr nexhealth.\n" {
		t.Errorf("providers without --ehr: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := u.run("", "providers", "--ehr", "kalix"); r.code != 1 || !strings.HasPrefix(r.stderr, "scribe: Kalix is not connected") {
		t.Errorf("providers of kalix: exit %d, stderr %q", r.code, r.stderr)
	}

	m := providersJSON(t, u, "nexhealth")
	if len(m.Rows) != 3 || len(m.Providers) < 3 {
		t.Fatalf("nexhealth mapping: %d clinicians, %d providers; want the sandbox's 3 clinicians and its providers", len(m.Rows), len(m.Providers))
	}
	known := map[string]string{}
	for _, p := range m.Providers {
		known[p.ID] = p.Name
	}
	suggested := 0
	for _, row := range m.Rows {
		if row.Clinician.ID == 0 || row.Clinician.Name == "" || row.Confirmed {
			t.Errorf("row before any confirmation: %+v", row)
		}
		if s := row.Suggestion; s != nil {
			suggested++
			if known[s.ProviderID] == "" || s.Score <= 0 || s.Score > 1 || (s.By != "email" && s.By != "name") {
				t.Errorf("suggestion for %s: %+v", row.Clinician.Name, *s)
			}
		}
	}
	if suggested == 0 {
		t.Fatal("no suggestions for NexHealth's providers, whose names are the clinicians' with a middle initial")
	}

	r = u.run("", "providers", "--ehr", "nexhealth").ok(t)
	checkAligned(t, strings.SplitN(r.stdout, "\n3 clinicians", 2)[0], "ID", "CLINICIAN", "EMAIL", "NexHealth PROVIDER", "STATUS")
	want := "3 clinicians: 0 confirmed, " + strconv.Itoa(suggested) + " suggested, " + strconv.Itoa(3-suggested) + " unmapped; " +
		strconv.Itoa(len(m.Providers)) + " providers in NexHealth.\n"
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "suggested (") || !strings.Contains(r.stdout, "scribe providers confirm --ehr nexhealth") {
		t.Errorf("providers table lacks %q:\n%s", want, r.stdout)
	}

	r = u.run("", "providers", "confirm", "--ehr", "nexhealth").ok(t)
	if !strings.HasPrefix(r.stdout, "Confirmed "+strconv.Itoa(suggested)+" suggested providers in NexHealth.\n") {
		t.Errorf("providers confirm printed %q", r.stdout)
	}
	after := providersJSON(t, u, "nexhealth")
	for _, row := range m.Rows {
		if row.Suggestion == nil {
			continue
		}
		if pid, ok := after.mappedTo(row.Clinician.ID); pid != row.Suggestion.ProviderID || !ok {
			t.Errorf("%s after confirm: provider %q confirmed %v; want %q confirmed", row.Clinician.Name, pid, ok, row.Suggestion.ProviderID)
		}
	}
	if r := u.run("", "providers", "confirm", "--ehr", "nexhealth").ok(t); !strings.HasPrefix(r.stdout, "No suggestions to confirm in NexHealth.\n") {
		t.Errorf("second confirm printed %q", r.stdout)
	}

	// Map by part of a name, by email, and by the provider's name; unmap.
	target := m.Rows[1].Clinician
	last := strings.ToLower(target.Name[strings.LastIndex(target.Name, " ")+1:])
	var other struct{ id, name string }
	cur, _ := after.mappedTo(target.ID)
	for _, p := range m.Providers {
		if p.ID != cur {
			other.id, other.name = p.ID, p.Name
			break
		}
	}
	r = u.run("", "providers", "map", "--ehr", "nexhealth", last, other.name).ok(t)
	if r.stdout != "Mapped "+target.Name+" to "+other.name+" ("+other.id+") in NexHealth.\n" {
		t.Errorf("providers map printed %q", r.stdout)
	}
	if pid, ok := providersJSON(t, u, "nexhealth").mappedTo(target.ID); pid != other.id || !ok {
		t.Errorf("after map: %s → %q (confirmed %v); want %q", target.Name, pid, ok, other.id)
	}
	r = u.run("", "providers", "map", "--ehr", "nexhealth", target.Email, "none").ok(t)
	if !strings.HasPrefix(r.stdout, "Unmapped "+target.Name+" in NexHealth") {
		t.Errorf("unmap printed %q", r.stdout)
	}
	if pid, _ := providersJSON(t, u, "nexhealth").mappedTo(target.ID); pid != "" {
		t.Errorf("after unmap: %s → %q", target.Name, pid)
	}
	for _, tc := range []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"dr", other.id}, regexp.MustCompile(`^scribe: "dr" fits 3 clinicians: .+ \(id \d+, .+@.+\); .+ — give the id or the email\.\n$`)},
		{[]string{"zzz", other.id}, regexp.MustCompile(`^scribe: No clinician fits "zzz"; the clinicians are: .+\.\n$`)},
		{[]string{last, "no such provider"}, regexp.MustCompile(`^scribe: No provider in NexHealth fits "no such provider"; the providers are: .+ \(id .+\)\.\n$`)},
		{[]string{last, "a"}, regexp.MustCompile(`^scribe: "a" fits \d+ providers in NexHealth: .+ — give the id\.\n$`)},
	} {
		r := u.run("", append([]string{"providers", "map", "--ehr", "nexhealth"}, tc.args...)...)
		if r.code != 1 || !tc.want.MatchString(r.stderr) {
			t.Errorf("providers map %v: exit %d, stderr %q; want exit 1 and %s", tc.args, r.code, r.stderr, tc.want)
		}
	}

	// Export, edit as a spreadsheet would, import with one bad row.
	file := filepath.Join(t.TempDir(), "nexhealth.csv")
	r = u.run("", "providers", "export", "--ehr", "nexhealth", file).ok(t)
	if !strings.HasPrefix(r.stdout, "Wrote the provider mapping of NexHealth to "+file) {
		t.Errorf("export printed %q", r.stdout)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("exported file: %v, mode %v; want 0600", err, fi.Mode())
	}
	exported, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if out := u.run("", "providers", "export", "--ehr", "nexhealth", "-").ok(t).stdout; out != string(exported) {
		t.Errorf("export to stdout differs from the file:\n%s\nfile:\n%s", out, exported)
	}
	recs, err := csv.NewReader(bytes.NewReader(exported)).ReadAll()
	if err != nil || len(recs) != 4 || strings.Join(recs[0], ",") != "clinician_id,clinician_name,clinician_email,provider_id,provider_name" {
		t.Fatalf("exported CSV: %v\n%s", err, exported)
	}
	var badLine int
	var badClinician int64
	for i, rec := range recs[1:] {
		id, _ := strconv.ParseInt(rec[0], 10, 64)
		switch {
		case id == target.ID:
			rec[3] = other.id
		case badLine == 0:
			badLine, badClinician = i+2, id
			rec[3] = "no-such-provider"
		}
	}
	wantBefore, _ := providersJSON(t, u, "nexhealth").mappedTo(badClinician)
	var edited bytes.Buffer
	w := csv.NewWriter(&edited)
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, edited.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r = u.run("", "providers", "import", "--ehr", "nexhealth", file)
	if r.code != 1 || r.stdout != "Applied 2 rows of "+file+" to the provider mapping of NexHealth.\n" ||
		!strings.HasPrefix(r.stderr, file+" line "+strconv.Itoa(badLine)+": ") ||
		!strings.HasSuffix(r.stderr, "scribe: 1 row was not applied — fix it in "+file+" and import it again (the good rows are applied already).\n") {
		t.Errorf("import with a bad row: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	final := providersJSON(t, u, "nexhealth")
	if pid, ok := final.mappedTo(target.ID); pid != other.id || !ok {
		t.Errorf("after import: %s → %q (confirmed %v); want %q from the good row", target.Name, pid, ok, other.id)
	}
	if pid, _ := final.mappedTo(badClinician); pid != wantBefore {
		t.Errorf("after import: the bad row's clinician → %q; want it left at %q", pid, wantBefore)
	}

	notCSV := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notCSV, []byte("Dear team,\nplease map the providers.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = u.run("", "providers", "import", "--ehr", "nexhealth", notCSV)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "scribe: Nothing imported from "+notCSV+": ") {
		t.Errorf("import of a file that is no mapping: exit %d, stderr %q", r.code, r.stderr)
	}
	missing := filepath.Join(t.TempDir(), "absent.csv")
	if r := u.run("", "providers", "import", "--ehr", "nexhealth", missing); r.code != 1 || !strings.HasPrefix(r.stderr, "scribe: cannot read "+missing) {
		t.Errorf("import of a missing file: exit %d, stderr %q", r.code, r.stderr)
	}

	// With one EHR left, --ehr may be left out.
	u.run("", "ehr", "disconnect", "nexhealth").ok(t)
	r = u.run("", "providers").ok(t)
	if !strings.Contains(r.stdout, "SimplePractice PROVIDER") {
		t.Errorf("providers with only SimplePractice connected:\n%s", r.stdout)
	}
}

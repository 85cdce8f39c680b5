package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/nexhealth"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/oauthehr"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

// connJSON is one connection of scribe ehr list --json as a script reads it.
type connJSON struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	State      string `json:"state"`
	Label      string `json:"label"`
	Auth       string `json:"auth"`
	TwoWay     bool   `json:"two_way"`
	CanReplace bool   `json:"can_replace"`
	Account    struct {
		Name     string `json:"name"`
		User     string `json:"user"`
		Location string `json:"location"`
	} `json:"account"`
	BaseURL  string `json:"base_url"`
	Settings struct {
		When   string `json:"when"`
		What   string `json:"what"`
		Update string `json:"update"`
	} `json:"settings"`
	ConnectedAt *time.Time `json:"connected_at"`
	LastRead    *time.Time `json:"last_read"`
	LastWrite   *time.Time `json:"last_write"`
	Pending     int        `json:"pending"`
	Test        *struct {
		Encounter string `json:"encounter"`
		State     string `json:"state"`
		Sent      *struct {
			EHRPatientID string `json:"ehr_patient_id"`
			VisitDate    string `json:"visit_date"`
			Clinician    string `json:"clinician"`
			Content      string `json:"content"`
			Status       string `json:"status"`
		} `json:"sent"`
	} `json:"test"`
	Log []struct {
		At      *time.Time `json:"at"`
		Error   bool       `json:"error"`
		Message string     `json:"message"`
	} `json:"log"`
}

// ehrList runs scribe ehr list --json and returns the connections by kind,
// checking that all four are there in the panel's order.
func ehrList(t *testing.T, u *user) map[string]connJSON {
	t.Helper()
	r := u.run("", "ehr", "list", "--json").ok(t)
	var list []connJSON
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("ehr list --json: %v\n%s", err, r.stdout)
	}
	var kinds []string
	byKind := map[string]connJSON{}
	for _, c := range list {
		kinds = append(kinds, c.Kind)
		byKind[c.Kind] = c
	}
	if got := strings.Join(kinds, ","); got != "osmind,kalix,simplepractice,nexhealth" {
		t.Fatalf("ehr list --json lists %s; want osmind,kalix,simplepractice,nexhealth", got)
	}
	return byKind
}

// noSecrets fails when any output holds one of the secrets.
func noSecrets(t *testing.T, what string, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("%s printed a secret:\nstdout:\n%s\nstderr:\n%s", what, r.stdout, r.stderr)
		}
	}
}

// connectSimplePractice connects SimplePractice with the sandbox token on stdin.
func connectSimplePractice(t *testing.T, u *user) result {
	t.Helper()
	r := u.run(simplepractice.SampleToken+"\n", "ehr", "connect", "simplepractice", "--token", "-").ok(t)
	noSecrets(t, "ehr connect simplepractice", r, simplepractice.SampleToken)
	return r
}

// connectNexHealth connects NexHealth's sample location with the API key on stdin.
func connectNexHealth(t *testing.T, u *user) result {
	t.Helper()
	r := u.run(nexhealth.SampleAPIKey+"\n", "ehr", "connect", "NexHealth", "--api-key", "-",
		"--subdomain", nexhealth.SampleSubdomain, "--location", strconv.Itoa(nexhealth.SampleLocationID)).ok(t)
	noSecrets(t, "ehr connect nexhealth", r, nexhealth.SampleAPIKey)
	return r
}

// async is a command running in the background, its stdout read line by
// line as it prints, so a test can act on a line while the command waits.
type async struct {
	t     *testing.T
	lines chan string
	done  chan result
}

func (u *user) start(ctx context.Context, stdin string, args ...string) *async {
	u.t.Helper()
	pr, pw := io.Pipe()
	a := &async{t: u.t, lines: make(chan string, 1000), done: make(chan result, 1)}
	var out strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(a.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			a.lines <- sc.Text()
		}
		io.Copy(io.Discard, pr) // a line too long for the scanner must not block the command
	}()
	go func() {
		var errOut bytes.Buffer
		code := Run(ctx, append([]string{"--profile", u.profile}, args...), strings.NewReader(stdin), pw, &errOut, u.opts)
		pw.Close()
		<-scanned
		a.done <- result{code: code, stdout: out.String(), stderr: errOut.String()}
	}()
	return a
}

// line waits for the first stdout line that starts with prefix and
// returns the rest of it.
func (a *async) line(prefix string, within time.Duration) string {
	a.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-a.lines:
			if !ok {
				r := a.wait(within)
				a.t.Fatalf("the command ended (exit %d) without printing %q\nstdout:\n%s\nstderr:\n%s", r.code, prefix, r.stdout, r.stderr)
			}
			if rest, found := strings.CutPrefix(l, prefix); found {
				return rest
			}
		case <-deadline:
			a.t.Fatalf("no line %q within %s", prefix, within)
		}
	}
}

// wait waits for the command to end.
func (a *async) wait(within time.Duration) result {
	a.t.Helper()
	select {
	case r := <-a.done:
		return r
	case <-time.After(within):
		a.t.Fatalf("the command did not end within %s", within)
	}
	return result{}
}

// connectOAuth connects an OAuth EHR with --no-browser, reading the printed
// address and handing it to b, the browser stand-in.
func connectOAuth(t *testing.T, u *user, kind string, b *ehrtest.Browser) (authURL string, r result) {
	t.Helper()
	a := u.start(t.Context(), "", "ehr", "connect", kind, "--no-browser")
	authURL = a.line("Open this address in a browser: ", time.Minute)
	if err := b.Open(t)(t.Context(), authURL); err != nil {
		t.Fatal(err)
	}
	return authURL, a.wait(time.Minute)
}

func TestEHRConnectListSettingsDisconnect(t *testing.T) {
	_, base := testSandbox(t)
	u := newUser(t)
	login(t, u, base)

	conns := ehrList(t, u)
	for k, c := range conns {
		if c.State != "not_connected" || c.Label != "Not connected" || c.ConnectedAt != nil {
			t.Errorf("%s before connecting: %+v", k, c)
		}
	}
	if r := u.run("", "providers"); r.code != 1 || !strings.HasPrefix(r.stderr, "scribe: No EHR is connected — connect one first") {
		t.Errorf("providers with nothing connected: exit %d, stderr %q", r.code, r.stderr)
	}

	// A wrong token: a clear error, and nothing kept.
	const wrong = "sp_wrong_0000000000000000000000000000"
	r := u.run(wrong+"\n", "ehr", "connect", "simplepractice", "--token", "-")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "scribe: ") || !strings.Contains(strings.ToLower(r.stderr), "token") || r.stdout != "" {
		t.Errorf("wrong token: exit %d, stdout %q, stderr %q; want exit 1 and an error about the token", r.code, r.stdout, r.stderr)
	}
	noSecrets(t, "a refused connect", r, wrong)
	if c := ehrList(t, u)["simplepractice"]; c.State != "not_connected" {
		t.Errorf("after a wrong token SimplePractice is %s", c.State)
	}

	r = connectSimplePractice(t, u)
	if !strings.HasPrefix(r.stdout, "Connected to SimplePractice as ") || !strings.Contains(r.stdout, "Status: Test mode") ||
		!strings.Contains(r.stdout, "scribe ehr test simplepractice ENCOUNTER") {
		t.Errorf("connect simplepractice printed:\n%s", r.stdout)
	}
	r = connectNexHealth(t, u)
	if !strings.HasPrefix(r.stdout, "Connected to NexHealth as ") || !strings.Contains(r.stdout, "Providers: ") {
		t.Errorf("connect nexhealth printed:\n%s", r.stdout)
	}

	// Osmind through the browser stand-in, reading the printed address.
	b := &ehrtest.Browser{Email: oauthehr.AdminEmail("Osmind"), Password: oauthehr.AdminPassword}
	authURL, r := connectOAuth(t, u, "osmind", b)
	if r.code != 0 || !strings.Contains(r.stdout, "\nConnected to Osmind") {
		t.Fatalf("connect osmind: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	au, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, strings.TrimSuffix(base, "/api")+"/osmind/") || au.Query().Get("code_challenge_method") != "S256" {
		t.Errorf("authorization address %q: not the sandbox Osmind's, or without PKCE S256 (%v)", authURL, err)
	}
	if !strings.Contains(r.stderr, "Waiting for you to sign in to Osmind") {
		t.Errorf("connect osmind stderr %q: no word that it waits for the browser", r.stderr)
	}

	conns = ehrList(t, u)
	for _, k := range []string{"osmind", "simplepractice", "nexhealth"} {
		c := conns[k]
		if c.State != "test" || c.Label != "Test mode" || c.ConnectedAt == nil || c.Account.Name == "" || c.BaseURL == "" ||
			c.Settings.When != "sign" || c.Settings.What != "note-codes-metadata" || c.Settings.Update != "append" || len(c.Log) == 0 {
			t.Errorf("%s after connecting: %+v", k, c)
		}
	}
	if c := conns["kalix"]; c.State != "not_connected" {
		t.Errorf("kalix: %+v", c)
	}
	if c := conns["nexhealth"]; c.CanReplace || !c.TwoWay || c.Account.Location == "" || c.Auth != "api-key" {
		t.Errorf("nexhealth: can_replace %v, two_way %v, location %q, auth %q", c.CanReplace, c.TwoWay, c.Account.Location, c.Auth)
	}
	if c := conns["simplepractice"]; c.TwoWay || !c.CanReplace || c.Auth != "token" {
		t.Errorf("simplepractice: two_way %v, can_replace %v, auth %q", c.TwoWay, c.CanReplace, c.Auth)
	}
	if c := conns["osmind"]; c.Auth != "oauth" || !strings.HasPrefix(c.BaseURL, strings.TrimSuffix(base, "/api")+"/osmind") {
		t.Errorf("osmind: auth %q, base URL %q", c.Auth, c.BaseURL)
	}

	r = u.run("", "ehr", "list").ok(t)
	checkAligned(t, r.stdout, "EHR", "STATUS", "ACCOUNT", "LAST READ", "LAST WRITE", "PENDING")
	for _, want := range []string{"Osmind ", "Kalix ", "Not connected", "Test mode", "— (push only)", conns["nexhealth"].Account.Name} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ehr list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = u.run("", "ehr", "status", "Osmind").ok(t)
	for _, want := range []string{"Osmind ", "Test mode", "Account ", "Push ", "On Sign · Note + codes + metadata · Append a new version",
		"scribe ehr test osmind ENCOUNTER", "Log, newest first:\n  ", conns["osmind"].Log[0].Message} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ehr status osmind lacks %q:\n%s", want, r.stdout)
		}
	}
	var one connJSON
	r = u.run("", "ehr", "status", "nexhealth", "--json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one.Kind != "nexhealth" || one.State != "test" {
		t.Errorf("ehr status nexhealth --json: %v, %+v", err, one)
	}
	r = u.run("", "ehr", "status").ok(t)
	if strings.Count(r.stdout, "\n\n") != 3 || !strings.Contains(r.stdout, "scribe ehr connect kalix") {
		t.Errorf("ehr status of all four:\n%s", r.stdout)
	}
	for _, what := range []string{"list", "status"} {
		noSecrets(t, "ehr "+what, u.run("", "ehr", what, "--json").ok(t), simplepractice.SampleToken, nexhealth.SampleAPIKey)
	}

	// Push settings.
	r = u.run("", "ehr", "settings", "osmind", "--when", "both", "--update", "replace").ok(t)
	if !strings.HasPrefix(r.stdout, "Saved the push settings of Osmind.\n") || !strings.Contains(r.stdout, "On Sign and Unsign  (both)") ||
		!strings.Contains(r.stdout, "Replace the prior version  (replace)") || !strings.Contains(r.stdout, "Note + codes + metadata  (note-codes-metadata)") {
		t.Errorf("ehr settings printed:\n%s", r.stdout)
	}
	r = u.run("", "ehr", "settings", "simplepractice", "--what", "note-only").ok(t)
	if !strings.Contains(r.stdout, "Note only  (note-only)") || !strings.Contains(r.stdout, "On Sign  (sign)") {
		t.Errorf("ehr settings simplepractice printed:\n%s", r.stdout)
	}
	r = u.run("", "ehr", "settings", "nexhealth", "--update", "replace")
	if r.code != 1 || r.stderr != "scribe: NexHealth documents cannot be replaced, so each push adds one — keep --update append.\n" {
		t.Errorf("replace for NexHealth: exit %d, stderr %q", r.code, r.stderr)
	}
	conns = ehrList(t, u)
	if s := conns["osmind"].Settings; s.When != "both" || s.What != "note-codes-metadata" || s.Update != "replace" {
		t.Errorf("osmind settings after the change: %+v", s)
	}
	if s := conns["simplepractice"].Settings; s.When != "sign" || s.What != "note-only" || s.Update != "append" {
		t.Errorf("simplepractice settings after the change: %+v", s)
	}
	if s := conns["nexhealth"].Settings; s.Update != "append" {
		t.Errorf("nexhealth settings after a refused change: %+v", s)
	}
	// Without flags, settings only prints them.
	r = u.run("", "ehr", "settings", "osmind").ok(t)
	if strings.Contains(r.stdout, "Saved") || !strings.Contains(r.stdout, "On Sign and Unsign") {
		t.Errorf("ehr settings without changes printed:\n%s", r.stdout)
	}

	// Roster now.
	r = u.run("", "ehr", "sync", "nexhealth").ok(t)
	if !strings.HasPrefix(r.stdout, "Read NexHealth: ") {
		t.Errorf("ehr sync nexhealth printed %q", r.stdout)
	}
	if c := ehrList(t, u)["nexhealth"]; c.LastRead == nil {
		t.Errorf("ehr sync nexhealth left no last read: %+v", c)
	}
	if r := u.run("", "ehr", "sync", "simplepractice"); r.code != 1 || !strings.Contains(r.stderr, "SimplePractice is push only") {
		t.Errorf("ehr sync simplepractice: exit %d, stderr %q", r.code, r.stderr)
	}

	// Disconnect: gone from the list, and a second time is an error.
	r = u.run("", "ehr", "disconnect", "nexhealth").ok(t)
	if !strings.HasPrefix(r.stdout, "Disconnected NexHealth: its credentials are forgotten on this computer") {
		t.Errorf("disconnect printed %q", r.stdout)
	}
	if c := ehrList(t, u)["nexhealth"]; c.State != "not_connected" {
		t.Errorf("nexhealth after disconnect: %s", c.State)
	}
	if r := u.run("", "ehr", "disconnect", "nexhealth"); r.code != 1 || r.stderr != "scribe: NexHealth is not connected — nothing to disconnect.\n" {
		t.Errorf("second disconnect: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := u.run("", "ehr", "settings", "kalix", "--when", "both"); r.code != 1 || !strings.HasPrefix(r.stderr, "scribe: Kalix is not connected — connect it first: scribe ehr connect kalix") {
		t.Errorf("settings of kalix: exit %d, stderr %q", r.code, r.stderr)
	}
}

// The OAuth flow's refusals and Ctrl-C leave nothing connected and say why.
func TestEHRConnectOAuthRefused(t *testing.T) {
	_, base := testSandbox(t)
	u := newUser(t)
	login(t, u, base)

	deny := &ehrtest.Browser{Email: oauthehr.AdminEmail("Kalix"), Password: oauthehr.AdminPassword, Decision: "deny"}
	_, r := connectOAuth(t, u, "kalix", deny)
	if r.code != 1 || !strings.Contains(r.stderr, "Waiting for you to sign in to Kalix") || !strings.Contains(r.stderr, "\nscribe: ") ||
		!strings.Contains(r.stderr, "denied") {
		t.Errorf("access denied: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	forged := &ehrtest.Browser{Email: oauthehr.AdminEmail("Kalix"), Password: oauthehr.AdminPassword, Tamper: func(u *url.URL) {
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
	}}
	_, r = connectOAuth(t, u, "kalix", forged)
	if r.code != 1 || !strings.Contains(r.stderr, "\nscribe: ") || !strings.Contains(r.stderr, "state") || strings.Contains(r.stdout, "Connected") {
		t.Errorf("state mismatch: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	noScope := &ehrtest.Browser{Email: oauthehr.AdminEmail("Kalix"), Password: oauthehr.AdminPassword, Scopes: []string{oauthehr.ScopePatientsRead}}
	_, r = connectOAuth(t, u, "kalix", noScope)
	if r.code != 1 || !strings.Contains(r.stderr, oauthehr.ScopeNotesWrite) {
		t.Errorf("missing scope: exit %d, stderr %q; want the scope %s named", r.code, r.stderr, oauthehr.ScopeNotesWrite)
	}

	// Ctrl-C while waiting for the browser.
	ctx, cancel := context.WithCancel(t.Context())
	a := u.start(ctx, "", "ehr", "connect", "kalix", "--no-browser")
	a.line("Open this address in a browser: ", time.Minute)
	cancel()
	r = a.wait(time.Minute)
	if r.code != 1 || !strings.HasSuffix(r.stderr, "scribe: Cancelled: Kalix is not connected.\n") {
		t.Errorf("Ctrl-C: exit %d, stderr %q", r.code, r.stderr)
	}
	c := ehrList(t, u)["kalix"]
	if c.State != "not_connected" {
		t.Errorf("kalix after refusals: %s", c.State)
	}
}

func TestEHRTestMode(t *testing.T) {
	srv, base := testSandbox(t)
	u := newUser(t)
	login(t, u, base)
	connectSimplePractice(t, u)
	u.run("", "providers", "confirm").ok(t)
	if r := u.run("", "ehr", "confirm", "simplepractice"); r.code != 1 {
		t.Errorf("confirm before a test push: exit %d, stderr %q", r.code, r.stderr)
	}
	// Signed in test mode: the automatic push is held until the test.
	id := importTone(t, u, 2*time.Second, "--patient", "1", "--template", "1", "--consent")
	u.run("", "sync", "--wait", "60s").ok(t)
	u.run("", "note", "sign", id, "--yes").ok(t)
	if docs, err := srv.SimplePractice().Documents(t.Context()); err != nil || len(docs) != 0 {
		t.Fatalf("SimplePractice holds %d documents before the test push (%v); want none", len(docs), err)
	}
	held := 0
	for _, j := range readQueue(t, u).Jobs {
		if j.Kind == "ehr-push" && j.State == "queued" && j.Attempts > 0 {
			held++
		}
	}
	if held != 1 {
		t.Fatalf("%d held ehr-push jobs after signing in test mode; want the one tried and held", held)
	}

	// The token revoked in SimplePractice: the test push cannot go, the
	// connection is Expired and says what to do; connecting again mends it.
	srv.SimplePractice().SetTokenRevoked(true)
	r := u.run("", "ehr", "test", "simplepractice", id)
	if r.code != 1 || !strings.Contains(r.stderr, "scribe: The test push to SimplePractice waits: ") ||
		!strings.HasSuffix(r.stderr, " — connect it again (scribe ehr connect simplepractice --token -); the push goes then.\n") || r.stdout != "" {
		t.Errorf("test push with a revoked token: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if c := ehrList(t, u)["simplepractice"]; c.State != "expired" || c.Label != "Expired" {
		t.Errorf("after the revoked token: %s", c.State)
	}
	r = u.run("", "ehr", "status", "simplepractice").ok(t)
	if !strings.Contains(r.stdout, "SimplePractice  Expired\n") || !strings.Contains(r.stdout, "\nWhat to do ") || !strings.Contains(r.stdout, "  error: ") ||
		!strings.Contains(r.stdout, "\nReconnect       scribe ehr connect simplepractice --token -") {
		t.Errorf("ehr status of the expired connection:\n%s", r.stdout)
	}
	srv.SimplePractice().SetTokenRevoked(false)
	if r := connectSimplePractice(t, u); !strings.Contains(r.stdout, "Status: Test mode") {
		t.Errorf("reconnect printed:\n%s", r.stdout)
	}

	r = u.run("", "ehr", "test", "simplepractice", id).ok(t)
	for _, want := range []string{"Pushed encounter " + id + " to SimplePractice.", "Patient ", "Visit date ", "Clinician ",
		"Content as sent\n---------------\n", "scribe ehr confirm simplepractice"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ehr test lacks %q:\n%s", want, r.stdout)
		}
	}
	docs, err := srv.SimplePractice().Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("SimplePractice holds %d documents after the test push; want 1", len(docs))
	}
	c := ehrList(t, u)["simplepractice"]
	if c.State != "test" || c.Test == nil || c.Test.Encounter != id || c.Test.Sent == nil ||
		c.Test.Sent.EHRPatientID != strconv.FormatInt(docs[0].PatientID, 10) || c.Test.Sent.VisitDate != docs[0].VisitDate ||
		c.Test.Sent.Content != docs[0].Content {
		t.Errorf("after the test push: %+v; the chart has %+v", c, docs[0])
	}
	if !strings.Contains(r.stdout, "Visit date  "+docs[0].VisitDate+"\n") {
		t.Errorf("ehr test does not show the visit date %s:\n%s", docs[0].VisitDate, r.stdout)
	}

	r = u.run("", "ehr", "confirm", "simplepractice").ok(t)
	if r.stdout != "SimplePractice is Active: signed notes are pushed on sign from now on.\n" {
		t.Errorf("ehr confirm printed %q", r.stdout)
	}
	if c := ehrList(t, u)["simplepractice"]; c.State != "active" || c.Label != "Active" {
		t.Errorf("after confirm: %s", c.State)
	}
	if r := u.run("", "ehr", "test", "osmind", id); r.code != 1 {
		t.Errorf("test push to a connection that is not there: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestEHRUsage(t *testing.T) {
	u := newUser(t)
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"ehr"}, "", "scribe: ehr needs a subcommand"},
		{[]string{"ehr", "frob"}, "", `scribe: unknown ehr subcommand "frob"`},
		{[]string{"ehr", "status", "epic"}, "", `scribe: "epic" is not an EHR Scribe connects to; use osmind, kalix, simplepractice or nexhealth`},
		{[]string{"ehr", "connect"}, "", "scribe: ehr connect needs KIND (KIND is osmind, kalix, simplepractice or nexhealth)"},
		{[]string{"ehr", "connect", "cerner"}, "", `scribe: "cerner" is not an EHR Scribe connects to`},
		{[]string{"ehr", "connect", "OSMIND", "--token", "x"}, "", "scribe: Osmind connects through the browser (--no-browser prints the address instead), so --token is not for it"},
		{[]string{"ehr", "connect", "simplepractice"}, "", "scribe: SimplePractice connects with an API token: give --token T, or --token - to read it from stdin"},
		{[]string{"ehr", "connect", "simplepractice", "--token", "-"}, "", "scribe: --token -: stdin ended before a line with the token"},
		{[]string{"ehr", "connect", "simplepractice", "--token", "-"}, "\n", "scribe: --token -: the first line of stdin is empty"},
		{[]string{"ehr", "connect", "simplepractice", "--token", "t", "--no-browser"}, "", "scribe: SimplePractice connects with an API token (--token), so --no-browser is not for it"},
		{[]string{"ehr", "connect", "nexhealth", "--api-key", "k"}, "", "scribe: NexHealth needs --api-key, --subdomain and --location; --subdomain and --location missing"},
		{[]string{"ehr", "settings", "osmind", "--when", "sometimes"}, "", `scribe: --when must be sign, unsign or both, not "sometimes"`},
		{[]string{"ehr", "settings", "osmind", "--what", "everything"}, "", `scribe: --what must be note-codes-metadata or note-only, not "everything"`},
		{[]string{"ehr", "settings", "osmind", "--update", "merge"}, "", `scribe: --update must be append or replace, not "merge"`},
		{[]string{"ehr", "test", "osmind"}, "", "scribe: ehr test needs KIND ENCOUNTER"},
		{[]string{"providers", "--ehr", "epic"}, "", `scribe: "epic" is not an EHR Scribe connects to`},
		{[]string{"providers", "frob"}, "", `scribe: unknown providers subcommand "frob"`},
		{[]string{"providers", "map", "rivera"}, "", "scribe: providers map needs CLINICIAN PROVIDER"},
		{[]string{"providers", "export"}, "", "scribe: providers export needs FILE"},
		{[]string{"providers", "import", "a.csv", "b.csv"}, "", "scribe: providers import needs FILE"},
	} {
		r := u.run(tc.stdin, tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, "Usage: scribe ") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := u.run("", "help", "ehr").ok(t); r.stdout != ehrUsage {
		t.Errorf("help ehr printed:\n%s", r.stdout)
	}
	if r := u.run("", "ehr", "connect", "-h").ok(t); r.stdout != ehrUsage {
		t.Errorf("ehr connect -h printed:\n%s", r.stdout)
	}
	if r := u.run("", "help", "providers").ok(t); r.stdout != providersUsage {
		t.Errorf("help providers printed:\n%s", r.stdout)
	}
}

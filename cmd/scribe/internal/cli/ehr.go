package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/outbox"
	"golang.org/x/term"
)

const ehrUsage = `Usage: scribe ehr list [--json] [flags]
       scribe ehr status [KIND] [--json] [flags]
       scribe ehr connect KIND [--url URL] [--token T | --api-key K --subdomain S --location L] [--no-browser] [flags]
       scribe ehr disconnect KIND [flags]
       scribe ehr settings KIND [--when W] [--what C] [--update U] [flags]
       scribe ehr test KIND ENCOUNTER [flags]
       scribe ehr confirm KIND [flags]
       scribe ehr sync KIND [flags]

The connections to the practice's EHRs (the window's Settings → Tools and AI → External Apps): signed
notes are pushed to each connected EHR, and Osmind, Kalix and NexHealth send their roster and providers
back. KIND is osmind, kalix, simplepractice or nexhealth (any case).

  list        each EHR with its status (Not connected, Test mode, Active, Needs attention, Expired), the
              account, the last successful read and write, and the pushes waiting
  status      one connection in detail, or all of them: the account and address, the push settings, the
              test push, why it needs attention and what to do, and its latest log entries
  connect     connect KIND:
                osmind, kalix    sign in to the EHR in the browser and allow Scribe access; Scribe waits
                                 for the browser to come back (Ctrl-C cancels). With --no-browser it prints
                                 "Open this address in a browser: URL" instead of opening one — open it on
                                 this computer, since the browser returns to a listener on 127.0.0.1
                simplepractice   --token T, the API token from SimplePractice
                nexhealth        --api-key K --subdomain S --location L (the location's id): one connection
                                 serves one location
              --token - and --api-key - read the secret from the first line of stdin (at a terminal: ask
              for it, without echo), so it stays out of the shell's history and the process list. The
              credentials are checked before anything is kept, and kept in the OS keyring; they are never
              printed. --url URL is the EHR's API address from your partner agreement (default: the
              sandbox's when the Nextvisit server is a sandbox).
              A new connection starts in test mode: automatic pushes wait until one encounter is tested.
  disconnect  revoke the connection where the EHR allows it and forget its credentials; pushes still
              queued for it are cancelled (the notes stay on this computer); the provider mapping is kept
  settings    print the push settings, after changing those given:
                --when     sign (default), unsign or both: which of signing and unsigning pushes the note
                --what     note-codes-metadata (default: the note with its codes and encounter metadata)
                           or note-only
                --update   append (default: a new version, keeping history) or replace the prior version
                           (NexHealth documents cannot be replaced)
  test        test mode: push the signed encounter ENCOUNTER now (see scribe encounters) and print what was
              sent: patient, visit date, clinician and content. Check the chart in the EHR, then confirm
  confirm     test mode: the test push landed right; automatic pushes start
  sync        read the EHR's providers and roster now (Osmind, Kalix, NexHealth)

  --json      list and status: print JSON ([{"kind", "name", "state", "label", "auth", "two_way",
              "can_replace", "account": {"name", "user", "location"}, "base_url", "settings": {"when",
              "what", "update"}, "connected_at", "last_read", "last_write", "roster_at", "pending",
              "attention", "reason", "what_to_do", "test": {"encounter", "job", "state", "reason", "sent":
              {"patient_name", "ehr_patient_id", "visit_date", "clinician", "provider_name", "content",
              "ref", "status", "pushed_at", "version", "event"}} or null, "log": [{"at", "error",
              "message"}]}], one object for status KIND); states in snake_case, times in RFC 3339 (UTC),
              null for never

Examples:
  scribe ehr connect osmind --no-browser
  scribe ehr connect simplepractice --token - < token.txt
  scribe ehr connect nexhealth --api-key - --subdomain my-practice --location 2101
  scribe ehr settings kalix --when both --update replace
` + globalUsage

// kindList names the kinds in messages.
const kindList = "osmind, kalix, simplepractice or nexhealth"

// testWait bounds how long scribe ehr test waits for the push to be tried.
// A variable so tests can change it.
var testWait = 30 * time.Second

func runEHR(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr(ehrUsage, "ehr needs a subcommand: list, status, connect, disconnect, settings, test, confirm or sync")
	}
	rest := args[1:]
	switch args[0] {
	case "list":
		return runEHRList(ctx, e, rest)
	case "status":
		return runEHRStatus(ctx, e, rest)
	case "connect":
		return runEHRConnect(ctx, e, rest)
	case "disconnect":
		return runEHRDisconnect(ctx, e, rest)
	case "settings":
		return runEHRSettings(ctx, e, rest)
	case "test":
		return runEHRTest(ctx, e, rest)
	case "confirm":
		return runEHRConfirm(ctx, e, rest)
	case "sync":
		return runEHRSync(ctx, e, rest)
	case "-h", "-help", "--help":
		return &helpRequest{usage: ehrUsage}
	}
	return usageErr(ehrUsage, "unknown ehr subcommand %q; use list, status, connect, disconnect, settings, test, confirm or sync", args[0])
}

// parseKind reads an EHR's name as a person types it.
func parseKind(usage, s string) (ehr.Kind, error) {
	for _, k := range app.EHRKinds() {
		if strings.EqualFold(strings.TrimSpace(s), string(k)) {
			return k, nil
		}
	}
	return "", usageErr(usage, "%q is not an EHR Scribe connects to; use %s", s, kindList)
}

// kindArgs reads the positional words of an ehr subcommand: KIND, then
// the extra ones the subcommand takes (their names, for the message).
func kindArgs(fs *flag.FlagSet, verb string, extra ...string) (ehr.Kind, []string, error) {
	want := append([]string{"KIND"}, extra...)
	if fs.NArg() != len(want) {
		return "", nil, usageErr(ehrUsage, "ehr %s needs %s (KIND is %s)", verb, strings.Join(want, " "), kindList)
	}
	k, err := parseKind(ehrUsage, fs.Arg(0))
	if err != nil {
		return "", nil, err
	}
	return k, fs.Args()[1:], nil
}

// isOAuth reports whether kind connects through the browser.
func isOAuth(k ehr.Kind) bool { return k == ehr.Osmind || k == ehr.Kalix }

func runEHRList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr list", ehrUsage)
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, ehrUsage); err != nil {
		return err
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	conns, err := p.core.Connections(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, newJSONConnections(conns))
	}
	now := time.Now()
	t := newTable(e.stdout, "EHR", "STATUS", "ACCOUNT", "LAST READ", "LAST WRITE", "PENDING")
	for _, c := range conns {
		if c.State == app.ConnNotConnected {
			t.row(c.Name, c.State.Label(), "—", "—", "—", "—")
			continue
		}
		lastRead := app.Ago(c.LastRead, now)
		if !c.TwoWay {
			lastRead = "— (push only)"
		}
		t.row(c.Name, c.State.Label(), orDash(accountText(c.Account)), lastRead, app.Ago(c.LastWrite, now), pendingText(c))
	}
	return t.flush()
}

func runEHRStatus(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr status", ehrUsage)
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	var kind ehr.Kind
	switch fs.NArg() {
	case 0:
	case 1:
		var err error
		if kind, err = parseKind(ehrUsage, fs.Arg(0)); err != nil {
			return err
		}
	default:
		return usageErr(ehrUsage, "ehr status takes at most one KIND (%s)", kindList)
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	var conns []app.Connection
	if kind != "" {
		c, err := p.core.Connection(ctx, kind)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, newJSONConnection(c))
		}
		return writeConnection(e.stdout, c, true)
	}
	if conns, err = p.core.Connections(ctx); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, newJSONConnections(conns))
	}
	for i, c := range conns {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if err := writeConnection(e.stdout, c, false); err != nil {
			return err
		}
	}
	return nil
}

// writeConnection prints one connection for a person; full adds the
// content of the test push.
func writeConnection(w io.Writer, c app.Connection, full bool) error {
	now := time.Now()
	t := newTable(w, c.Name, c.State.Label())
	if c.State == app.ConnNotConnected {
		t.row("Connect", connectHint(c.Kind))
		return t.flush()
	}
	t.row("Account", orDash(accountText(c.Account)))
	t.row("Address", orDash(c.BaseURL))
	t.row("Connected", localTime(c.ConnectedAt))
	if c.TwoWay {
		t.row("Last read", app.Ago(c.LastRead, now))
		t.row("Roster", "read "+app.Ago(c.RosterAt, now))
	} else {
		t.row("Last read", "— (push only: the roster is not read from "+c.Name+")")
	}
	t.row("Last write", app.Ago(c.LastWrite, now))
	t.row("Pending", pendingText(c))
	t.row("Push", c.Settings.String())
	if c.Reason != "" {
		t.row("Reason", c.Reason)
	}
	if c.WhatToDo != "" {
		t.row("What to do", c.WhatToDo)
	}
	if c.State == app.ConnExpired {
		t.row("Reconnect", connectHint(c.Kind))
	}
	if c.State == app.ConnTest {
		t.row("Test mode", testText(c))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if full && c.Test != nil && c.Test.Sent != nil {
		fmt.Fprintln(w, "\nThe test push:")
		if err := writeSent(w, *c.Test.Sent); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if len(c.Log) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Log, newest first:")
	for _, l := range c.Log {
		level := ""
		if l.Error {
			level = "error: "
		}
		fmt.Fprintf(w, "  %s  %s%s\n", localTime(l.At), level, clean(l.Message))
	}
	return nil
}

// testText says where a connection in test mode stands.
func testText(c app.Connection) string {
	k := string(c.Kind)
	switch {
	case c.Test == nil:
		return "automatic pushes wait for a test: scribe ehr test " + k + " ENCOUNTER (a signed one)"
	case c.Test.Sent != nil:
		return fmt.Sprintf("encounter %s was pushed (%s); check it in %s, then scribe ehr confirm %s", c.Test.Encounter, c.Test.Sent.Status, c.Name, k)
	case c.Test.State == outbox.NeedsAttention:
		return fmt.Sprintf("the push of encounter %s needs attention: %s", c.Test.Encounter, orDash(c.Test.Reason))
	}
	return fmt.Sprintf("the push of encounter %s is %s (job %d)", c.Test.Encounter, c.Test.State, c.Test.Job)
}

// writeSent prints a note as it went to an EHR.
func writeSent(w io.Writer, s app.SentNote) error {
	t := newTable(w, "Encounter", s.Encounter)
	t.row("Patient", fmt.Sprintf("%s (%s id %s)", s.PatientName, app.EHRName(s.Kind), s.EHRPatientID))
	t.row("Visit date", s.VisitDate)
	t.row("Clinician", fmt.Sprintf("%s (provider %s)", s.Clinician, s.ProviderName))
	t.row("Status", fmt.Sprintf("%s, pushed %s on %s", s.Status, localTime(s.PushedAt), s.Event))
	if err := t.flush(); err != nil {
		return err
	}
	section(w, "Content as sent", s.Content)
	return nil
}

// connectHint is the command that connects k.
func connectHint(k ehr.Kind) string {
	switch k {
	case ehr.SimplePractice:
		return "scribe ehr connect simplepractice --token -"
	case ehr.NexHealth:
		return "scribe ehr connect nexhealth --api-key - --subdomain S --location L"
	}
	return "scribe ehr connect " + string(k)
}

func accountText(a ehr.Account) string {
	var parts []string
	for _, s := range []string{a.Name, a.Location} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	s := strings.Join(parts, " · ")
	if a.User != "" {
		s += " (" + a.User + ")"
	}
	return strings.TrimSpace(s)
}

func pendingText(c app.Connection) string {
	if c.Attention > 0 {
		return fmt.Sprintf("%d (%d need attention: scribe queue)", c.Pending, c.Attention)
	}
	return fmt.Sprint(c.Pending)
}

func runEHRConnect(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr connect", ehrUsage)
	baseURL := fs.String("url", "", "")
	token := fs.String("token", "", "")
	apiKey := fs.String("api-key", "", "")
	subdomain := fs.String("subdomain", "", "")
	location := fs.String("location", "", "")
	noBrowser := fs.Bool("no-browser", false, "")
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	kind, _, err := kindArgs(fs, "connect")
	if err != nil {
		return err
	}
	name := app.EHRName(kind)
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var stray []string
	for _, f := range []string{"token", "api-key", "subdomain", "location", "no-browser"} {
		if !given[f] {
			continue
		}
		allowed := (f == "token" && kind == ehr.SimplePractice) ||
			(f != "token" && f != "no-browser" && kind == ehr.NexHealth) ||
			(f == "no-browser" && isOAuth(kind))
		if !allowed {
			stray = append(stray, "--"+f)
		}
	}
	if len(stray) > 0 {
		return usageErr(ehrUsage, "%s connects %s, so %s is not for it", name, howConnects(kind), strings.Join(stray, ", "))
	}
	req := app.ConnectRequest{Kind: kind, BaseURL: strings.TrimSpace(*baseURL)}
	switch kind {
	case ehr.SimplePractice:
		if req.Token, err = e.secretArg("token", *token); err != nil {
			return err
		}
		if req.Token == "" {
			return usageErr(ehrUsage, "SimplePractice connects with an API token: give --token T, or --token - to read it from stdin")
		}
	case ehr.NexHealth:
		var missing []string
		for _, f := range []struct{ name, val string }{{"--api-key", *apiKey}, {"--subdomain", *subdomain}, {"--location", *location}} {
			if strings.TrimSpace(f.val) == "" {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return usageErr(ehrUsage, "NexHealth needs --api-key, --subdomain and --location; %s missing", strings.Join(missing, " and "))
		}
		if req.APIKey, err = e.secretArg("api-key", *apiKey); err != nil {
			return err
		}
		req.Subdomain, req.LocationID = strings.TrimSpace(*subdomain), strings.TrimSpace(*location)
	}
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if req.BaseURL == "" && p.core.EHRDefaultURL(kind) == "" {
		return usageErr(ehrUsage, "no address is known for %s's API: give it with --url URL (from your partner agreement with %s)", name, name)
	}
	if isOAuth(kind) {
		req.OpenBrowser = e.browserOpener(name, *noBrowser)
	}
	c, err := p.core.ConnectEHR(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return messageErr("Cancelled: %s is not connected.", name)
		}
		return err
	}
	if acct := accountText(c.Account); acct != "" && acct != name {
		fmt.Fprintf(e.stdout, "Connected to %s as %s.\n", name, acct)
	} else {
		fmt.Fprintf(e.stdout, "Connected to %s.\n", name)
	}
	switch c.State {
	case app.ConnTest:
		fmt.Fprintf(e.stdout, "Status: Test mode — automatic pushes wait until one signed encounter has been pushed and you have checked it in %s:\n  scribe ehr test %s ENCOUNTER, then scribe ehr confirm %s\n", name, kind, kind)
	default:
		fmt.Fprintf(e.stdout, "Status: %s — pushes %s.\n", c.State.Label(), strings.ToLower(c.Settings.When.Label()))
	}
	e.printMappingSummary(ctx, p, c)
	return nil
}

// howConnects says what kind connects with, for messages.
func howConnects(k ehr.Kind) string {
	switch k {
	case ehr.SimplePractice:
		return "with an API token (--token)"
	case ehr.NexHealth:
		return "with an API key (--api-key, --subdomain, --location)"
	}
	return "through the browser (--no-browser prints the address instead)"
}

// secretArg is a secret given by flag: the value, or for "-" the first
// line of stdin.
func (e *env) secretArg(flagName, v string) (string, error) {
	if v != "-" {
		return strings.TrimSpace(v), nil
	}
	label := strings.ReplaceAll(flagName, "-", " ")
	if isTerminal(e.stdin) {
		// Typed at the terminal: ask, without echo.
		fmt.Fprintf(e.stderr, "%s: ", label)
		b, err := term.ReadPassword(int(e.stdin.(*os.File).Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read the %s: %w", label, err)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", usageErr(ehrUsage, "--%s -: no %s typed", flagName, label)
	}
	line, err := readLine(bufio.NewReader(e.stdin))
	if errors.Is(err, io.EOF) {
		return "", usageErr(ehrUsage, "--%s -: stdin ended before a line with the %s", flagName, label)
	}
	if err != nil {
		return "", fmt.Errorf("read the %s from stdin: %w", flagName, err)
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", usageErr(ehrUsage, "--%s -: the first line of stdin is empty", flagName)
	}
	return line, nil
}

// browserOpener shows the OAuth authorization address: in the system
// browser, or printed for the person to open.
func (e *env) browserOpener(name string, noBrowser bool) func(ctx context.Context, url string) error {
	return func(ctx context.Context, url string) error {
		switch {
		case noBrowser:
			fmt.Fprintf(e.stdout, "Open this address in a browser: %s\n", url)
		default:
			if err := platform.OpenURL(ctx, url); err != nil {
				// err repeats the address; the line below is the one to read.
				fmt.Fprintln(e.stderr, "scribe: could not open a browser here; open the address below yourself.")
				fmt.Fprintf(e.stdout, "Open this address in a browser: %s\n", url)
			} else {
				fmt.Fprintf(e.stdout, "Opened the browser to sign in to %s. If it did not open, open this address in a browser: %s\n", name, url)
			}
		}
		fmt.Fprintf(e.stderr, "Waiting for you to sign in to %s and allow access (Ctrl-C cancels)…\n", name)
		return nil
	}
}

// printMappingSummary says how far the provider mapping is after a
// connect; a failure to read it is only a warning.
func (e *env) printMappingSummary(ctx context.Context, p *profile, c app.Connection) {
	m, err := p.core.ProviderMap(ctx, c.Kind)
	if err != nil {
		fmt.Fprintf(e.stderr, "scribe: could not read the provider mapping: %s\n", app.Explain(err))
		return
	}
	n := countRows(m.Rows)
	fmt.Fprintf(e.stdout, "Providers: %d in %s; of %d clinicians %d confirmed, %d suggested, %d unmapped — see scribe providers --ehr %s\n",
		len(m.Providers), c.Name, len(m.Rows), n.confirmed, n.suggested, n.unmapped, c.Kind)
}

func runEHRDisconnect(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr disconnect", ehrUsage)
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	kind, _, err := kindArgs(fs, "disconnect")
	if err != nil {
		return err
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := p.core.Connection(ctx, kind)
	if err != nil {
		return err
	}
	if c.State == app.ConnNotConnected {
		return messageErr("%s is not connected — nothing to disconnect.", c.Name)
	}
	if err := p.core.DisconnectEHR(ctx, kind); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Disconnected %s: its credentials are forgotten on this computer", c.Name)
	if c.Pending > 0 {
		fmt.Fprintf(e.stdout, " and %d queued pushes are cancelled (the notes stay here)", c.Pending)
	}
	fmt.Fprintf(e.stdout, "; the provider mapping is kept for when you connect again.\n")
	return nil
}

func runEHRSettings(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr settings", ehrUsage)
	when := fs.String("when", "", "")
	what := fs.String("what", "", "")
	update := fs.String("update", "", "")
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	kind, _, err := kindArgs(fs, "settings")
	if err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["when"] && !oneOf(*when, "sign", "unsign", "both") {
		return usageErr(ehrUsage, "--when must be sign, unsign or both, not %q", *when)
	}
	if given["what"] && !oneOf(*what, string(ehr.NoteWithCodes), string(ehr.NoteOnly)) {
		return usageErr(ehrUsage, "--what must be %s or %s, not %q", ehr.NoteWithCodes, ehr.NoteOnly, *what)
	}
	if given["update"] && !oneOf(*update, string(ehr.Append), string(ehr.Replace)) {
		return usageErr(ehrUsage, "--update must be append or replace, not %q", *update)
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := p.core.Connection(ctx, kind)
	if err != nil {
		return err
	}
	if c.State == app.ConnNotConnected {
		return messageErr("%s is not connected — connect it first: %s", c.Name, connectHint(kind))
	}
	s := c.Settings
	if given["when"] {
		s.When = app.PushWhen(strings.ToLower(*when))
	}
	if given["what"] {
		s.What = ehr.Content(strings.ToLower(*what))
	}
	if given["update"] {
		s.Update = ehr.Update(strings.ToLower(*update))
	}
	if s.Update == ehr.Replace && !c.CanReplace {
		return messageErr("%s documents cannot be replaced, so each push adds one — keep --update append.", c.Name)
	}
	changed := s != c.Settings
	if changed {
		if err := p.core.SetPushSettings(ctx, kind, s); err != nil {
			return err
		}
		if c, err = p.core.Connection(ctx, kind); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Saved the push settings of %s.\n", c.Name)
	}
	t := newTable(e.stdout, "When", c.Settings.When.Label()+"  ("+string(c.Settings.When)+")")
	t.row("What", app.ContentLabel(c.Settings.What)+"  ("+string(c.Settings.What)+")")
	t.row("Update", app.UpdateLabel(c.Settings.Update)+"  ("+string(c.Settings.Update)+")")
	return t.flush()
}

// oneOf reports whether s is one of choices, ignoring case.
func oneOf(s string, choices ...string) bool {
	for _, c := range choices {
		if strings.EqualFold(s, c) {
			return true
		}
	}
	return false
}

func runEHRTest(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr test", ehrUsage)
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	kind, rest, err := kindArgs(fs, "test", "ENCOUNTER")
	if err != nil {
		return err
	}
	encounter := strings.TrimSpace(rest[0])
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	id, err := p.core.TestPush(ctx, kind, encounter)
	if err != nil {
		return err
	}
	// The push may be one held since the note was signed, tried before.
	before, err := p.core.Job(ctx, id)
	if err != nil {
		return err
	}
	name := app.EHRName(kind)
	fmt.Fprintf(e.stderr, "Pushing encounter %s to %s (job %d)…\n", encounter, name, id)
	stop := serveInBackground(ctx, p.core)
	defer stop()
	if _, err := p.core.SendNow(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, testWait)
	j, err := waitTried(wctx, p.core, id, before.Attempts)
	cancel()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return messageErr("The test push (job %d) was not tried within %s; it stays queued and is sent by scribe sync or while the Scribe window is open — see scribe ehr status %s.", id, testWait, kind)
	case err != nil:
		return err
	}
	switch j.State {
	case outbox.Done:
	case outbox.NeedsAttention:
		return messageErr("The test push to %s needs your attention: %s — %s (scribe queue retry %d once fixed)", name, clean(j.LastError), clean(orDash(j.WhatToDo)), j.ID)
	case outbox.Cancelled:
		return messageErr("The test push to %s (job %d) was cancelled.", name, j.ID)
	default:
		if c, err := p.core.Connection(ctx, kind); err == nil && c.State == app.ConnExpired {
			return messageErr("The test push to %s waits: %s — connect it again (%s); the push goes then.", name, clean(orDash(c.Reason)), connectHint(kind))
		}
		return messageErr("The test push to %s did not go through yet: %s — it is tried again by scribe sync or while the Scribe window is open; see scribe ehr status %s.", name, clean(orDash(j.LastError)), kind)
	}
	c, err := p.core.Connection(ctx, kind)
	if err != nil {
		return err
	}
	if c.Test == nil || c.Test.Sent == nil {
		return messageErr("The test push to %s is done, but what was sent is not recorded — see scribe ehr status %s.", name, kind)
	}
	fmt.Fprintf(e.stdout, "Pushed encounter %s to %s. Open the chart in %s and check the patient, the visit date, the clinician and the content:\n\n", encounter, name, name)
	if err := writeSent(e.stdout, *c.Test.Sent); err != nil {
		return err
	}
	if c.Test.Sent.Status == ehr.Pending {
		fmt.Fprintf(e.stdout, "\n%s accepted the note and is writing it to the chart; scribe ehr status %s shows when it is confirmed.\n", name, kind)
	}
	fmt.Fprintf(e.stdout, "\nIf it landed right: scribe ehr confirm %s — automatic pushes start. If not, do not retry: read scribe ehr status %s.\n", kind, kind)
	return nil
}

// waitTried waits until job id has settled (done, needs attention,
// cancelled) or has been tried more than attempts times and handed back.
func waitTried(ctx context.Context, core *app.Core, id app.JobID, attempts int) (app.Job, error) {
	for {
		changed := core.JobsChanged()
		j, err := core.Job(ctx, id)
		if err != nil {
			return app.Job{}, err
		}
		switch {
		case j.State == outbox.Done, j.State == outbox.NeedsAttention, j.State == outbox.Cancelled,
			j.State == outbox.Queued && j.Attempts > attempts:
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-changed:
		}
	}
}

func runEHRConfirm(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr confirm", ehrUsage)
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	kind, _, err := kindArgs(fs, "confirm")
	if err != nil {
		return err
	}
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.core.ConfirmTestPush(ctx, kind); err != nil {
		return err
	}
	c, err := p.core.Connection(ctx, kind)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is %s: signed notes are pushed %s from now on.\n", c.Name, c.State.Label(), strings.ToLower(c.Settings.When.Label()))
	return nil
}

func runEHRSync(ctx context.Context, e *env, args []string) error {
	fs := e.flags("ehr sync", ehrUsage)
	if err := parseFlags(fs, ehrUsage, args, false); err != nil {
		return err
	}
	kind, _, err := kindArgs(fs, "sync")
	if err != nil {
		return err
	}
	p, err := e.openWithSession(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := p.core.Connection(ctx, kind)
	if err != nil {
		return err
	}
	switch {
	case c.State == app.ConnNotConnected:
		return messageErr("%s is not connected — connect it first: %s", c.Name, connectHint(kind))
	case !c.TwoWay:
		return messageErr("%s is push only: Scribe cannot read its roster yet — add its patients in Nextvisit.", c.Name)
	}
	n, err := p.core.SyncRoster(ctx, kind)
	if err != nil {
		return err
	}
	m, err := p.core.ProviderMap(ctx, kind)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Read %s: %d patients changed, %d providers.\n", c.Name, n, len(m.Providers))
	return nil
}

// jsonConnection is a connection as --json prints it.
type jsonConnection struct {
	Kind        string         `json:"kind"`
	Name        string         `json:"name"`
	State       string         `json:"state"`
	Label       string         `json:"label"`
	Auth        string         `json:"auth"`
	TwoWay      bool           `json:"two_way"`
	CanReplace  bool           `json:"can_replace"`
	Account     jsonAccount    `json:"account"`
	BaseURL     string         `json:"base_url"`
	Settings    jsonSettings   `json:"settings"`
	ConnectedAt *time.Time     `json:"connected_at"`
	LastRead    *time.Time     `json:"last_read"`
	LastWrite   *time.Time     `json:"last_write"`
	RosterAt    *time.Time     `json:"roster_at"`
	Pending     int            `json:"pending"`
	Attention   int            `json:"attention"`
	Reason      string         `json:"reason"`
	WhatToDo    string         `json:"what_to_do"`
	Test        *jsonTestPush  `json:"test"`
	Log         []jsonConnLine `json:"log"`
}

type jsonAccount struct {
	Name     string `json:"name"`
	User     string `json:"user"`
	Location string `json:"location"`
}

type jsonSettings struct {
	When   string `json:"when"`
	What   string `json:"what"`
	Update string `json:"update"`
}

type jsonTestPush struct {
	Encounter string        `json:"encounter"`
	Job       int64         `json:"job"`
	State     string        `json:"state"`
	Reason    string        `json:"reason"`
	Sent      *jsonSentNote `json:"sent"`
}

type jsonSentNote struct {
	Encounter    string     `json:"encounter"`
	PatientName  string     `json:"patient_name"`
	EHRPatientID string     `json:"ehr_patient_id"`
	VisitDate    string     `json:"visit_date"`
	Clinician    string     `json:"clinician"`
	ProviderName string     `json:"provider_name"`
	Content      string     `json:"content"`
	Ref          string     `json:"ref"`
	Status       string     `json:"status"`
	PushedAt     *time.Time `json:"pushed_at"`
	Version      int        `json:"version"`
	Event        string     `json:"event"`
}

type jsonConnLine struct {
	At      *time.Time `json:"at"`
	Error   bool       `json:"error"`
	Message string     `json:"message"`
}

func newJSONConnections(conns []app.Connection) []jsonConnection {
	out := make([]jsonConnection, len(conns))
	for i, c := range conns {
		out[i] = newJSONConnection(c)
	}
	return out
}

func newJSONConnection(c app.Connection) jsonConnection {
	j := jsonConnection{
		Kind: string(c.Kind), Name: c.Name, State: strings.ReplaceAll(string(c.State), "-", "_"), Label: c.State.Label(),
		Auth: c.Auth, TwoWay: c.TwoWay, CanReplace: c.CanReplace,
		Account:     jsonAccount{Name: c.Account.Name, User: c.Account.User, Location: c.Account.Location},
		BaseURL:     c.BaseURL,
		Settings:    jsonSettings{When: string(c.Settings.When), What: string(c.Settings.What), Update: string(c.Settings.Update)},
		ConnectedAt: utc(c.ConnectedAt), LastRead: utc(c.LastRead), LastWrite: utc(c.LastWrite), RosterAt: utc(c.RosterAt),
		Pending: c.Pending, Attention: c.Attention, Reason: c.Reason, WhatToDo: c.WhatToDo,
		Log: make([]jsonConnLine, len(c.Log)),
	}
	for i, l := range c.Log {
		j.Log[i] = jsonConnLine{At: utc(l.At), Error: l.Error, Message: l.Message}
	}
	if t := c.Test; t != nil {
		j.Test = &jsonTestPush{Encounter: t.Encounter, Job: int64(t.Job), State: snake(t.State), Reason: t.Reason}
		if s := t.Sent; s != nil {
			j.Test.Sent = &jsonSentNote{Encounter: s.Encounter, PatientName: s.PatientName, EHRPatientID: s.EHRPatientID,
				VisitDate: s.VisitDate, Clinician: s.Clinician, ProviderName: s.ProviderName, Content: s.Content,
				Ref: string(s.Ref), Status: string(s.Status), PushedAt: utc(s.PushedAt), Version: s.Version, Event: s.Event}
		}
	}
	return j
}

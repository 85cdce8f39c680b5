package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/oauthehr"
	"github.com/nextvisit/scribe/sync/ehr/oauthflow"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// panelLog is how many log entries a Connection carries.
const panelLog = 10

// Connections lists all four EHRs, connected or not, in EHRKinds order.
func (c *Core) Connections(ctx context.Context) ([]Connection, error) {
	rows, err := c.ehr.db.EHRConnections(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := c.ehrJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Connection, 0, len(EHRKinds()))
	for _, k := range EHRKinds() {
		var row *store.EHRConnection
		for i := range rows {
			if rows[i].Kind == string(k) {
				row = &rows[i]
			}
		}
		cn, err := c.connectionView(ctx, k, row, jobs)
		if err != nil {
			return nil, err
		}
		out = append(out, cn)
	}
	return out, nil
}

// Connection returns one EHR's connection (State ConnNotConnected when
// there is none).
func (c *Core) Connection(ctx context.Context, kind ehr.Kind) (Connection, error) {
	if err := knownKind(kind); err != nil {
		return Connection{}, err
	}
	var row *store.EHRConnection
	r, err := c.ehr.db.EHRConnection(ctx, string(kind))
	switch {
	case err == nil:
		row = &r
	case !errors.Is(err, store.ErrNotFound):
		return Connection{}, err
	}
	jobs, err := c.ehrJobs(ctx)
	if err != nil {
		return Connection{}, err
	}
	return c.connectionView(ctx, kind, row, jobs)
}

// ehrJobs lists the EHR jobs not yet done or cancelled.
func (c *Core) ehrJobs(ctx context.Context) ([]Job, error) {
	jobs, err := c.queue.List(ctx, outbox.Filter{States: []outbox.State{outbox.Queued, outbox.Running, outbox.NeedsAttention}})
	if err != nil {
		return nil, fmt.Errorf("read the EHR jobs: %w", err)
	}
	return slices.DeleteFunc(jobs, func(j Job) bool { return j.Kind != kindEHRPush && j.Kind != kindEHRConfirm }), nil
}

func (c *Core) connectionView(ctx context.Context, kind ehr.Kind, row *store.EHRConnection, jobs []Job) (Connection, error) {
	cn := Connection{Kind: kind, Name: EHRName(kind), State: ConnNotConnected, Auth: authOf(kind), TwoWay: twoWay(kind),
		CanReplace: kind != ehr.NexHealth, Settings: DefaultPushSettings(), BaseURL: c.EHRDefaultURL(kind)}
	for _, j := range jobs {
		if !strings.HasPrefix(j.Group, ehrGroupPrefix(kind)) {
			continue
		}
		if j.State == outbox.NeedsAttention {
			cn.Attention++
		} else {
			cn.Pending++
		}
	}
	log, err := c.ehr.db.EHRLog(ctx, string(kind), panelLog)
	if err != nil {
		return Connection{}, err
	}
	for _, e := range log {
		cn.Log = append(cn.Log, ConnLogEntry{At: e.At, Error: e.Error, Message: e.Message})
	}
	if row == nil {
		return cn, nil
	}
	cn.State = ConnState(row.State)
	cn.Account = ehr.Account{Name: row.AccountName, User: row.AccountUser, Location: row.AccountLocation}
	cn.BaseURL = row.BaseURL
	cn.Settings = settingsOf(*row)
	cn.ConnectedAt, cn.LastRead, cn.LastWrite, cn.RosterAt = row.ConnectedAt, row.LastReadAt, row.LastWriteAt, row.RosterAt
	cn.Reason, cn.WhatToDo = row.Reason, row.WhatToDo
	if cn.State == ConnTest && row.TestEncounter != "" {
		tp := &TestPush{Encounter: row.TestEncounter, Job: JobID(row.TestJob)}
		if j, err := c.queue.Get(ctx, tp.Job); err == nil {
			tp.State = j.State
			if j.State == outbox.NeedsAttention || (j.State == outbox.Queued && j.Attempts > 0) {
				tp.Reason = j.LastError
			}
		} else if !errors.Is(err, outbox.ErrNotFound) {
			return Connection{}, err
		}
		if p, err := c.ehr.db.LatestEHRPush(ctx, string(kind), row.TestEncounter); err == nil {
			s := sentNote(p)
			tp.Sent = &s
		} else if !errors.Is(err, store.ErrNotFound) {
			return Connection{}, err
		}
		cn.Test = tp
	}
	return cn, nil
}

func settingsOf(row store.EHRConnection) PushSettings {
	s := PushSettings{When: PushWhen(row.PushWhen), What: ehr.Content(row.PushWhat), Update: ehr.Update(row.PushUpdate)}
	d := DefaultPushSettings()
	if s.When == "" {
		s.When = d.When
	}
	if s.What == "" {
		s.What = d.What
	}
	if s.Update == "" {
		s.Update = d.Update
	}
	return s
}

// EHRDefaultURL is what an empty ConnectRequest.BaseURL means now: the
// sandbox's EHR when the Nextvisit server is a sandbox on this computer,
// NexHealth's production API otherwise, and "" for the EHRs whose address
// comes from a partner agreement.
func (c *Core) EHRDefaultURL(kind ehr.Kind) string {
	if root, ok := sandboxRoot(c.Server()); ok {
		switch kind {
		case ehr.Osmind, ehr.Kalix, ehr.SimplePractice, ehr.NexHealth:
			return root + "/" + string(kind)
		}
		return ""
	}
	if kind == ehr.NexHealth {
		return "https://nexhealth.info"
	}
	return ""
}

// sandboxRoot is the root of a Nextvisit server on a loopback address (the
// sandbox, which serves the EHR models beside the API).
func sandboxRoot(server string) (string, bool) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "", false
	}
	switch u.Hostname() {
	case "127.0.0.1", "localhost", "::1":
		return u.Scheme + "://" + u.Host, true
	}
	return "", false
}

// ConnectEHR connects (or reconnects) one EHR: it checks the credentials
// with the EHR before keeping anything (a wrong token is refused, naming
// it, and nothing is saved); for Osmind and Kalix it runs the OAuth flow in
// the browser. A new connection starts in test mode with the default push
// settings; its providers (and for two-way EHRs its roster) are read at
// once. Reconnecting keeps the settings, mapping and test state, and wakes
// the pushes that waited. Every outcome is written to the connection's log.
func (c *Core) ConnectEHR(ctx context.Context, req ConnectRequest) (Connection, error) {
	kind := req.Kind
	if err := knownKind(kind); err != nil {
		return Connection{}, err
	}
	name := EHRName(kind)
	base := strings.TrimRight(strings.TrimSpace(req.BaseURL), "/")
	if base == "" {
		base = c.EHRDefaultURL(kind)
	}
	if base == "" {
		return Connection{}, &inputError{msg: fmt.Sprintf("%s's address is not known — enter the base URL from your %s partner agreement.", name, name)}
	}
	if _, err := ehr.BaseURL(base, "https://ehr.example.com"); err != nil {
		return Connection{}, &inputError{msg: fmt.Sprintf("%s's address: %v.", name, err)}
	}
	existing, err := c.ehr.db.EHRConnection(ctx, string(kind))
	had := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Connection{}, err
	}
	row := store.EHRConnection{Kind: string(kind), BaseURL: base}
	var (
		cn    ehr.Connector
		creds ehrCreds
		acct  ehr.Account
	)
	switch kind {
	case ehr.Osmind, ehr.Kalix:
		cn, creds, acct, err = c.connectOAuth(ctx, req, &row)
	case ehr.SimplePractice:
		cn, creds, acct, err = c.connectToken(ctx, req, &row)
	case ehr.NexHealth:
		if had && existing.State != string(ConnNotConnected) &&
			(existing.Subdomain != strings.TrimSpace(req.Subdomain) || existing.LocationID != strings.TrimSpace(req.LocationID)) {
			return Connection{}, &inputError{msg: fmt.Sprintf("Scribe keeps one NexHealth connection, which serves one location (now %s, location %s) — "+
				"disconnect it first to connect location %s.", existing.Subdomain, existing.LocationID, strings.TrimSpace(req.LocationID))}
		}
		cn, creds, acct, err = c.connectAPIKey(ctx, req, &row)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			c.logEHR(ctx, kind, false, "Connect cancelled")
		} else {
			c.logEHR(ctx, kind, true, "Connect failed: "+Explain(err))
		}
		c.log.Info("EHR connect failed", "ehr", kind, "error", err)
		return Connection{}, err
	}
	if err := c.saveCreds(ctx, kind, base, creds); err != nil {
		return Connection{}, err
	}
	now := time.Now()
	row.AccountName, row.AccountUser, row.AccountLocation = acct.Name, acct.User, acct.Location
	reconnect := had && existing.State != string(ConnNotConnected)
	if had {
		// Settings, test state and sync times stay across a reconnect.
		row.PushWhen, row.PushWhat, row.PushUpdate = existing.PushWhen, existing.PushWhat, existing.PushUpdate
		row.TestEncounter, row.TestJob, row.TestConfirmedAt = existing.TestEncounter, existing.TestJob, existing.TestConfirmedAt
		row.LastReadAt, row.LastWriteAt, row.RosterAt = existing.LastReadAt, existing.LastWriteAt, existing.RosterAt
		if existing.BaseURL == row.BaseURL {
			row.RosterSince = existing.RosterSince
		}
		row.ConnectedAt = existing.ConnectedAt
	} else {
		d := DefaultPushSettings()
		row.PushWhen, row.PushWhat, row.PushUpdate = string(d.When), string(d.What), string(d.Update)
	}
	if row.ConnectedAt.IsZero() || !reconnect {
		row.ConnectedAt = now
	}
	row.State = string(sendingState(row))
	tx, err := c.db.BeginTx(ctx)
	if err != nil {
		return Connection{}, fmt.Errorf("save the connection to %s: %w", name, err)
	}
	defer tx.Rollback()
	if err := c.ehr.db.SaveEHRConnectionTx(ctx, tx, row); err != nil {
		return Connection{}, err
	}
	if err := tx.Commit(); err != nil {
		return Connection{}, fmt.Errorf("save the connection to %s: %w", name, err)
	}
	c.useConnector(kind, cn)
	who := acct.Name
	if acct.User != "" {
		who += " (" + acct.User + ")"
	}
	if acct.Location != "" {
		who += ", location " + acct.Location
	}
	msg := "Connected to " + who
	if row.State == string(ConnTest) {
		msg += "; test mode: automatic pushes wait for a confirmed test push"
	}
	c.logEHR(ctx, kind, false, msg)
	c.log.Info("EHR connected", "ehr", kind, "state", row.State)
	if _, err := c.syncRoster(ctx, kind); err != nil {
		c.log.Warn("first roster read failed", "ehr", kind, "error", err)
	}
	if reconnect {
		// Pushes held while it was expired go now.
		c.wakeEHR(ctx, kind, c.retryNow)
	}
	kick(c.ehr.kick)
	return c.Connection(ctx, kind)
}

// browser is how an OAuth connect shows the authorization URL.
func (c *Core) browser(req ConnectRequest) func(ctx context.Context, url string) error {
	switch {
	case req.OpenBrowser != nil:
		return req.OpenBrowser
	case c.ehr.browser != nil:
		return c.ehr.browser
	}
	return platform.OpenURL
}

func (c *Core) connectOAuth(ctx context.Context, req ConnectRequest, row *store.EHRConnection) (ehr.Connector, ehrCreds, ehr.Account, error) {
	kind, name := req.Kind, EHRName(req.Kind)
	row.APIURL = row.BaseURL + "/api"
	md, err := oauthflow.Discover(ctx, c.ehrHTTP(), row.BaseURL)
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, explained(fmt.Sprintf("Cannot find %s's sign-in service at %s — check the address and your internet connection, then connect again.", name, row.BaseURL), err)
	}
	row.TokenEndpoint = md.TokenEndpoint
	tok, err := oauthflow.Authorize(ctx, oauthflow.Config{ClientID: ehrClientID, Scopes: oauthehr.Scopes, HTTPClient: c.ehrHTTP(),
		OpenBrowser: c.browser(req), Logger: c.log.With("component", "oauth", "ehr", kind)}, md)
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, oauthError(name, err)
	}
	if missing := missingScopes(tok); len(missing) > 0 {
		return nil, ehrCreds{}, ehr.Account{}, explained(fmt.Sprintf("%s did not grant the permission %s, which Scribe needs — connect again and leave it ticked on %s's consent page.",
			name, strings.Join(missing, " and "), name), ehr.ErrScope)
	}
	// The token kept must be the latest: validating may refresh it, and a
	// rotated refresh token works once.
	var mu sync.Mutex
	latest := tok
	cn, err := c.newConnector(*row, ehrCreds{OAuth: tok}, func(t *oauth2.Token) {
		mu.Lock()
		defer mu.Unlock()
		latest = t
	})
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, err
	}
	acct, err := cn.Validate(ctx)
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, validateError(kind, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return cn, ehrCreds{OAuth: latest}, acct, nil
}

// missingScopes lists the scopes Scribe asked for that the token's answer
// says were not granted (none when the answer does not say: then the
// server granted what was asked, RFC 6749 §5.1).
func missingScopes(tok *oauth2.Token) []string {
	granted, ok := tok.Extra("scope").(string)
	if !ok || granted == "" {
		return nil
	}
	have := strings.Fields(granted)
	var missing []string
	for _, want := range oauthehr.Scopes {
		if !slices.Contains(have, want) {
			missing = append(missing, want)
		}
	}
	return missing
}

func oauthError(name string, err error) error {
	var cb *oauthflow.CallbackError
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, oauthflow.ErrDenied):
		return explained(fmt.Sprintf("Access was denied on %s's consent page — connect again and choose Allow.", name), err)
	case errors.Is(err, oauthflow.ErrStateMismatch):
		return explained(fmt.Sprintf("The answer from %s did not belong to this request (its state did not match), so it was refused — connect again.", name), err)
	case errors.Is(err, oauthflow.ErrTimeout):
		return explained(fmt.Sprintf("No answer came back from %s in time — connect again and finish signing in within %v.", name, oauthflow.DefaultTimeout), err)
	case errors.As(err, &cb):
		return explained(fmt.Sprintf("%s refused the connection (%s) — connect again; if it keeps happening, ask %s's support.", name, cb.Error(), name), err)
	}
	return explained(fmt.Sprintf("Connecting to %s failed: %v — connect again.", name, err), err)
}

func (c *Core) connectToken(ctx context.Context, req ConnectRequest, row *store.EHRConnection) (ehr.Connector, ehrCreds, ehr.Account, error) {
	tok := strings.TrimSpace(req.Token)
	if tok == "" {
		return nil, ehrCreds{}, ehr.Account{}, &inputError{msg: "The API token is empty — paste the token you generated in SimplePractice."}
	}
	cr := ehrCreds{Token: tok}
	cn, err := c.newConnector(*row, cr, nil)
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, &inputError{msg: fmt.Sprintf("SimplePractice: %v.", err)}
	}
	acct, err := cn.Validate(ctx)
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, validateError(req.Kind, err)
	}
	return cn, cr, acct, nil
}

func (c *Core) connectAPIKey(ctx context.Context, req ConnectRequest, row *store.EHRConnection) (ehr.Connector, ehrCreds, ehr.Account, error) {
	key, sub, loc := strings.TrimSpace(req.APIKey), strings.TrimSpace(req.Subdomain), strings.TrimSpace(req.LocationID)
	var missing []string
	if key == "" {
		missing = append(missing, "the API key")
	}
	if sub == "" {
		missing = append(missing, "the subdomain")
	}
	if loc == "" {
		missing = append(missing, "the location id")
	}
	if len(missing) > 0 {
		return nil, ehrCreds{}, ehr.Account{}, &inputError{msg: "NexHealth needs " + strings.Join(missing, ", ") +
			" — find them in NexHealth's Developer Portal (Institutions tab for the subdomain and locations)."}
	}
	if _, err := strconv.ParseInt(loc, 10, 64); err != nil {
		return nil, ehrCreds{}, ehr.Account{}, &inputError{msg: fmt.Sprintf("The location id %q is not a number — copy it from NexHealth's Developer Portal.", loc)}
	}
	row.Subdomain, row.LocationID = sub, loc
	cr := ehrCreds{APIKey: key}
	cn, err := c.newConnector(*row, cr, nil)
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, &inputError{msg: fmt.Sprintf("NexHealth: %v.", err)}
	}
	acct, err := cn.Validate(ctx)
	if err != nil {
		return nil, ehrCreds{}, ehr.Account{}, validateError(req.Kind, err)
	}
	if acct.Location == "" {
		acct.Location = loc
	}
	return cn, cr, acct, nil
}

// validateError says why an EHR refused new credentials.
func validateError(kind ehr.Kind, err error) error {
	name := EHRName(kind)
	var se *ehr.StatusError
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, ehr.ErrReauthorize):
		switch kind {
		case ehr.SimplePractice:
			return explained("SimplePractice did not accept the API token — check that you pasted the whole token from SimplePractice (Settings → API), or generate a new one, and connect again.", err)
		case ehr.NexHealth:
			return explained("NexHealth did not accept the API key — check that you pasted the whole key from NexHealth's Developer Portal, and connect again.", err)
		}
		return explained(fmt.Sprintf("%s did not accept Scribe's authorization — connect again.", name), err)
	case errors.Is(err, ehr.ErrScope):
		if kind == ehr.NexHealth {
			return explained("NexHealth refused this subdomain for the API key — check the subdomain in the Developer Portal (Institutions tab), and connect again.", err)
		}
		return explained(fmt.Sprintf("%s did not give Scribe a permission it needs (%v) — connect again and allow every permission asked for.", name, err), err)
	case errors.Is(err, ehr.ErrNotFound) && kind == ehr.NexHealth:
		return explained("NexHealth has no such location in this institution — check the location id in the Developer Portal, and connect again.", err)
	case errors.As(err, &se) && se.Temporary():
		return explained(fmt.Sprintf("%s could not answer just now (%v) — try again in a minute.", name, err), err)
	case errors.As(err, &se):
		return explained(fmt.Sprintf("%s refused the connection (%v) — check what you entered and connect again.", name, err), err)
	}
	if transportError(err) {
		return explained(fmt.Sprintf("Cannot reach %s — check the address and your internet connection, then connect again.", name), err)
	}
	return explained(fmt.Sprintf("Connecting to %s failed: %v — connect again.", name, err), err)
}

// DisconnectEHR ends a connection: it revokes what the EHR lets Scribe
// revoke and always forgets the credentials here. Its queued pushes are
// cancelled (their encounters keep their notes); the provider mapping is
// kept for a reconnect.
func (c *Core) DisconnectEHR(ctx context.Context, kind ehr.Kind) error {
	if err := knownKind(kind); err != nil {
		return err
	}
	row, err := c.ehr.db.EHRConnection(ctx, string(kind))
	if errors.Is(err, store.ErrNotFound) {
		return &inputError{msg: EHRName(kind) + " is not connected."}
	}
	if err != nil {
		return err
	}
	if cn, err := c.connector(ctx, row); err == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
		if err := cn.Disconnect(rctx); err != nil {
			c.log.Warn("could not revoke the EHR connection; it lapses by itself", "ehr", kind, "error", err)
		}
		cancel()
	}
	c.useConnector(kind, nil)
	if err := c.forgetCreds(ctx, kind, row.BaseURL); err != nil {
		return err
	}
	if err := c.ehr.db.DeleteEHRConnection(ctx, string(kind)); err != nil {
		return err
	}
	// Its waiting pushes go, now and, for any running at this moment, once
	// they have finished (they find no connection and stop).
	cancelled := c.cancelEHRJobs(ctx, kind)
	c.wakeEHR(ctx, kind, func(ctx context.Context) { c.cancelEHRJobs(ctx, kind) })
	msg := "Disconnected; the credentials were removed from this computer"
	if cancelled > 0 {
		msg += fmt.Sprintf("; %d waiting push(es) cancelled", cancelled)
	}
	c.logEHR(ctx, kind, false, msg)
	c.log.Info("EHR disconnected", "ehr", kind, "cancelled", cancelled)
	return nil
}

// cancelEHRJobs cancels the waiting jobs of kind and returns how many.
func (c *Core) cancelEHRJobs(ctx context.Context, kind ehr.Kind) int {
	jobs, err := c.ehrJobs(ctx)
	if err != nil {
		c.log.Warn("cannot list the pushes to cancel", "ehr", kind, "error", err)
		return 0
	}
	n := 0
	for _, j := range jobs {
		if !strings.HasPrefix(j.Group, ehrGroupPrefix(kind)) || j.State == outbox.Running {
			continue
		}
		if err := c.queue.Cancel(ctx, j.ID); err != nil {
			if !errors.Is(err, outbox.ErrState) {
				c.log.Warn("cannot cancel a push", "ehr", kind, "error", err)
			}
			continue
		}
		n++
	}
	return n
}

// SetPushSettings changes a connection's push behaviour. NexHealth cannot
// replace a document, so Replace is refused there.
func (c *Core) SetPushSettings(ctx context.Context, kind ehr.Kind, s PushSettings) error {
	if err := knownKind(kind); err != nil {
		return err
	}
	switch s.When {
	case PushOnSign, PushOnUnsign, PushOnBoth:
	default:
		return &inputError{msg: fmt.Sprintf("%q is not a push time — choose sign, unsign or both.", string(s.When))}
	}
	switch s.What {
	case ehr.NoteWithCodes, ehr.NoteOnly:
	default:
		return &inputError{msg: fmt.Sprintf("%q is not a push content — choose %s or %s.", string(s.What), ehr.NoteWithCodes, ehr.NoteOnly)}
	}
	switch s.Update {
	case ehr.Append:
	case ehr.Replace:
		if kind == ehr.NexHealth {
			return &inputError{msg: "NexHealth cannot replace a document it has, so its notes can only be appended — choose Append."}
		}
	default:
		return &inputError{msg: fmt.Sprintf("%q is not an update mode — choose %s or %s.", string(s.Update), ehr.Append, ehr.Replace)}
	}
	err := c.ehr.db.UpdateEHRConnection(ctx, string(kind), func(row *store.EHRConnection) error {
		row.PushWhen, row.PushWhat, row.PushUpdate = string(s.When), string(s.What), string(s.Update)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return &inputError{msg: EHRName(kind) + " is not connected — connect it first."}
	}
	if err != nil {
		return err
	}
	c.logEHR(ctx, kind, false, "Push settings: "+s.String())
	return nil
}

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/nexhealth"
	"github.com/nextvisit/scribe/sync/ehr/oauthehr"
	"github.com/nextvisit/scribe/sync/ehr/simplepractice"
	"github.com/nextvisit/scribe/sync/store"
)

// ConnState is where an EHR connection stands.
type ConnState string

// The states of an EHR connection (the External Apps panel's chips).
const (
	ConnNotConnected   ConnState = "not-connected"
	ConnTest           ConnState = "test"
	ConnActive         ConnState = "active"
	ConnNeedsAttention ConnState = "needs-attention"
	ConnExpired        ConnState = "expired"
)

var connLabels = map[ConnState]string{
	ConnNotConnected: "Not connected", ConnTest: "Test mode", ConnActive: "Active",
	ConnNeedsAttention: "Needs attention", ConnExpired: "Expired",
}

// Label is the state in the panel's words.
func (s ConnState) Label() string {
	if l, ok := connLabels[s]; ok {
		return l
	}
	return string(s)
}

// PushWhen says which of sign and unsign push a note.
type PushWhen string

// The push settings' "when" choices (seed: on Sign is the default).
const (
	PushOnSign   PushWhen = "sign"
	PushOnUnsign PushWhen = "unsign"
	PushOnBoth   PushWhen = "both"
)

// Label is the choice in the panel's words.
func (w PushWhen) Label() string {
	switch w {
	case PushOnSign:
		return "On Sign"
	case PushOnUnsign:
		return "On Unsign"
	case PushOnBoth:
		return "On Sign and Unsign"
	}
	return string(w)
}

// ContentLabel names a "what to send" choice as the settings show it.
func ContentLabel(c ehr.Content) string {
	switch c {
	case ehr.NoteWithCodes:
		return "Note + codes + metadata"
	case ehr.NoteOnly:
		return "Note only"
	}
	return string(c)
}

// UpdateLabel names an "update behaviour" choice as the settings show it.
func UpdateLabel(u ehr.Update) string {
	switch u {
	case ehr.Append:
		return "Append a new version"
	case ehr.Replace:
		return "Replace the prior version"
	}
	return string(u)
}

// PushSettings are one connection's push behaviour.
type PushSettings struct {
	When   PushWhen
	What   ehr.Content
	Update ehr.Update
}

// String is the settings on one line, as the panel and the CLI show them.
func (s PushSettings) String() string {
	return s.When.Label() + " · " + ContentLabel(s.What) + " · " + UpdateLabel(s.Update)
}

// DefaultPushSettings are the seed's defaults: on Sign, the note with its
// codes and metadata, appended.
func DefaultPushSettings() PushSettings {
	return PushSettings{When: PushOnSign, What: ehr.NoteWithCodes, Update: ehr.Append}
}

// EHRName is an EHR's name as the panel shows it.
func EHRName(k ehr.Kind) string {
	switch k {
	case ehr.Osmind:
		return "Osmind"
	case ehr.Kalix:
		return "Kalix"
	case ehr.SimplePractice:
		return "SimplePractice"
	case ehr.NexHealth:
		return "NexHealth"
	}
	return string(k)
}

// EHRKinds are the EHRs Scribe connects to, in the panel's order.
func EHRKinds() []ehr.Kind {
	return []ehr.Kind{ehr.Osmind, ehr.Kalix, ehr.SimplePractice, ehr.NexHealth}
}

// Connection is one EHR connection as the External Apps panel shows it.
type Connection struct {
	Kind  ehr.Kind
	Name  string
	State ConnState
	// Auth is how it connects: "oauth", "token" or "api-key".
	Auth string
	// TwoWay: the roster and providers are read on a schedule (false for
	// SimplePractice, whose roster read is still in development).
	TwoWay bool
	// CanReplace is false for NexHealth, whose documents cannot be
	// replaced: the panel must not offer Replace.
	CanReplace bool
	Account    ehr.Account
	BaseURL    string
	Settings   PushSettings

	ConnectedAt, LastRead, LastWrite, RosterAt time.Time

	// Pending counts ehr-push and ehr-confirm jobs waiting; Attention those
	// needing a person.
	Pending, Attention int
	// Reason and WhatToDo explain Needs attention and Expired.
	Reason, WhatToDo string
	// Test is the test encounter's push while in test mode (nil before one).
	Test *TestPush
	// Log is the connection's latest log entries, newest first (at most 10).
	Log []ConnLogEntry
}

// ConnLogEntry is one line of a connection's log. It never names a
// patient, nor holds a token or key.
type ConnLogEntry struct {
	At      time.Time
	Error   bool
	Message string
}

// TestPush is the push of the test encounter of a connection in test mode.
type TestPush struct {
	Encounter string
	Job       JobID
	State     JobState
	Sent      *SentNote // nil until pushed
	Reason    string
}

// SentNote is a note as it went to an EHR: what the admin checks in test
// mode and the note screen lists.
type SentNote struct {
	Kind         ehr.Kind
	Encounter    string
	PatientName  string
	EHRPatientID string
	VisitDate    string
	Clinician    string
	ProviderName string
	Content      string
	Ref          ehr.Ref
	Status       ehr.Status
	PushedAt     time.Time
	Version      int
	Event        string // "sign" or "unsign"
}

// ConnectRequest is what ConnectEHR needs for one kind.
type ConnectRequest struct {
	Kind ehr.Kind
	// BaseURL is the EHR's address; "" means EHRDefaultURL.
	BaseURL string
	// Token is SimplePractice's API token.
	Token string
	// APIKey, Subdomain and LocationID are NexHealth's.
	APIKey, Subdomain, LocationID string
	// OpenBrowser shows the OAuth authorization URL (Osmind, Kalix); nil
	// means Config.EHRBrowser, else the system browser.
	OpenBrowser func(ctx context.Context, url string) error
}

// ehrClientID is Scribe's OAuth client at the EHRs that use OAuth.
const ehrClientID = "nextvisit-scribe"

// logTimeout bounds writing a line of a connection's log.
const logTimeout = 5 * time.Second

// defaultRosterEvery is how often the roster of two-way connections is read
// when Config.RosterEvery is zero.
const defaultRosterEvery = 15 * time.Minute

// secretEHR + kind is where a connection's credentials are kept (JSON
// ehrCreds).
const secretEHR = "ehr:"

// ehrCreds are a connection's credentials as Secrets keeps them.
type ehrCreds struct {
	Token  string        `json:"token,omitempty"`
	APIKey string        `json:"api_key,omitempty"`
	OAuth  *oauth2.Token `json:"oauth2,omitempty"`
}

// errNoCredentials: the connection's credentials are not on this computer
// (an embedded sandbox's, kept in memory by an earlier run, or removed from
// the keyring). It is treated like a refused grant: connect again.
var errNoCredentials = errors.New("the connection's credentials are not on this computer")

// ehrState is what Core keeps for its EHR connections.
type ehrState struct {
	db          store.EHRStore
	rosterEvery time.Duration
	browser     func(ctx context.Context, url string) error
	kick        chan struct{} // wakes the roster loop (buffered, 1)

	mu      sync.Mutex
	changed chan struct{}              // closed and replaced at each change (ConnectionsChanged)
	live    map[ehr.Kind]ehr.Connector // one connector per connection, so token refreshes are one at a time
}

func newEHRState(db store.EHRStore, cfg Config) *ehrState {
	every := cfg.RosterEvery
	if every <= 0 {
		every = defaultRosterEvery
	}
	return &ehrState{db: db, rosterEvery: every, browser: cfg.EHRBrowser, kick: make(chan struct{}, 1),
		changed: make(chan struct{}), live: map[ehr.Kind]ehr.Connector{}}
}

// ConnectionsChanged returns a channel closed at the next change to any EHR
// connection (state, settings, log, mapping, roster, a push); read again,
// then call it again.
func (c *Core) ConnectionsChanged() <-chan struct{} {
	c.ehr.mu.Lock()
	defer c.ehr.mu.Unlock()
	return c.ehr.changed
}

// notifyConnections wakes whoever waits on ConnectionsChanged.
func (c *Core) notifyConnections() {
	c.ehr.mu.Lock()
	defer c.ehr.mu.Unlock()
	close(c.ehr.changed)
	c.ehr.changed = make(chan struct{})
}

// knownKind refuses what is not one of the four EHRs.
func knownKind(k ehr.Kind) error {
	for _, known := range EHRKinds() {
		if k == known {
			return nil
		}
	}
	return &inputError{msg: fmt.Sprintf("%q is not an EHR Scribe connects to — use osmind, kalix, simplepractice or nexhealth.", string(k))}
}

// authOf is how a kind connects.
func authOf(k ehr.Kind) string {
	switch k {
	case ehr.SimplePractice:
		return "token"
	case ehr.NexHealth:
		return "api-key"
	}
	return "oauth"
}

// twoWay: the roster and providers are read on a schedule.
func twoWay(k ehr.Kind) bool { return k != ehr.SimplePractice }

// confirmsLater: a push is accepted first and confirmed later (NexHealth).
func confirmsLater(k ehr.Kind) bool { return k == ehr.NexHealth }

// externalAppsPath is where the admin finds a connection in the window.
func externalAppsPath(k ehr.Kind) string {
	return "Settings → Tools and AI → External Apps → " + EHRName(k)
}

// ehrSecrets is where a connection's credentials are kept: in memory for an
// EHR served by the embedded sandbox (its port changes every run), else in
// the profile's Secrets.
func (c *Core) ehrSecrets(baseURL string) platform.Secrets {
	if c.embedded == "" {
		return c.secrets
	}
	a, errA := url.Parse(baseURL)
	b, errB := url.Parse(c.embedded)
	if errA == nil && errB == nil && a.Host != "" && strings.EqualFold(a.Host, b.Host) {
		return c.mem
	}
	return c.secrets
}

func (c *Core) readCreds(ctx context.Context, conn store.EHRConnection) (ehrCreds, error) {
	v, err := c.ehrSecrets(conn.BaseURL).Get(ctx, secretEHR+conn.Kind)
	if errors.Is(err, platform.ErrSecretNotFound) {
		return ehrCreds{}, fmt.Errorf("%s: %w: %w", EHRName(ehr.Kind(conn.Kind)), errNoCredentials, ehr.ErrReauthorize)
	}
	if err != nil {
		return ehrCreds{}, fmt.Errorf("read the credentials of %s: %w", EHRName(ehr.Kind(conn.Kind)), err)
	}
	var cr ehrCreds
	if err := json.Unmarshal([]byte(v), &cr); err != nil {
		return ehrCreds{}, fmt.Errorf("%s: the stored credentials are unreadable: %w: %w", EHRName(ehr.Kind(conn.Kind)), errNoCredentials, ehr.ErrReauthorize)
	}
	return cr, nil
}

func (c *Core) saveCreds(ctx context.Context, kind ehr.Kind, baseURL string, cr ehrCreds) error {
	b, err := json.Marshal(cr)
	if err != nil {
		return fmt.Errorf("keep the credentials of %s: %w", EHRName(kind), err)
	}
	// Forgetting or keeping a credential must not be skipped because the
	// caller's context ended (the window closed mid-connect).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretsTimeout)
	defer cancel()
	if err := c.ehrSecrets(baseURL).Set(ctx, secretEHR+string(kind), string(b)); err != nil {
		return fmt.Errorf("keep the credentials of %s: %w", EHRName(kind), err)
	}
	return nil
}

func (c *Core) forgetCreds(ctx context.Context, kind ehr.Kind, baseURL string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretsTimeout)
	defer cancel()
	var errs []error
	// Both places: the base URL may have pointed elsewhere when they were kept.
	for _, s := range []platform.Secrets{c.secrets, c.mem} {
		if err := s.Delete(ctx, secretEHR+string(kind)); err != nil && !errors.Is(err, platform.ErrSecretNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove the credentials of %s from this computer: %w", EHRName(kind), err)
	}
	return nil
}

// newConnector makes a connector for conn with cr.
// seen, when not nil, is told each refreshed OAuth token too.
func (c *Core) newConnector(conn store.EHRConnection, cr ehrCreds, seen func(*oauth2.Token)) (ehr.Connector, error) {
	kind := ehr.Kind(conn.Kind)
	log := c.log.With("component", "ehr", "ehr", conn.Kind)
	switch kind {
	case ehr.Osmind, ehr.Kalix:
		if cr.OAuth == nil {
			return nil, fmt.Errorf("%s: no OAuth token kept: %w: %w", EHRName(kind), errNoCredentials, ehr.ErrReauthorize)
		}
		base := conn.BaseURL
		return oauthehr.New(oauthehr.Config{Kind: kind, Issuer: base, APIBase: conn.APIURL, ClientID: ehrClientID,
			TokenEndpoint: conn.TokenEndpoint, Token: cr.OAuth, HTTPClient: c.ehrHTTP(), Logger: log,
			OnToken: func(ctx context.Context, tok *oauth2.Token) {
				// Refresh tokens rotate: the old one is spent.
				if seen != nil {
					seen(tok)
				}
				if err := c.saveCreds(ctx, kind, base, ehrCreds{OAuth: tok}); err != nil {
					c.log.Warn("cannot keep a refreshed EHR token; the connection will need connecting again", "ehr", kind, "error", err)
				}
			}})
	case ehr.SimplePractice:
		return simplepractice.New(simplepractice.Config{BaseURL: conn.BaseURL, Token: cr.Token, HTTPClient: c.ehrHTTP(), Logger: log})
	case ehr.NexHealth:
		return nexhealth.New(nexhealth.Config{BaseURL: conn.BaseURL, APIKey: cr.APIKey, Subdomain: conn.Subdomain,
			LocationID: conn.LocationID, HTTPClient: c.ehrHTTP(), Logger: log})
	}
	return nil, knownKind(kind)
}

// connector is the live connector of a saved connection, made once and
// kept, so that an OAuth connection refreshes its token one caller at a
// time (a rotated refresh token works once).
func (c *Core) connector(ctx context.Context, conn store.EHRConnection) (ehr.Connector, error) {
	kind := ehr.Kind(conn.Kind)
	c.ehr.mu.Lock()
	cn, ok := c.ehr.live[kind]
	c.ehr.mu.Unlock()
	if ok {
		return cn, nil
	}
	cr, err := c.readCreds(ctx, conn)
	if err != nil {
		return nil, err
	}
	cn, err = c.newConnector(conn, cr, nil)
	if err != nil {
		return nil, err
	}
	c.ehr.mu.Lock()
	defer c.ehr.mu.Unlock()
	if have, ok := c.ehr.live[kind]; ok {
		return have, nil
	}
	c.ehr.live[kind] = cn
	return cn, nil
}

// useConnector makes cn the live connector of kind (nil drops it).
func (c *Core) useConnector(kind ehr.Kind, cn ehr.Connector) {
	c.ehr.mu.Lock()
	defer c.ehr.mu.Unlock()
	if cn == nil {
		delete(c.ehr.live, kind)
		return
	}
	c.ehr.live[kind] = cn
}

// logEHR adds a line to a connection's log: never a patient's name, a
// token or a key.
func (c *Core) logEHR(ctx context.Context, kind ehr.Kind, isErr bool, msg string) {
	// The outcome is logged even when the caller gave up waiting for it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logTimeout)
	defer cancel()
	if err := c.ehr.db.AddEHRLog(ctx, string(kind), store.EHRLogEntry{At: time.Now(), Error: isErr, Message: msg}); err != nil {
		c.log.Warn("cannot write the connection log", "ehr", kind, "error", err)
	}
	c.notifyConnections()
}

// setConnState moves a saved connection to state with a reason (and logs
// it when it changes). A missing connection is left alone.
func (c *Core) setConnState(ctx context.Context, kind ehr.Kind, state ConnState, reason, whatToDo string) {
	changed := false
	err := c.ehr.db.UpdateEHRConnection(ctx, string(kind), func(row *store.EHRConnection) error {
		changed = row.State != string(state) || row.Reason != reason
		row.State, row.Reason, row.WhatToDo = string(state), reason, whatToDo
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.log.Warn("cannot change the connection's state", "ehr", kind, "error", err)
		return
	}
	if changed {
		c.log.Info("EHR connection state changed", "ehr", kind, "state", state)
		msg := state.Label()
		if reason != "" {
			msg += ": " + reason
		}
		c.logEHR(ctx, kind, state == ConnExpired || state == ConnNeedsAttention, msg)
	}
}

// sendingState is where a connection goes back to once it works again:
// test mode until the admin confirmed a test push, then active.
func sendingState(row store.EHRConnection) ConnState {
	if row.TestConfirmedAt.IsZero() {
		return ConnTest
	}
	return ConnActive
}

// recovered returns a connection that needed attention to its sending
// state after a call that worked.
func (c *Core) recovered(ctx context.Context, kind ehr.Kind) {
	row, err := c.ehr.db.EHRConnection(ctx, string(kind))
	if err != nil || row.State != string(ConnNeedsAttention) {
		return
	}
	c.setConnState(ctx, kind, sendingState(row), "", "")
}

// expire marks a connection Expired after its EHR refused its credentials:
// its pushes wait (they are not failed) until it is connected again.
func (c *Core) expire(ctx context.Context, kind ehr.Kind, cause error) {
	reason := EHRName(kind) + " no longer accepts Scribe's authorization"
	if errors.Is(cause, errNoCredentials) {
		reason = "the connection's credentials are not on this computer"
	}
	c.useConnector(kind, nil)
	c.setConnState(ctx, kind, ConnExpired, reason, "Connect "+EHRName(kind)+" again in "+externalAppsPath(kind)+"; waiting notes are sent then")
}

// ehrHTTP is the client EHR calls go through: the app's (so the remotes
// watcher sees them), with the whole request bounded as the connectors'
// own default is, since a stalled reply body would otherwise hold a push
// until its job's lease ran out.
func (c *Core) ehrHTTP() *http.Client {
	hc := *c.http
	hc.Timeout = ehr.RequestTimeout
	return &hc
}

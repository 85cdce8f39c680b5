// Package app holds Scribe's use cases, free of any user interface: sign in
// and out, patients, notes. The Fyne window (app/ui) and the command line
// (cmd/scribe) both drive a Core, so anything one can do the other can too,
// and tests drive it headless.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// Config is what Open needs.
type Config struct {
	// ProfileDir is the folder holding this profile's database and, where
	// there is no OS keyring, its secrets vault. Created 0700 if missing.
	ProfileDir string
	// Logger receives events; never patient data or secrets. nil discards.
	Logger *slog.Logger
	// Secrets keeps the API token (platform.OpenSecrets).
	Secrets platform.Secrets
	// HTTPClient sends API requests; nil means the API client's default.
	HTTPClient *http.Client
	// MaxAttempts bounds how often one idempotent request is sent when the
	// network or server fails (0: the API client's default, 4).
	MaxAttempts int
	// EmbeddedServer is the base URL of a sandbox running inside this
	// process, if any. Its port changes every run, so sessions with it
	// are kept in memory only: neither its token nor its address is
	// stored, and the next run starts from the last real server.
	EmbeddedServer string
	// AudioBackend lists and opens microphones; nil means PortAudio.
	AudioBackend capture.Backend
	// JobLease is how long a job's run may take before another worker (in
	// this or another process) takes it over; 0 means the outbox's default
	// of five minutes. Tests shorten it to see crashed runs redone.
	JobLease time.Duration
	// RosterEvery is how often Serve reads the roster and providers of the
	// two-way EHR connections; 0 means every 15 minutes.
	RosterEvery time.Duration
	// EHRBrowser shows an OAuth EHR's authorization URL when a
	// ConnectRequest has no OpenBrowser; nil means the system browser.
	// Tests pass a stand-in that logs in and consents.
	EHRBrowser func(ctx context.Context, url string) error
	// IdleLock is how long the window waits without activity before it
	// locks, until the clinician chooses in Settings (SetIdleLock); 0
	// means DefaultIdleLock (10 minutes). Negative is refused.
	IdleLock time.Duration
	// RetentionDays is how many days after its note is signed, and its
	// jobs are done, a visit's audio is kept here (retention.go); 0 means
	// DefaultRetentionDays (30). Negative is refused.
	RetentionDays int
}

// Server is a Nextvisit server a clinician can sign in to.
type Server struct {
	Name string
	URL  string
}

// KnownServers are the Nextvisit servers offered by name. The embedded
// sandbox is added by the caller when it runs one.
func KnownServers() []Server {
	return []Server{
		{Name: "Production", URL: api.ProductionURL},
		{Name: "Beta", URL: api.BetaURL},
	}
}

// Settings keys in the profile's store.
const (
	settingServer = "server"           // base URL of the last session
	settingEmail  = "email"            // email of the last sign-in
	settingUser   = "user:"            // + base URL: the last user seen there (JSON), for offline starts
	secretToken   = "nextvisit-token:" // + base URL: the bearer token in Secrets
)

// Core is one profile's session with a Nextvisit server. Its methods are
// safe for concurrent use (the window calls them from worker goroutines).
type Core struct {
	log     *slog.Logger
	secrets platform.Secrets
	http    *http.Client
	tries   int
	db      store.Store
	// embedded is Config.EmbeddedServer, normalized; mem keeps its token.
	embedded string
	mem      *memSecrets

	profile string // journals live under it
	audio   capture.Backend
	sys     system // the OS services recording uses (tests replace them)

	queue   *outbox.Queue
	remotes *remotes
	reach   func(ctx context.Context, server string) error
	causes  sync.Map        // JobID → the typed error of its last failed run in this process
	ehr     *ehrState       // the EHR connections (ehr.go)
	lock    *lockState      // the idle lock's verifier checks and settings (lock.go)
	ret     *retentionState // retention, deleting local data and wiping (retention.go)

	changeMu sync.Mutex
	changed  chan struct{} // closed and replaced when an encounter changes (EncountersChanged)

	mu     sync.Mutex
	server string                // normalized base URL of the current server; "" before any
	email  string                // last email signed in with
	sess   *session              // the signed-in session; nil when signed out
	recs   map[string]*Recording // recordings under way, by encounter id
}

// Open opens the profile: its folder (created 0700), its database, and the
// last server and email used in it. It does not touch the network; call
// Resume to pick up a stored session.
func Open(ctx context.Context, cfg Config) (*Core, error) {
	if cfg.ProfileDir == "" {
		return nil, errors.New("open profile: no profile folder given")
	}
	if cfg.Secrets == nil {
		return nil, errors.New("open profile: no secrets store given")
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("open profile: MaxAttempts is %d; use 0 for the default", cfg.MaxAttempts)
	}
	if err := checkRetentionDays(cfg.RetentionDays); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := platform.EnsureDir(cfg.ProfileDir); err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	db, err := store.Open(ctx, filepath.Join(cfg.ProfileDir, store.FileName), log)
	if err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// One pool for every client the core makes, so Close can release its connections (an idle
		// keep-alive would otherwise hold an embedded sandbox's shutdown for its grace period).
		hc = api.NewHTTPClient()
	}
	c := &Core{log: log, secrets: cfg.Secrets, tries: cfg.MaxAttempts, db: db, mem: &memSecrets{},
		profile: cfg.ProfileDir, audio: cfg.AudioBackend, sys: osSystem(), recs: map[string]*Recording{},
		reach: platform.Reachable, changed: make(chan struct{}), ehr: newEHRState(db, cfg), lock: newLockState(),
		ret: newRetentionState(db, cfg)}
	c.queue = outbox.New(db.SQL(), outbox.Options{
		Logger: log.With("component", "outbox"),
		Owner:  fmt.Sprintf("scribe-%d", os.Getpid()),
		Lease:  cfg.JobLease,
		Probe:  c.probe,
	})
	c.queue.Register(kindCreatePatient, c.createPatientJob)
	c.queue.Register(kindTranscribeGap, c.transcribeGapJob)
	c.queue.Register(kindCreateNote, c.createNoteJob)
	c.queue.Register(kindUpdateNote, c.updateNoteJob)
	c.queue.Register(kindSignNote, c.signNoteJob)
	c.queue.Register(kindUnsignNote, c.unsignNoteJob)
	c.queue.Register(kindEHRPush, c.ehrPushJob)
	c.queue.Register(kindEHRConfirm, c.ehrConfirmJob)
	// Every request goes through the remotes watcher, on a copy of the
	// caller's client so theirs is left as it was.
	watched := *hc
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.remotes = &remotes{next: next, db: db, online: func() { c.queue.SetOnline(true) }, hosts: map[string]*remoteState{}}
	watched.Transport = c.remotes
	c.http = &watched
	if c.audio == nil {
		c.audio = capture.NewPortAudio(log.With("component", "portaudio"))
	}
	if cfg.EmbeddedServer != "" {
		u, err := api.ParseBaseURL(cfg.EmbeddedServer)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open profile: embedded server: %w", err)
		}
		c.embedded = u.String()
	}
	if c.server, err = c.setting(ctx, settingServer); err != nil {
		db.Close()
		return nil, err
	}
	if c.email, err = c.setting(ctx, settingEmail); err != nil {
		db.Close()
		return nil, err
	}
	if err := c.loadLockSettings(ctx, cfg.IdleLock); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// setting reads a setting, "" when it was never set.
func (c *Core) setting(ctx context.Context, key string) (string, error) {
	v, err := c.db.Setting(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("open profile: %w", err)
	}
	return v, nil
}

// Close ends any recording under way and closes the profile's database.
// The session's token stays stored.
func (c *Core) Close() error {
	c.StopPlayback()
	err := c.endRecordings()
	c.http.CloseIdleConnections()
	return errors.Join(err, c.queue.Close(), c.db.Close())
}

// Server is the base URL of the current or last session ("" if none).
func (c *Core) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// LastEmail is the email of the last sign-in in this profile ("" if none).
func (c *Core) LastEmail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.email
}

// UseServer makes serverURL the server that Resume and SignOut act on,
// without remembering it (SignIn does that). The session with any other
// server ends in memory; its stored token stays. Used by the command line's
// --server flag.
func (c *Core) UseServer(serverURL string) error {
	u, err := api.ParseBaseURL(serverURL)
	if err != nil {
		return &inputError{msg: err.Error()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := u.String(); s != c.server {
		c.server, c.sess = s, nil
	}
	return nil
}

// User is the signed-in user, if any.
func (c *Core) User() (api.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return api.User{}, false
	}
	return c.sess.user, true
}

// newClient makes an API client for server with token ("" before sign-in).
func (c *Core) newClient(server, token string) (*api.Client, error) {
	return api.New(server, api.Options{HTTPClient: c.http, Logger: c.log, Token: token, MaxAttempts: c.tries})
}

// secretsFor is where server's token is kept.
func (c *Core) secretsFor(server string) platform.Secrets {
	if server == c.embedded {
		return c.mem
	}
	return c.secrets
}

// memSecrets keeps the embedded sandbox's token for the life of the
// process.
type memSecrets struct {
	mu sync.Mutex
	m  map[string]string
}

var _ platform.Secrets = (*memSecrets)(nil)

func (s *memSecrets) Get(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return "", fmt.Errorf("in-memory secret %q: %w", key, platform.ErrSecretNotFound)
	}
	return v, nil
}

func (s *memSecrets) Set(_ context.Context, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[key] = value
	return nil
}

func (s *memSecrets) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// session is one sign-in: never changed once made, so a pointer to it
// tells sessions apart.
type session struct {
	server string
	token  string
	client *api.Client // sends token
	user   api.User
}

// scope names the account whose roster the local cache holds.
func (s *session) scope() string {
	return fmt.Sprintf("%s#%d", s.server, s.user.Id)
}

// current returns the signed-in session, or ErrSignedOut.
func (c *Core) current() (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil, ErrSignedOut
	}
	return c.sess, nil
}

// failed prepares an error from an API call on s for the caller: a
// rejected token ends the session (here and in Secrets, since it is of no
// further use), and the server's host is attached for Explain.
func (c *Core) failed(ctx context.Context, s *session, op string, err error) error {
	if errors.Is(err, api.ErrUnauthorized) {
		c.log.Info("the server rejected the session's token; signing out", "server", hostOf(s.server))
		c.endSession(ctx, s)
		err = fmt.Errorf("%w: %w", ErrSignedOut, err)
	}
	return &serverError{host: hostOf(s.server), op: op, err: err}
}

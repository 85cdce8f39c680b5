// Package sandbox is a local, stateful stand-in for the Nextvisit API: the same routes under /api/v1,
// backed by SQLite in a folder it owns, seeded with a sample workspace, with a real (if simple) note
// processing pipeline, the live transcription socket, and fault switches for tests.
//
// It is a server: it imports none of the client packages, so it can never agree with the client by
// accident. Its behaviour follows sync/api/openapi.yaml and the published API reference.
package sandbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
	"github.com/nextvisit/scribe/sync/sandbox/live"
	"github.com/nextvisit/scribe/sync/sandbox/recognize"
)

// The sample clinician's sign-in, printed when the sandbox starts.
const (
	SampleEmail    = "clinician@sandbox.local"
	SamplePassword = "sandbox"
)

// DefaultProcessingDelay is how long a new progress note takes to go from created to drafted.
const DefaultProcessingDelay = 3 * time.Second

// shutdownGrace is how long Close lets requests in flight finish.
const shutdownGrace = 2 * time.Second

// Config configures New.
type Config struct {
	// Dir holds the sandbox's state (sandbox.db and the uploaded audio). Created 0700 if missing.
	Dir string
	// Logger receives the access log and pipeline events, never tokens, passwords or patient data.
	// Nothing is logged when nil.
	Logger *slog.Logger
	// ProcessingDelay is how long the note pipeline takes in all, split across its steps
	// (DefaultProcessingDelay when zero).
	ProcessingDelay time.Duration
	// Recognizer is "vad" (the default: reports speech regions) or "openai" (calls OpenAIURL).
	Recognizer string
	// OpenAIURL is the base URL of an OpenAI-compatible transcription server (e.g. whisper.cpp's),
	// required when Recognizer is "openai"; OpenAIModel is the model name it is sent.
	OpenAIURL, OpenAIModel string
	// Now is the clock for every stored time and expiry (time.Now when nil).
	Now func() time.Time
}

// Server is the sandbox. Make one with New; Handler serves it on any listener, Start on its own.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	db       *sql.DB
	faults   *Faults
	rec      recognize.Recognizer
	audioDir string
	secret   []byte // signs audio URLs; kept in the database so URLs outlive a restart
	bootID   string // tells this process's idempotency claims from those of a process that died
	// maxUpload bounds a multipart upload's body (maxAudioBody; tests lower it to exercise the limit
	// without pushing 200 MB through the race detector).
	maxUpload int64
	handler   http.Handler
	pipe      *pipeline
	live      *live.Handler // the live transcription socket
	ehr       *ehrs         // the EHR models, mounted beside the API

	ctx    context.Context // canceled by Close: stops the pipeline and open sockets
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	srv    *http.Server
	closed bool
}

// New opens the sandbox state in cfg.Dir, creating and seeding it on first use, and starts the note
// pipeline. ctx bounds the opening and the life of the background work; Close ends both.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("sandbox: Config.Dir is empty; name a folder for the sandbox's state")
	}
	if cfg.ProcessingDelay < 0 {
		return nil, fmt.Errorf("sandbox: Config.ProcessingDelay is %v; use a positive duration or zero for the default", cfg.ProcessingDelay)
	}
	if cfg.ProcessingDelay == 0 {
		cfg.ProcessingDelay = DefaultProcessingDelay
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rec, err := newRecognizer(cfg, log)
	if err != nil {
		return nil, err
	}
	audioDir := filepath.Join(cfg.Dir, "audio")
	if err := os.MkdirAll(audioDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: create state folder: %w", err)
	}
	// The folder is the sandbox's own and holds (sample) patient data: keep it private even when it
	// already existed.
	for _, d := range []string{cfg.Dir, audioDir} {
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("sandbox: make state folder private: %w", err)
		}
	}
	db, err := sqlitedb.OpenDB(ctx, filepath.Join(cfg.Dir, "sandbox.db"), migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		now:       cfg.Now,
		db:        db,
		faults:    newFaults(),
		rec:       rec,
		audioDir:  audioDir,
		bootID:    rand.Text(),
		maxUpload: maxAudioBody,
	}
	if err := s.seed(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sandbox: seed sample workspace: %w", err)
	}
	if s.secret, err = s.urlSecret(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if s.live, err = s.newLiveHandler(); err != nil {
		s.cancel()
		db.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if s.ehr, err = openEHRs(ctx, cfg); err != nil {
		s.cancel()
		s.live.Close()
		db.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.handler = s.routes()
	s.pipe = newPipeline(s)
	s.wg.Go(func() { s.pipe.run(s.ctx) })
	return s, nil
}

func newRecognizer(cfg Config, log *slog.Logger) (recognize.Recognizer, error) {
	switch strings.ToLower(cfg.Recognizer) {
	case "", "vad":
		return recognize.VAD{}, nil
	case "openai":
		if cfg.OpenAIURL == "" {
			return nil, errors.New("sandbox: the openai recognizer needs Config.OpenAIURL, the base URL of an OpenAI-compatible transcription server such as http://127.0.0.1:8080")
		}
		rec, err := recognize.NewOpenAI(recognize.OpenAIConfig{BaseURL: cfg.OpenAIURL, Model: cfg.OpenAIModel, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("sandbox: openai recognizer: %w", err)
		}
		return rec, nil
	default:
		return nil, fmt.Errorf("sandbox: unknown recognizer %q; use \"vad\" or \"openai\"", cfg.Recognizer)
	}
}

// urlSecret returns the key that signs audio URLs, made once per sandbox folder.
func (s *Server) urlSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh) // crypto/rand.Read never fails
	var secret []byte
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('audio_url_secret', ?) ON CONFLICT DO NOTHING`, fresh); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'audio_url_secret'`).Scan(&secret)
	})
	if err != nil {
		return nil, fmt.Errorf("load audio URL secret: %w", err)
	}
	return secret, nil
}

// Handler serves the API under /api (so /api/v1/...), as the production server does.
func (s *Server) Handler() http.Handler { return s.handler }

// Faults returns the fault switches.
func (s *Server) Faults() *Faults { return s.faults }

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the background until Close.
// It returns the API base URL, e.g. "http://127.0.0.1:53412/api". ctx bounds only the listening.
func (s *Server) Start(ctx context.Context, addr string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("sandbox: Start after Close")
	}
	if s.srv != nil {
		return "", errors.New("sandbox: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests, and the live sockets hijacked from them, end when the sandbox closes.
		BaseContext: func(net.Listener) context.Context { return s.ctx },
	}
	srv := s.srv
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox server stopped", "err", err)
		}
	})
	return baseURL(ln.Addr()), nil
}

// baseURL names a listener by a loopback address when it listens on all of them.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/api"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/api"}
	return u.String()
}

// Close stops serving (letting requests in flight finish for up to shutdownGrace), ends live sessions,
// stops the pipeline and closes the database. Notes still in processing resume on the next New with
// the same Dir.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.srv
	s.mu.Unlock()

	var errs []error
	if srv != nil {
		// Requests in flight get a grace period to finish normally. Connections still open after it
		// (a slow upload, or a client's spare connection that never sent a request, which Shutdown
		// counts as busy for five seconds) are cut.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), shutdownGrace)
		if err := srv.Shutdown(ctx); err != nil {
			s.log.Warn("sandbox: cutting connections still open after the shutdown grace period", "grace", shutdownGrace)
			_ = srv.Close()
		}
		cancel()
	}
	// Then the background work and the live sockets (which Shutdown does not track) end.
	s.cancel()
	// Hijacked sockets outlive Shutdown; wait for their sessions before closing the database.
	if err := s.live.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: close live sessions: %w", err))
	}
	s.wg.Wait()
	if err := s.ehr.close(); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: close the EHR models: %w", err))
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: close database: %w", err))
	}
	return errors.Join(errs...)
}

// EffectCount reports how many effects requests with this Idempotency-Key have had (across users):
// 1 after any number of retries of one create, 0 for an unknown key.
func (s *Server) EffectCount(idempotencyKey string) int {
	var n int
	err := s.db.QueryRowContext(context.WithoutCancel(s.ctx), `SELECT COALESCE(SUM(effects), 0) FROM idempotency_keys WHERE key = ?`, idempotencyKey).Scan(&n)
	if err != nil {
		s.log.Error("count idempotent effects", "err", err)
		return 0
	}
	return n
}

// routes maps the API. Every route but login and the signed audio download needs a bearer token.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request, principal)) {
		mux.HandleFunc(pattern, s.authed(fn))
	}
	mux.HandleFunc("POST /api/v1/tokens", s.createToken)
	h("GET /api/v1/tokens", s.listTokens)
	h("DELETE /api/v1/tokens/current", s.revokeCurrentToken)
	h("DELETE /api/v1/tokens/{id}", s.revokeToken)

	h("GET /api/v1/user", s.getUser)
	h("PUT /api/v1/user", s.updateUser)
	h("GET /api/v1/team/users", s.listTeamUsers)

	h("GET /api/v1/patients", s.listPatients)
	h("POST /api/v1/patients", s.createPatient)
	h("GET /api/v1/patients/{id}", s.getPatient)
	h("PUT /api/v1/patients/{id}", s.updatePatient)
	h("DELETE /api/v1/patients/{id}", s.deletePatient)

	h("GET /api/v1/templates", s.listTemplates)

	h("GET /api/v1/progress-notes", s.listNotes)
	h("POST /api/v1/progress-notes", s.createNote)
	h("GET /api/v1/progress-notes/{id}", s.getNote)
	h("PUT /api/v1/progress-notes/{id}", s.updateNote)
	h("DELETE /api/v1/progress-notes/{id}", s.deleteNote)
	h("PUT /api/v1/progress-notes/{id}/sign", s.signNote)
	h("PUT /api/v1/progress-notes/{id}/unsign", s.unsignNote)
	h("GET /api/v1/progress-notes/{id}/audio-url", s.noteAudioURL)
	mux.HandleFunc("GET /api/files/audio/{id}", s.serveAudio)

	h("POST /api/v1/transcriptions", s.transcribe)
	h("POST /api/v1/transcription/token", s.createStreamingToken)
	mux.Handle("GET /api/v1/transcription/stream", s.live)

	h("GET /api/v1/billing/plan", s.billingPlan)
	h("GET /api/v1/billing/usage", s.billingUsage)
	h("GET /api/v1/billing/estimate", s.billingEstimate)
	top := http.NewServeMux()
	s.ehr.mount(top)
	top.Handle("/", s.serve(mux))
	return top
}

// Package nexhealth is the sandbox's model of the NexHealth Synchronizer API, after its public
// documentation: POST /authenticates exchanges the API key (sent as the Authorization header itself)
// for a bearer JWT; every other call is scoped by the subdomain and location_id query parameters (403
// for a missing or foreign subdomain, 404 for a location the institution lacks); responses are the
// {code, description, data, error, count} envelope; a document write's 201 means accepted, and the
// document is confirmed (or fails) a moment later, seen through its status; /sync_status reports the
// read and write services. State is SQLite in its own folder.
//
// Mount it under a prefix with http.StripPrefix, e.g.
// mux.Handle("/nexhealth/", http.StripPrefix("/nexhealth", s.Handler())).
package nexhealth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/internal/ehrkit"
	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// The sandbox institution, as the Developer Portal would show it.
const (
	// SampleAPIKey is the sandbox API key, as "Create sandbox API key" would show it once.
	SampleAPIKey = "nex_sandbox_8d2f61c04b7a4e59b3a0c6e1f97d2a54"
	// SampleSubdomain is the sandbox institution's subdomain.
	SampleSubdomain = "riverside-bh-demo"
	// SampleLocationID is the main location; OtherLocationID a second one with its own roster.
	SampleLocationID = 2101
	OtherLocationID  = 2102
)

const (
	// DefaultTokenTTL is a bearer token's lifetime in the sandbox (production's is 1 h).
	DefaultTokenTTL = 24 * time.Hour
	// DefaultProcessingDelay is how long an accepted document waits before it is confirmed.
	DefaultProcessingDelay = time.Second
)

// Config configures New.
type Config struct {
	// Dir holds the model's state (nexhealth.db). Created 0700 if missing.
	Dir string
	// Logger receives the access log, never keys, tokens or chart content. Nothing is logged when nil.
	Logger *slog.Logger
	// Now is the clock for stored times, token expiry and document confirmation (time.Now when nil).
	Now func() time.Time
	// TokenTTL is the bearer token lifetime (DefaultTokenTTL when zero).
	TokenTTL time.Duration
	// ProcessingDelay is how long a document stays pending (DefaultProcessingDelay when zero).
	ProcessingDelay time.Duration
}

// Server is the NexHealth model. Handler serves it relative to its mount point.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	db      *sql.DB
	keys    *ehrkit.Keys
	faults  *ehrkit.Faults
	secret  []byte // signs bearer tokens; kept in the database so tokens outlive a restart
	handler http.Handler

	ctx    context.Context // canceled by Close; bounds EffectCount's query
	cancel context.CancelFunc

	mu              sync.Mutex
	tokenTTL        time.Duration
	processingDelay time.Duration
	failNext        int
	readDownSince   time.Time // zero: the reads service is green
	writeDownSince  time.Time // zero: the writes service is green
}

// Document is a file as it was written to a patient's document center.
type Document struct {
	ID             int64
	PatientID      int64
	LocationID     int64
	DocumentTypeID int64 // 0 when none was given
	// ProviderID and VisitDate are the sandbox's extension fields (provider_id, visit_date) so the chart
	// audit can check where a note was filed; NexHealth itself keeps only the file. 0 and "" when not sent.
	ProviderID     int64
	VisitDate      string
	FileName       string
	Content        []byte // the PDF as uploaded
	Status         string // pending, completed or failed, as of the server's clock
	CreatedAt      time.Time
	ConfirmAt      time.Time // when it leaves pending
	IdempotencyKey string
}

// New opens the model's state in cfg.Dir, creating and seeding it on first use.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := sqlitedb.PrepareDir(cfg.Dir); err != nil {
		return nil, fmt.Errorf("nexhealth: %w", err)
	}
	if cfg.TokenTTL < 0 || cfg.ProcessingDelay < 0 {
		return nil, errors.New("nexhealth: Config.TokenTTL and Config.ProcessingDelay must be positive, or zero for the defaults")
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
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
	db, err := sqlitedb.OpenDB(ctx, filepath.Join(cfg.Dir, "nexhealth.db"), migrations)
	if err != nil {
		return nil, fmt.Errorf("nexhealth: %w", err)
	}
	s := &Server{cfg: cfg, log: log, now: cfg.Now, db: db, keys: ehrkit.NewKeys(db, cfg.Now), faults: ehrkit.NewFaults(),
		tokenTTL: cfg.TokenTTL, processingDelay: cfg.ProcessingDelay}
	if err := s.seed(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("nexhealth: seed: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'token_secret'`).Scan(&s.secret); err != nil {
		db.Close()
		return nil, fmt.Errorf("nexhealth: read token secret: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.handler = ehrkit.Serve(log, s.faults, s.routes(), writeError)
	return s, nil
}

// Handler serves the API relative to its mount point (/authenticates, /patients, …).
func (s *Server) Handler() http.Handler { return s.handler }

// Faults are the switches shared by every sandbox EHR (503 rate, 429 bursts, lost replies).
func (s *Server) Faults() *ehrkit.Faults { return s.faults }

// SetTokenTTL sets the lifetime of bearer tokens issued from now on (0 restores Config.TokenTTL), to
// test expiry without waiting a day.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		d = s.cfg.TokenTTL
	}
	s.tokenTTL = d
}

// SetProcessingDelay sets how long documents accepted from now on stay pending (0 restores
// Config.ProcessingDelay).
func (s *Server) SetProcessingDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		d = s.cfg.ProcessingDelay
	}
	s.processingDelay = d
}

// FailNextDocuments makes the next n accepted documents end "failed" instead of "completed", as when
// the health record system rejects a write after NexHealth accepted it.
func (s *Server) FailNextDocuments(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = max(n, 0)
}

// SetReadsUp and SetWritesUp turn the sync's reads or writes service green (true) or red (false). A red
// service's status time stays at the moment it went down; writes are refused while writes are red.
func (s *Server) SetReadsUp(up bool) { s.setService(&s.readDownSince, up) }

// SetWritesUp: see SetReadsUp.
func (s *Server) SetWritesUp(up bool) { s.setService(&s.writeDownSince, up) }

func (s *Server) setService(since *time.Time, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case up:
		*since = time.Time{}
	case since.IsZero():
		*since = s.now()
	}
}

// Close releases the database.
func (s *Server) Close() error {
	s.cancel()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("nexhealth: close database: %w", err)
	}
	return nil
}

// EditPatient changes a patient's phone number and bumps updated_at, as an edit at the front desk
// would, so roster sync with updated_since has something new to find.
func (s *Server) EditPatient(ctx context.Context, patientID int64, phone string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE patients SET phone_number = ?, updated_at = ? WHERE id = ?`,
		phone, sqlitedb.FormatTime(s.now()), patientID)
	if err != nil {
		return fmt.Errorf("nexhealth: edit patient: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("nexhealth: edit patient: no patient has id %d", patientID)
	}
	return nil
}

// Documents lists every document written to a patient, oldest first, with its status as of now.
func (s *Server) Documents(ctx context.Context) ([]Document, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+docColumns+`, content FROM documents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		d, err := s.scanDoc(rows, true)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return out, nil
}

// EffectCount reports how many times requests with idempotencyKey wrote a document (0 or 1; more would
// be a duplicate). It reads 0 after Close.
func (s *Server) EffectCount(idempotencyKey string) int {
	n, err := s.keys.Effects(s.ctx, idempotencyKey)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Error("read effect count", "err", err)
		}
		return 0
	}
	return n
}

const docColumns = `id, patient_id, location_id, COALESCE(document_type_id, 0), COALESCE(provider_id, 0), COALESCE(visit_date, ''),
	file_name, outcome, COALESCE(idempotency_key, ''), created_at, confirm_at`

type scanner interface{ Scan(dest ...any) error }

func (s *Server) scanDoc(r scanner, withContent bool) (Document, error) {
	var d Document
	var outcome, created, confirm string
	dest := []any{&d.ID, &d.PatientID, &d.LocationID, &d.DocumentTypeID, &d.ProviderID, &d.VisitDate,
		&d.FileName, &outcome, &d.IdempotencyKey, &created, &confirm}
	if withContent {
		dest = append(dest, &d.Content)
	}
	if err := r.Scan(dest...); err != nil {
		return Document{}, fmt.Errorf("read document: %w", err)
	}
	var err error
	if d.CreatedAt, err = sqlitedb.ParseTime(created); err != nil {
		return Document{}, err
	}
	if d.ConfirmAt, err = sqlitedb.ParseTime(confirm); err != nil {
		return Document{}, err
	}
	d.Status = outcome
	if s.now().Before(d.ConfirmAt) {
		d.Status = "pending"
	}
	return d, nil
}

func newSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

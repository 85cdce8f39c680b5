// Package simplepractice is the sandbox's model of SimplePractice as Nextvisit reaches it: an API token
// pasted by the admin (checked with a who-am-I call), the practice's clinicians, a client lookup (the
// roster read is "in development" at SimplePractice, so there is no full listing), and note push with
// Idempotency-Key. SimplePractice publishes no API reference; the routes follow our partner contract
// as described in DESIGN.md "EHR connectors". State is SQLite in its own folder.
//
// Mount it under a prefix with http.StripPrefix, e.g.
// mux.Handle("/simplepractice/", http.StripPrefix("/simplepractice", s.Handler())).
package simplepractice

import (
	"context"
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

// SampleToken is the sandbox practice's API token, as an admin would paste it from SimplePractice.
const SampleToken = "sp_sandbox_3f9c1a7e2b6d4058a1c9e7f2d4b6a8c0"

// Config configures New.
type Config struct {
	// Dir holds the model's state (simplepractice.db). Created 0700 if missing.
	Dir string
	// Logger receives the access log, never tokens or chart content. Nothing is logged when nil.
	Logger *slog.Logger
	// Now is the clock for stored times (time.Now when nil).
	Now func() time.Time
}

// Server is the SimplePractice model. Handler serves it relative to its mount point.
type Server struct {
	log     *slog.Logger
	now     func() time.Time
	db      *sql.DB
	keys    *ehrkit.Keys
	faults  *ehrkit.Faults
	handler http.Handler

	ctx    context.Context // canceled by Close; bounds EffectCount's query
	cancel context.CancelFunc

	mu      sync.Mutex
	revoked bool
}

// Document is a note as it landed in a client's chart.
type Document struct {
	ID             int64
	PatientID      int64 // the SimplePractice client id
	ProviderID     int64 // the SimplePractice clinician id
	VisitDate      string
	Content        string
	Format         string
	Version        int // 1, then one more for each replacement
	CreatedAt      time.Time
	UpdatedAt      time.Time
	IdempotencyKey string // of the request that created it
}

// New opens the model's state in cfg.Dir, creating and seeding it on first use.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := sqlitedb.PrepareDir(cfg.Dir); err != nil {
		return nil, fmt.Errorf("simplepractice: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := sqlitedb.OpenDB(ctx, filepath.Join(cfg.Dir, "simplepractice.db"), migrations)
	if err != nil {
		return nil, fmt.Errorf("simplepractice: %w", err)
	}
	s := &Server{log: log, now: cfg.Now, db: db, keys: ehrkit.NewKeys(db, cfg.Now), faults: ehrkit.NewFaults()}
	if err := s.seed(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("simplepractice: seed: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.handler = ehrkit.Serve(log, s.faults, s.routes(), writeError)
	return s, nil
}

// Handler serves the API relative to its mount point (/api/me, /api/notes, …).
func (s *Server) Handler() http.Handler { return s.handler }

// Faults are the model's fault switches.
func (s *Server) Faults() *ehrkit.Faults { return s.faults }

// SetTokenRevoked makes SampleToken fail as revoked (true) or work again (false), as when the admin
// deletes the token in SimplePractice.
func (s *Server) SetTokenRevoked(revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = revoked
}

func (s *Server) tokenRevoked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked
}

// Close releases the database.
func (s *Server) Close() error {
	s.cancel()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("simplepractice: close database: %w", err)
	}
	return nil
}

// Documents lists every note in the charts, oldest first.
func (s *Server) Documents(ctx context.Context) ([]Document, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+noteColumns+` FROM notes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		d, err := scanNote(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	return out, nil
}

// EffectCount reports how many times requests with idempotencyKey changed a chart (0 or 1; more
// would be a duplicate). It reads 0 after Close.
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

const noteColumns = `id, client_id, clinician_id, date, body, format, version, created_at, updated_at, COALESCE(idempotency_key, '')`

type scanner interface{ Scan(dest ...any) error }

func scanNote(r scanner) (Document, error) {
	var d Document
	var created, updated string
	if err := r.Scan(&d.ID, &d.PatientID, &d.ProviderID, &d.VisitDate, &d.Content, &d.Format, &d.Version,
		&created, &updated, &d.IdempotencyKey); err != nil {
		return Document{}, fmt.Errorf("read note: %w", err)
	}
	var err error
	if d.CreatedAt, err = sqlitedb.ParseTime(created); err != nil {
		return Document{}, err
	}
	if d.UpdatedAt, err = sqlitedb.ParseTime(updated); err != nil {
		return Document{}, err
	}
	return d, nil
}

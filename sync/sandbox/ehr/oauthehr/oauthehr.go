// Package oauthehr is the sandbox's model of an EHR reached by OAuth 2.0: "Osmind" or "Kalix". Each is an
// authorization server built on go-oauth2/oauth2 (authorization code with PKCE S256 required, loopback
// redirect URIs per RFC 8252, refresh tokens, RFC 8414 discovery, an HTML login and consent page) in
// front of a small chart API: providers, patients, and notes pushed with Idempotency-Key.
//
// Neither EHR publishes developer documentation, so the paths here are the sandbox's own; a connector
// finds the OAuth endpoints through discovery and takes the API base from configuration. Under the
// prefix (default /osmind or /kalix):
//
//	GET  /.well-known/oauth-authorization-server   RFC 8414 metadata (also at /.well-known/oauth-authorization-server/osmind)
//	GET  /oauth/authorize                          login page, then consent page (HTML)
//	POST /oauth/login, /oauth/consent              the pages' forms
//	POST /oauth/token                              authorization_code (with code_verifier) and refresh_token grants
//	GET  /api/providers                            patients.read
//	GET  /api/patients?updated_since=RFC3339       patients.read; answers {data, server_time}
//	GET  /api/patients/{id}/notes                  patients.read; latest version of each note
//	POST /api/patients/{id}/notes                  notes.write; {provider_id, visit_date, content, content_type, external_id}
//	PUT  /api/patients/{id}/notes/{note}           notes.write; {content[, content_type]} adds a version
//
// Writes honour Idempotency-Key: a retry with the same key and body gets the first answer again
// (Idempotent-Replayed: true) and no second effect.
package oauthehr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-oauth2/oauth2/v4/server"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/internal/ehrkit"
	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

// The sample EHR administrator who logs in on the authorization page. The password is the same for
// both EHRs; the email names the EHR (see AdminEmail).
const (
	AdminPassword = "ehr-sandbox"
	// ClientID is the one registered OAuth client: Nextvisit Scribe, a public client (no secret, RFC 8252).
	ClientID = "nextvisit-scribe"
	// ScopePatientsRead lets a token read providers, patients and notes; ScopeNotesWrite lets it push.
	ScopePatientsRead = "patients.read"
	ScopeNotesWrite   = "notes.write"
)

// Token lifetimes unless Faults shorten the access token's.
const (
	AccessTokenTTL  = time.Hour
	RefreshTokenTTL = 30 * 24 * time.Hour
	CodeTTL         = 10 * time.Minute
	sessionTTL      = 12 * time.Hour
)

// Names are the EHRs this package can model.
var Names = []string{"Osmind", "Kalix"}

// AdminEmail is the sample administrator's login for the named EHR: admin@osmind.sandbox.local or
// admin@kalix.sandbox.local.
func AdminEmail(name string) string { return "admin@" + strings.ToLower(name) + ".sandbox.local" }

// Config configures one EHR.
type Config struct {
	// Name is "Osmind" or "Kalix".
	Name string
	// Dir is the folder for this EHR's SQLite file (<name>.db); created 0700 if missing.
	Dir string
	// Prefix is the mount point the handler serves under; default "/" + lower-case Name ("/osmind").
	Prefix string
	// Issuer is the absolute URL of the mount point ("https://host/osmind"). When empty it is worked
	// out from each request's Host, which is right for httptest and the local sandbox.
	Issuer string
	Logger *slog.Logger
	// Now is the EHR's clock for token expiry and record times; default time.Now. Tests move it to expire
	// tokens without waiting.
	Now func() time.Time
}

// Server is one running EHR.
type Server struct {
	name    string
	prefix  string
	issuer  string
	log     *slog.Logger
	now     func() time.Time
	db      *sql.DB
	ctx     context.Context // for EffectCount, which has no request to take one from
	oauth   *server.Server
	faults  *Faults
	handler http.Handler

	mu       sync.Mutex
	sessions map[[32]byte]session // by SHA-256 of the cookie value
}

// New opens (creating and seeding if new) the EHR's database in cfg.Dir.
func New(ctx context.Context, cfg Config) (*Server, error) {
	known := false
	for _, n := range Names {
		known = known || cfg.Name == n
	}
	if !known {
		return nil, fmt.Errorf("oauthehr: Name %q is not a modelled EHR; use one of %s", cfg.Name, strings.Join(Names, ", "))
	}
	if cfg.Dir == "" {
		return nil, errors.New("oauthehr: Config.Dir is empty; give a folder for the EHR's database")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/" + strings.ToLower(cfg.Name)
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("oauthehr: Prefix %q must start with / and not end with one (like /osmind)", cfg.Prefix)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create EHR folder: %w", err)
	}
	db, err := sqlitedb.OpenDB(ctx, filepath.Join(cfg.Dir, strings.ToLower(cfg.Name)+".db"), migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", cfg.Name, err)
	}
	s := &Server{
		name:     cfg.Name,
		prefix:   cfg.Prefix,
		issuer:   strings.TrimSuffix(cfg.Issuer, "/"),
		log:      cfg.Logger.With("ehr", cfg.Name),
		now:      cfg.Now,
		db:       db,
		ctx:      context.WithoutCancel(ctx),
		faults:   newFaults(),
		sessions: map[[32]byte]session{},
	}
	if err := s.seed(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("seed %s: %w", cfg.Name, err)
	}
	s.oauth = s.newOAuthServer()
	s.handler = s.routes()
	return s, nil
}

// Handler serves the EHR under its prefix (mount it at Prefix + "/"), plus the RFC 8414 path-inserted
// metadata at /.well-known/oauth-authorization-server + Prefix if the caller routes that path to it too.
func (s *Server) Handler() http.Handler { return s.handler }

// Faults are the EHR's fault switches.
func (s *Server) Faults() *Faults { return s.faults }

// Prefix is where the handler is mounted.
func (s *Server) Prefix() string { return s.prefix }

// Close closes the database.
func (s *Server) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s database: %w", s.name, err)
	}
	return nil
}

// EffectCount is how many times requests with this Idempotency-Key changed the chart (0 or 1 when the
// key did its job).
func (s *Server) EffectCount(idempotencyKey string) int {
	var n int
	if err := s.db.QueryRowContext(s.ctx, `SELECT COALESCE(SUM(effects), 0) FROM idempotency_keys WHERE key = ?`, idempotencyKey).Scan(&n); err != nil {
		s.log.Error("count idempotent effects", "err", err)
		return 0
	}
	return n
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	p := s.prefix
	mux.HandleFunc("GET "+p+"/.well-known/oauth-authorization-server", s.handleMetadata)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server"+p, s.handleMetadata)
	mux.HandleFunc("GET "+p+"/oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST "+p+"/oauth/login", s.handleLogin)
	mux.HandleFunc("POST "+p+"/oauth/consent", s.handleConsent)
	mux.Handle("POST "+p+"/oauth/token", s.faults.Guard(http.HandlerFunc(s.handleToken), faultError))
	api := func(pattern, scope string, h func(http.ResponseWriter, *http.Request, grant)) {
		mux.Handle(pattern, s.faults.Guard(s.bearer(scope, h), faultError))
	}
	api("GET "+p+"/api/providers", ScopePatientsRead, s.handleProviders)
	api("GET "+p+"/api/patients", ScopePatientsRead, s.handlePatients)
	api("GET "+p+"/api/patients/{id}/notes", ScopePatientsRead, s.handleListNotes)
	api("POST "+p+"/api/patients/{id}/notes", ScopeNotesWrite, s.handlePushNote)
	api("PUT "+p+"/api/patients/{id}/notes/{note}", ScopeNotesWrite, s.handleReplaceNote)
	// The log names the route, never the path or query: they carry patient ids and authorization
	// codes. The faults are on the API and token routes only (above).
	return ehrkit.Serve(s.log, nil, mux, faultError)
}

// issuerFor is the issuer URL as the client reached it.
func (s *Server) issuerFor(r *http.Request) string {
	if s.issuer != "" {
		return s.issuer
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.prefix
}

// metadata is the RFC 8414 authorization server metadata.
type metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ServiceDocumentation              string   `json:"service_documentation"`
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	iss := s.issuerFor(r)
	writeJSON(w, http.StatusOK, metadata{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + "/oauth/authorize",
		TokenEndpoint:                     iss + "/oauth/token",
		ScopesSupported:                   []string{ScopePatientsRead, ScopeNotesWrite},
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		TokenEndpointAuthMethodsSupported: []string{"none"},
		ServiceDocumentation:              "The " + s.name + " sandbox: API under " + iss + "/api (providers, patients, patients/{id}/notes).",
	})
}

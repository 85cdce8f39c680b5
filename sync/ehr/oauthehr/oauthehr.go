// Package oauthehr is the ehr.Connector for the EHRs reached by OAuth 2.0:
// Osmind and Kalix. Neither publishes developer documentation, so the API
// base and the issuer come from configuration (the partner agreement) and the
// OAuth endpoints from the issuer's RFC 8414 metadata.
//
// Connecting is oauthflow's: Discover the issuer, Authorize in the browser,
// then New with the token it returned. The connector keeps the token fresh
// and tells OnToken each rotated one, which the app must store.
package oauthehr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/oauthflow"
	"golang.org/x/oauth2"
)

var _ ehr.Connector = (*Connector)(nil)

// Scopes are the permissions Scribe asks for: read the roster and
// providers, write notes.
var Scopes = []string{ScopePatientsRead, ScopeNotesWrite}

// The scopes, by name.
const (
	ScopePatientsRead = "patients.read"
	ScopeNotesWrite   = "notes.write"
)

// maxBody bounds what is read of an API answer.
const maxBody = 8 << 20

// Config is one connection to Osmind or Kalix.
type Config struct {
	// Kind is ehr.Osmind or ehr.Kalix.
	Kind ehr.Kind
	// Issuer is the EHR's OAuth issuer URL, like https://ehr.example/osmind.
	Issuer string
	// APIBase is the chart API's base URL, like https://ehr.example/osmind/api.
	APIBase  string
	ClientID string
	// TokenEndpoint is the token endpoint found at connect time; when empty
	// it is discovered from Issuer the first time a token needs refreshing.
	TokenEndpoint string
	// Token is the connection's token, from oauthflow.Authorize or storage.
	Token *oauth2.Token
	// OnToken is told each refreshed token (refresh tokens rotate: store it).
	OnToken func(ctx context.Context, tok *oauth2.Token)
	// HTTPClient sends API, discovery and token requests; ehr.NewHTTPClient()
	// when nil.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock token expiry is judged by; default time.Now.
	Now func() time.Time
}

// Connector talks to one Osmind or Kalix connection.
type Connector struct {
	cfg  Config
	api  string // APIBase without a trailing slash
	http *http.Client
	log  *slog.Logger

	mu   sync.Mutex
	ts   *oauthflow.TokenSource
	gone bool // disconnected
}

// New checks cfg; it makes no request.
func New(cfg Config) (*Connector, error) {
	if cfg.Kind != ehr.Osmind && cfg.Kind != ehr.Kalix {
		return nil, fmt.Errorf("oauthehr: Kind %q is not an OAuth EHR; use %q or %q", cfg.Kind, ehr.Osmind, ehr.Kalix)
	}
	for name, v := range map[string]string{"Issuer": cfg.Issuer, "APIBase": cfg.APIBase} {
		// https unless loopback: tokens and chart content travel there.
		if _, err := ehr.BaseURL(v, "https://ehr.example/osmind"); err != nil {
			return nil, fmt.Errorf("oauthehr: Config.%s from the %s connection settings: %w", name, cfg.Kind, err)
		}
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oauthehr: Config.ClientID is empty; give the client id registered with the EHR")
	}
	if cfg.Token == nil {
		return nil, fmt.Errorf("oauthehr: Config.Token is nil; connect to %s first (oauthflow.Authorize)", cfg.Kind)
	}
	if cfg.HTTPClient == nil {
		// Not http.DefaultClient: it would wait for ever on a hung EHR.
		cfg.HTTPClient = ehr.NewHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{cfg: cfg, api: strings.TrimSuffix(cfg.APIBase, "/"), http: cfg.HTTPClient, log: cfg.Logger.With("ehr", string(cfg.Kind))}
	if cfg.TokenEndpoint != "" {
		c.ts = c.newSource(cfg.TokenEndpoint)
	}
	return c, nil
}

// Kind is Osmind or Kalix.
func (c *Connector) Kind() ehr.Kind { return c.cfg.Kind }

func (c *Connector) newSource(tokenEndpoint string) *oauthflow.TokenSource {
	return oauthflow.NewTokenSource(oauthflow.SourceConfig{ClientID: c.cfg.ClientID, TokenEndpoint: tokenEndpoint,
		HTTPClient: c.http, Now: c.cfg.Now, OnRefresh: c.cfg.OnToken}, c.cfg.Token)
}

// source is the token source, discovering the token endpoint the first time.
func (c *Connector) source(ctx context.Context) (*oauthflow.TokenSource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return nil, fmt.Errorf("%s: %w: the connection was disconnected", c.cfg.Kind, ehr.ErrReauthorize)
	}
	if c.ts == nil {
		md, err := oauthflow.Discover(ctx, c.http, c.cfg.Issuer)
		if err != nil {
			return nil, err
		}
		c.ts = c.newSource(md.TokenEndpoint)
	}
	return c.ts, nil
}

// Validate checks the token by listing providers, and that it was granted
// both scopes Scribe needs.
func (c *Connector) Validate(ctx context.Context) (ehr.Account, error) {
	if _, err := c.Providers(ctx); err != nil {
		return ehr.Account{}, fmt.Errorf("validate: %w", err)
	}
	ts, err := c.source(ctx)
	if err != nil {
		return ehr.Account{}, fmt.Errorf("validate: %w", err)
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		return ehr.Account{}, fmt.Errorf("validate: %w", err)
	}
	// The token answer names the granted scope when it differs from the
	// request (RFC 6749 §5.1); a stored token may have lost it.
	if granted, ok := tok.Extra("scope").(string); ok && granted != "" {
		for _, want := range Scopes {
			if !strings.Contains(" "+granted+" ", " "+want+" ") {
				return ehr.Account{}, fmt.Errorf("validate: %w: %s was not granted (granted: %s); connect to %s again and allow it",
					ehr.ErrScope, want, granted, c.displayName())
			}
		}
	}
	return ehr.Account{Name: c.displayName()}, nil
}

func (c *Connector) displayName() string {
	if c.cfg.Kind == ehr.Kalix {
		return "Kalix"
	}
	return "Osmind"
}

type providerJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Providers lists the EHR's clinicians.
func (c *Connector) Providers(ctx context.Context) ([]ehr.Provider, error) {
	var out struct {
		Data []providerJSON `json:"data"`
	}
	if err := c.do(ctx, "list providers", http.MethodGet, "/providers", nil, nil, "", &out); err != nil {
		return nil, err
	}
	ps := make([]ehr.Provider, 0, len(out.Data))
	for _, p := range out.Data {
		ps = append(ps, ehr.Provider{ID: p.ID, Name: p.Name, Email: p.Email})
	}
	return ps, nil
}

type patientJSON struct {
	ID          string `json:"id"`
	FirstName   string `json:"first_name"`
	MiddleName  string `json:"middle_name"`
	LastName    string `json:"last_name"`
	DateOfBirth string `json:"date_of_birth"`
	UpdatedAt   string `json:"updated_at"`
}

// Roster lists patients updated after since (all when zero); the time to
// pass next is the EHR's own clock, so the two clocks never need to agree.
func (c *Connector) Roster(ctx context.Context, since time.Time) ([]ehr.Patient, time.Time, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("updated_since", since.UTC().Format(time.RFC3339Nano))
	}
	var out struct {
		Data       []patientJSON `json:"data"`
		ServerTime string        `json:"server_time"`
	}
	if err := c.do(ctx, "list patients", http.MethodGet, "/patients", q, nil, "", &out); err != nil {
		return nil, time.Time{}, err
	}
	next, err := time.Parse(time.RFC3339Nano, out.ServerTime)
	if err != nil {
		return nil, time.Time{}, ehr.BadReply(c.cfg.Kind, "list patients", fmt.Sprintf("the answer's server_time %q is not an RFC 3339 time", out.ServerTime))
	}
	ps := make([]ehr.Patient, 0, len(out.Data))
	for _, p := range out.Data {
		up, err := time.Parse(time.RFC3339Nano, p.UpdatedAt)
		if err != nil {
			return nil, time.Time{}, ehr.BadReply(c.cfg.Kind, "list patients", fmt.Sprintf("a patient's updated_at %q is not an RFC 3339 time", p.UpdatedAt))
		}
		ps = append(ps, ehr.Patient{ID: p.ID, FirstName: p.FirstName, MiddleName: p.MiddleName, LastName: p.LastName,
			DateOfBirth: p.DateOfBirth, UpdatedAt: up})
	}
	return ps, next, nil
}

type noteJSON struct {
	ID        int64  `json:"id"`
	PatientID string `json:"patient_id"`
	Version   int    `json:"version"`
}

// Push creates the note (Append, or the first push) or adds a version to
// the previous one (Replace). The ref is "{patient}/{note}".
func (c *Connector) Push(ctx context.Context, n ehr.Note, opt ehr.PushOptions) (ehr.Ref, error) {
	if n.PatientID == "" || n.ProviderID == "" {
		return "", errors.New("push note: the note needs the EHR's patient id and provider id (map the clinician to a provider)")
	}
	if err := opt.Check(); err != nil {
		return "", fmt.Errorf("push note: %w", err)
	}
	content := ehr.Body(n, opt.Content)
	var out noteJSON
	if opt.Update == ehr.Replace && opt.Previous != "" {
		patient, note, err := parseRef(opt.Previous)
		if err != nil {
			return "", fmt.Errorf("replace note: %w", err)
		}
		if patient != n.PatientID {
			return "", fmt.Errorf("replace note: the previous push went to patient %s, this one is for %s; push it as a new note (append)", patient, n.PatientID)
		}
		body := map[string]string{"content": content, "content_type": "text/plain"}
		if err := c.do(ctx, "replace note", http.MethodPut, notePath(patient)+"/"+strconv.FormatInt(note, 10), nil, body, opt.IdempotencyKey, &out); err != nil {
			return "", err
		}
	} else {
		body := map[string]string{"provider_id": n.ProviderID, "visit_date": n.VisitDate, "content": content,
			"content_type": "text/plain", "external_id": opt.IdempotencyKey}
		if err := c.do(ctx, "push note", http.MethodPost, notePath(n.PatientID), nil, body, opt.IdempotencyKey, &out); err != nil {
			return "", err
		}
	}
	if out.ID <= 0 {
		return "", ehr.BadReply(c.cfg.Kind, "push note", "the answer names no note id")
	}
	return makeRef(n.PatientID, out.ID), nil
}

// Confirm reads the note back from the patient's chart.
func (c *Connector) Confirm(ctx context.Context, ref ehr.Ref) (ehr.Status, error) {
	patient, note, err := parseRef(ref)
	if err != nil {
		return "", fmt.Errorf("confirm note: %w", err)
	}
	var out struct {
		Data []noteJSON `json:"data"`
	}
	if err := c.do(ctx, "confirm note", http.MethodGet, notePath(patient), nil, nil, "", &out); err != nil {
		return "", err
	}
	for _, d := range out.Data {
		if d.ID == note {
			return ehr.Confirmed, nil
		}
	}
	return "", fmt.Errorf("confirm note: %w: note %d is not in patient %s's chart", ehr.ErrNotFound, note, patient)
}

// Disconnect forgets the tokens. Neither EHR offers token revocation (its
// metadata names no revocation_endpoint), so the grant lapses with its
// refresh token; the admin can also remove Scribe in the EHR.
func (c *Connector) Disconnect(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone = true
	if c.ts != nil {
		c.ts.Forget()
	}
	return nil
}

func notePath(patient string) string { return "/patients/" + url.PathEscape(patient) + "/notes" }

func makeRef(patient string, note int64) ehr.Ref {
	return ehr.Ref(url.PathEscape(patient) + "/" + strconv.FormatInt(note, 10))
}

func parseRef(ref ehr.Ref) (patient string, note int64, err error) {
	p, n, ok := strings.Cut(string(ref), "/")
	if ok {
		patient, err = url.PathUnescape(p)
	}
	if ok && err == nil {
		note, err = strconv.ParseInt(n, 10, 64)
	}
	if !ok || err != nil || patient == "" || note <= 0 {
		return "", 0, fmt.Errorf("%q is not a reference this connector made (patient/note)", ref)
	}
	return patient, note, nil
}

// do sends one API request with a fresh access token and decodes a 2xx
// answer into out. An access token the API refuses although it looked
// valid is refreshed once and the request sent again; the Idempotency-Key
// keeps that second send one effect.
func (c *Connector) do(ctx context.Context, op, method, path string, q url.Values, body any, key string, out any) error {
	ts, err := c.source(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("%s: encode request: %w", op, err)
		}
	}
	target := c.api + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, method, target, tok, payload, key)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: read answer: %w", op, err)
		}
		if len(data) > maxBody {
			return ehr.BadReply(c.cfg.Kind, op, fmt.Sprintf("the answer is larger than %d bytes", maxBody))
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			c.log.Info("access token refused; refreshing", "op", op)
			if tok, err = ts.Refresh(ctx, tok); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			var eb errorBody
			_ = json.Unmarshal(data, &eb) // a body that is not ours still has its status
			se := statusError(c.cfg.Kind, op, resp, eb)
			c.log.Warn("EHR refused", "op", op, "status", resp.StatusCode, "error_code", eb.Error)
			return se
		}
		if err := json.Unmarshal(data, out); err != nil {
			// Typed, and temporary like any unreadable success: a proxy's page
			// or a half-deployed EHR.
			return ehr.BadReply(c.cfg.Kind, op, "the answer is not the expected JSON: "+err.Error())
		}
		return nil
	}
}

func (c *Connector) send(ctx context.Context, method, u string, tok *oauth2.Token, payload []byte, key string) (*http.Response, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, ehr.WithoutURL(err)
	}
	return resp, nil
}

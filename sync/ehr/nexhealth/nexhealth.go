// Package nexhealth is Scribe's NexHealth connector, after NexHealth's
// public documentation: the API key is exchanged at POST /authenticates for
// a bearer token (1 h in production, 24 h in the sandbox), renewed before
// it expires; every call carries the institution's subdomain and one
// location_id, so a Connector serves exactly one location (the app keeps
// one connection per location). A note is pushed as a PDF to the patient's
// document center; the 201 means accepted, and Confirm reads the
// document's status until NexHealth has written it to the health record.
package nexhealth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
)

var _ ehr.Connector = (*Connector)(nil)

const (
	// maxReply bounds a reply body: a page of 300 patients fits easily.
	maxReply = 8 << 20
	// perPage is the page size for listings, NexHealth's largest.
	perPage = 300
	// maxPages bounds one listing: 600,000 patients or providers, far
	// beyond a location's, so a listing that never ends is an error.
	maxPages = 2000
	// defaultTokenLife is assumed when a token's expiry cannot be read:
	// production's lifetime, the shorter one.
	defaultTokenLife = time.Hour
	// maxRenewMargin is how long before expiry a token is renewed, at
	// most; short-lived tokens are renewed at 90 % of their life.
	maxRenewMargin = 5 * time.Minute
)

// Config configures New.
type Config struct {
	// BaseURL is where the API lives: the routes are BaseURL +
	// "/authenticates" and so on. https, or http for a loopback host.
	BaseURL string
	// APIKey is the key from the NexHealth Developer Portal.
	APIKey string
	// Subdomain is the institution's subdomain (Developer Portal,
	// Institutions tab).
	Subdomain string
	// LocationID is the one location this connection serves.
	LocationID string
	// DocumentTypeID files pushed notes under that document type (GET
	// /document_types); 0 leaves it to NexHealth.
	DocumentTypeID int64
	// HTTPClient sends the requests (ehr.NewHTTPClient() when nil:
	// http.DefaultClient would wait for ever on a hung EHR). It should
	// not retry by itself: the outbox retries with its own backoff.
	HTTPClient *http.Client
	// Logger receives one line per request (operation and status, never
	// keys, tokens, ids or chart content). Nothing is logged when nil.
	Logger *slog.Logger
	// Now is the clock for token expiry (time.Now when nil).
	Now func() time.Time
}

// Connector is one connection to one NexHealth location.
type Connector struct {
	base      *url.URL
	apiKey    string
	subdomain string
	location  string
	docType   int64
	hc        *http.Client
	log       *slog.Logger
	now       func() time.Time
	maxPages  int // the bound on a listing's pages; a test lowers it

	// mu guards the bearer token; authMu makes concurrent callers share
	// one POST /authenticates.
	authMu       sync.Mutex
	mu           sync.Mutex
	token        string
	renewAt      time.Time
	disconnected bool
}

// New checks cfg and returns a connector; it does not call NexHealth
// (Validate does).
func New(cfg Config) (*Connector, error) {
	base, err := ehr.BaseURL(cfg.BaseURL, "https://nexhealth.info")
	if err != nil {
		return nil, fmt.Errorf("nexhealth: %w", err)
	}
	key := strings.TrimSpace(cfg.APIKey)
	switch {
	case key == "":
		return nil, errors.New("nexhealth: the API key is empty; create one in the NexHealth Developer Portal (API Key tab) and paste it")
	case strings.ContainsAny(key, " \t\r\n"):
		return nil, errors.New("nexhealth: the API key contains spaces or line breaks; paste only the key")
	}
	sub := strings.TrimSpace(cfg.Subdomain)
	if sub == "" || strings.ContainsAny(sub, "/?#& \t") {
		return nil, fmt.Errorf("nexhealth: the subdomain %q is not valid; copy the institution's subdomain from the Developer Portal (Institutions tab)", cfg.Subdomain)
	}
	loc := strings.TrimSpace(cfg.LocationID)
	if n, err := strconv.ParseInt(loc, 10, 64); err != nil || n <= 0 {
		return nil, fmt.Errorf("nexhealth: the location id %q is not a location id (a positive number); copy it from the Developer Portal", cfg.LocationID)
	}
	if cfg.DocumentTypeID < 0 {
		return nil, fmt.Errorf("nexhealth: the document type id %d is negative; use an id from GET /document_types, or 0 for none", cfg.DocumentTypeID)
	}
	c := &Connector{base: base, apiKey: key, subdomain: sub, location: loc, docType: cfg.DocumentTypeID,
		hc: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now, maxPages: maxPages}
	if c.hc == nil {
		c.hc = ehr.NewHTTPClient()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Kind is ehr.NexHealth.
func (c *Connector) Kind() ehr.Kind { return ehr.NexHealth }

// Location is the connection's "subdomain/location_id": the app keeps one
// connection per value.
func (c *Connector) Location() string { return c.subdomain + "/" + c.location }

// SyncStatus is the institution's sync as NexHealth reports it.
type SyncStatus struct {
	ReadStatus  string // "green" or "red"
	ReadAt      time.Time
	WriteStatus string
	WriteAt     time.Time
	// LocationName is this connection's location, "" when NexHealth does
	// not list it.
	LocationName string
}

type syncStatusReply struct {
	SyncSourceName string `json:"sync_source_name"`
	ReadStatus     string `json:"read_status"`
	ReadStatusAt   string `json:"read_status_at"`
	WriteStatus    string `json:"write_status"`
	WriteStatusAt  string `json:"write_status_at"`
	Locations      []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"locations"`
}

// SyncStatus reads GET /sync_status: when the sync last read from and
// wrote to the health record system.
func (c *Connector) SyncStatus(ctx context.Context) (SyncStatus, error) {
	const op = "read sync status"
	var reply []syncStatusReply
	if _, err := c.call(ctx, op, http.MethodGet, "/sync_status", nil, nil, "", &reply); err != nil {
		return SyncStatus{}, err
	}
	if len(reply) == 0 {
		return SyncStatus{}, ehr.BadReply(ehr.NexHealth, op, "the reply lists no sync")
	}
	r := reply[0]
	s := SyncStatus{ReadStatus: r.ReadStatus, WriteStatus: r.WriteStatus}
	var err error
	if s.ReadAt, err = parseTime(r.ReadStatusAt); err != nil {
		return SyncStatus{}, ehr.BadReply(ehr.NexHealth, op, "read_status_at: "+err.Error())
	}
	if s.WriteAt, err = parseTime(r.WriteStatusAt); err != nil {
		return SyncStatus{}, ehr.BadReply(ehr.NexHealth, op, "write_status_at: "+err.Error())
	}
	for _, l := range r.Locations {
		if strconv.FormatInt(l.ID, 10) == c.location {
			s.LocationName = l.Name
		}
	}
	return s, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t, nil
}

// Validate exchanges the API key for a token and reads the sync status,
// which checks the subdomain (ehr.ErrScope when the key has no access to
// it) and the location (ehr.ErrNotFound when the institution lacks it).
func (c *Connector) Validate(ctx context.Context) (ehr.Account, error) {
	s, err := c.SyncStatus(ctx)
	if err != nil {
		return ehr.Account{}, err
	}
	loc := s.LocationName
	if loc == "" {
		loc = "location " + c.location
	}
	return ehr.Account{Name: c.subdomain, Location: loc}, nil
}

type provider struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Providers lists the location's providers.
func (c *Connector) Providers(ctx context.Context) ([]ehr.Provider, error) {
	var out []ehr.Provider
	err := c.pages(ctx, "list providers", "/providers", nil, func(raw json.RawMessage) (int, error) {
		var page []provider
		if err := json.Unmarshal(raw, &page); err != nil {
			return 0, err
		}
		for _, p := range page {
			out = append(out, ehr.Provider{ID: strconv.FormatInt(p.ID, 10), Name: p.Name, Email: p.Email})
		}
		return len(page), nil
	})
	return out, err
}

type patient struct {
	ID         int64   `json:"id"`
	FirstName  string  `json:"first_name"`
	MiddleName *string `json:"middle_name"`
	LastName   string  `json:"last_name"`
	Bio        struct {
		DateOfBirth string `json:"date_of_birth"`
	} `json:"bio"`
	UpdatedAt string `json:"updated_at"`
}

// Roster lists the location's patients updated at or after since (all when
// since is zero). The time to pass next is the latest updated_at seen (the
// EHR's clock, not ours), or since when nothing changed; a patient at that
// instant comes again next time, which an upsert absorbs.
func (c *Connector) Roster(ctx context.Context, since time.Time) ([]ehr.Patient, time.Time, error) {
	const op = "read roster"
	q := url.Values{}
	if !since.IsZero() {
		q.Set("updated_since", since.UTC().Format(time.RFC3339Nano))
	}
	var out []ehr.Patient
	next := since
	err := c.pages(ctx, op, "/patients", q, func(raw json.RawMessage) (int, error) {
		var page struct {
			Patients []patient `json:"patients"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return 0, err
		}
		for _, p := range page.Patients {
			updated, err := parseTime(p.UpdatedAt)
			if err != nil {
				return 0, fmt.Errorf("patient updated_at: %w", err)
			}
			if updated.After(next) {
				next = updated
			}
			var middle string
			if p.MiddleName != nil {
				middle = *p.MiddleName
			}
			out = append(out, ehr.Patient{ID: strconv.FormatInt(p.ID, 10), FirstName: p.FirstName, MiddleName: middle,
				LastName: p.LastName, DateOfBirth: p.Bio.DateOfBirth, UpdatedAt: updated})
		}
		return len(page.Patients), nil
	})
	if err != nil {
		return nil, since, err
	}
	return out, next, nil
}

// pages calls a listing page by page until it has count items or a page
// comes back short; add decodes one page's data and says how many it held.
func (c *Connector) pages(ctx context.Context, op, path string, q url.Values, add func(json.RawMessage) (int, error)) error {
	if q == nil {
		q = url.Values{}
	}
	q.Set("per_page", strconv.Itoa(perPage))
	seen := 0
	var prev json.RawMessage
	for page := 1; ; page++ {
		if page > c.maxPages {
			return ehr.BadReply(ehr.NexHealth, op, fmt.Sprintf("the listing goes on past %d pages", c.maxPages))
		}
		q.Set("page", strconv.Itoa(page))
		var data json.RawMessage
		env, err := c.call(ctx, op, http.MethodGet, path, q, nil, "", &data)
		if err != nil {
			return err
		}
		// An EHR that ignores the page parameter would be read for ever.
		if page > 1 && bytes.Equal(data, prev) {
			return ehr.BadReply(ehr.NexHealth, op, fmt.Sprintf("page %d repeats page %d; the EHR ignores the page parameter", page, page-1))
		}
		prev = data
		n, err := add(data)
		if err != nil {
			return ehr.BadReply(ehr.NexHealth, op, "the reply is not the listing expected: "+err.Error())
		}
		seen += n
		if n < perPage || (env.Count != nil && seen >= *env.Count) {
			return nil
		}
	}
}

// document is a document as NexHealth returns it.
type document struct {
	ID            int64   `json:"id"`
	PatientID     int64   `json:"patient_id"`
	Status        string  `json:"status"`
	StatusMessage *string `json:"status_message"`
}

// Push uploads the note as a PDF (RenderPDF) to the patient's document
// center, under opt.IdempotencyKey so a retry is one effect. The reply
// means accepted: Confirm says when it is written. NexHealth cannot
// replace or delete a document, so Replace of an earlier push is
// ehr.ErrUnsupported; the first push under Replace is an upload.
func (c *Connector) Push(ctx context.Context, n ehr.Note, opt ehr.PushOptions) (ehr.Ref, error) {
	const op = "push note"
	if err := opt.Check(); err != nil {
		return "", fmt.Errorf("nexhealth: %s: %w", op, err)
	}
	if opt.Update == ehr.Replace && opt.Previous != "" {
		return "", fmt.Errorf("nexhealth: %s: %w: NexHealth keeps every document it was sent and cannot replace one; set this connection's update behaviour to append", op, ehr.ErrUnsupported)
	}
	patientID, err := strconv.ParseInt(n.PatientID, 10, 64)
	if err != nil || patientID <= 0 {
		return "", fmt.Errorf("nexhealth: %s: patient id %q is not a NexHealth patient id (a number); sync the roster again", op, n.PatientID)
	}
	var providerID int64
	if n.ProviderID != "" {
		if providerID, err = strconv.ParseInt(n.ProviderID, 10, 64); err != nil || providerID <= 0 {
			return "", fmt.Errorf("nexhealth: %s: provider id %q is not a NexHealth provider id (a number); map the provider again", op, n.ProviderID)
		}
	}
	if _, err := time.Parse(time.DateOnly, n.VisitDate); err != nil {
		return "", fmt.Errorf("nexhealth: %s: visit date %q is not a date as YYYY-MM-DD", op, n.VisitDate)
	}
	if strings.TrimSpace(n.Text) == "" {
		return "", fmt.Errorf("nexhealth: %s: the note has no text", op)
	}
	pdf, err := RenderPDF(n, opt.Content)
	if err != nil {
		return "", fmt.Errorf("nexhealth: %s: %w", op, err)
	}
	body, contentType, err := uploadBody(fileName(n), pdf, c.docType, providerID, n.VisitDate)
	if err != nil {
		return "", fmt.Errorf("nexhealth: %s: %w", op, err)
	}
	var doc document
	path := "/patients/" + strconv.FormatInt(patientID, 10) + "/documents"
	if _, err := c.call(ctx, op, http.MethodPost, path, nil, &payload{body, contentType}, opt.IdempotencyKey, &doc); err != nil {
		return "", err
	}
	if doc.ID <= 0 {
		return "", ehr.BadReply(ehr.NexHealth, op, "the reply names no document id")
	}
	return ehr.Ref(strconv.FormatInt(patientID, 10) + "/" + strconv.FormatInt(doc.ID, 10)), nil
}

// uploadBody is the multipart form of a document write: the PDF, the
// document type, and the provider and visit date (which the sandbox keeps
// so the chart audit can check where a note was filed).
func uploadBody(name string, pdf []byte, docType, provider int64, visitDate string) ([]byte, string, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, name)}
	h["Content-Type"] = []string{"application/pdf"}
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(pdf); err != nil {
		return nil, "", err
	}
	fields := [][2]string{{"visit_date", visitDate}}
	if docType > 0 {
		fields = append(fields, [2]string{"document_type_id", strconv.FormatInt(docType, 10)})
	}
	if provider > 0 {
		fields = append(fields, [2]string{"provider_id", strconv.FormatInt(provider, 10)})
	}
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), w.FormDataContentType(), nil
}

// Confirm reads the document's status: Pending while NexHealth is writing
// it, Confirmed once it is in the health record, Failed when the health
// record system refused it (push it again as a new document).
func (c *Connector) Confirm(ctx context.Context, ref ehr.Ref) (ehr.Status, error) {
	const op = "confirm note"
	p, d, ok := strings.Cut(string(ref), "/")
	pid, err1 := strconv.ParseInt(p, 10, 64)
	did, err2 := strconv.ParseInt(d, 10, 64)
	if !ok || err1 != nil || err2 != nil || pid <= 0 || did <= 0 {
		return "", fmt.Errorf("nexhealth: %s: reference %q is not a NexHealth document reference (patient/document)", op, ref)
	}
	var doc document
	if _, err := c.call(ctx, op, http.MethodGet, "/patients/"+p+"/documents/"+d, nil, nil, "", &doc); err != nil {
		return "", err
	}
	switch doc.Status {
	case "pending":
		return ehr.Pending, nil
	case "completed":
		return ehr.Confirmed, nil
	case "failed":
		msg := "the health record system refused the document"
		if doc.StatusMessage != nil {
			msg = *doc.StatusMessage
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "nexhealth document failed", slog.String("reason", msg))
		return ehr.Failed, nil
	}
	return "", ehr.BadReply(ehr.NexHealth, op, fmt.Sprintf("unknown document status %q", doc.Status))
}

// Disconnect forgets the bearer token and stops the connector: every later
// call fails with ehr.ErrReauthorize. NexHealth has no call to revoke a
// token (it expires by itself); the API key is rotated in the Developer
// Portal.
func (c *Connector) Disconnect(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.renewAt, c.disconnected = "", time.Time{}, true
	return nil
}

// errDisconnected is what a disconnected connector answers.
var errDisconnected = fmt.Errorf("nexhealth: the connection was disconnected; enter the API key, subdomain and location to connect again: %w", ehr.ErrReauthorize)

// envelope is every NexHealth reply.
type envelope struct {
	Code        bool            `json:"code"`
	Description []string        `json:"description"`
	Data        json.RawMessage `json:"data"`
	Error       []string        `json:"error"`
	Count       *int            `json:"count"`
}

// payload is a request body that can be sent again (after a token
// renewal).
type payload struct {
	body        []byte
	contentType string
}

// call sends a request scoped to the subdomain and location with a bearer
// token, and decodes the reply's data into out. A 401 renews the token and
// sends once more: the token may have expired early or been revoked.
func (c *Connector) call(ctx context.Context, op, method, path string, q url.Values, body *payload, idemKey string, out any) (envelope, error) {
	for attempt := 0; ; attempt++ {
		token, err := c.bearer(ctx, attempt > 0)
		if err != nil {
			return envelope{}, err
		}
		env, status, err := c.send(ctx, op, method, path, c.scoped(q), body, "Bearer "+token, idemKey, out)
		if status == http.StatusUnauthorized && attempt == 0 {
			c.log.LogAttrs(ctx, slog.LevelInfo, "nexhealth token refused; authenticating again", slog.String("op", op))
			continue
		}
		return env, err
	}
}

func (c *Connector) scoped(q url.Values) url.Values {
	s := url.Values{}
	for k, v := range q {
		s[k] = v
	}
	s.Set("subdomain", c.subdomain)
	s.Set("location_id", c.location)
	return s
}

// bearer returns a token that will not expire soon, authenticating when
// there is none, it is near expiry, or renew is set (the last was refused).
func (c *Connector) bearer(ctx context.Context, renew bool) (string, error) {
	c.mu.Lock()
	if c.disconnected {
		c.mu.Unlock()
		return "", errDisconnected
	}
	stale := c.token
	if !renew && stale != "" && c.now().Before(c.renewAt) {
		c.mu.Unlock()
		return stale, nil
	}
	c.mu.Unlock()

	c.authMu.Lock()
	defer c.authMu.Unlock()
	// Another caller may have authenticated while this one waited.
	c.mu.Lock()
	if c.disconnected {
		c.mu.Unlock()
		return "", errDisconnected
	}
	if c.token != "" && c.token != stale && c.now().Before(c.renewAt) {
		t := c.token
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()

	const op = "authenticate"
	var reply struct {
		Token string `json:"token"`
	}
	issued := c.now()
	if _, _, err := c.send(ctx, op, http.MethodPost, "/authenticates", nil, nil, c.apiKey, "", &reply); err != nil {
		return "", err
	}
	if reply.Token == "" {
		return "", ehr.BadReply(ehr.NexHealth, op, "the reply holds no token")
	}
	if !headerSafe(reply.Token) {
		// It could not be sent back in an Authorization header.
		return "", ehr.BadReply(ehr.NexHealth, op, "the reply's token has characters a bearer token cannot have")
	}
	life := defaultTokenLife
	if exp, ok := tokenExpiry(reply.Token); ok {
		life = exp.Sub(issued)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disconnected {
		return "", errDisconnected
	}
	c.token = reply.Token
	c.renewAt = issued.Add(life - min(maxRenewMargin, life/10))
	return c.token, nil
}

// headerSafe reports whether a token is visible ASCII, as a bearer token
// (RFC 6750 §2.1) and an HTTP header value must be.
func headerSafe(token string) bool {
	for i := range len(token) {
		if token[i] < 0x21 || token[i] > 0x7e {
			return false
		}
	}
	return true
}

// tokenExpiry reads the exp claim of a JWT without checking its signature:
// the connector only needs to know when to renew, and NexHealth checks the
// token.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}

// send sends one request and decodes a 2xx reply's data into out. It
// returns the status (0 when none arrived) so call can tell a refused token.
func (c *Connector) send(ctx context.Context, op, method, path string, q url.Values, body *payload, authorization, idemKey string, out any) (envelope, int, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return envelope{}, 0, fmt.Errorf("nexhealth: %s: %w", op, err)
	}
	req.Header.Set("Authorization", authorization)
	// NexHealth's versioned media type, as its documentation asks.
	req.Header.Set("Accept", "application/vnd.Nexhealth+json;version=2")
	if body != nil {
		req.Header.Set("Content-Type", body.contentType)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		err = ehr.WithoutURL(err)
		c.log.LogAttrs(ctx, slog.LevelWarn, "nexhealth request failed", slog.String("op", op), slog.Any("err", err))
		return envelope{}, 0, fmt.Errorf("nexhealth: %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	c.log.LogAttrs(ctx, slog.LevelDebug, "nexhealth request", slog.String("op", op), slog.Int("status", resp.StatusCode),
		slog.Duration("took", c.now().Sub(start)))
	if err != nil {
		return envelope{}, resp.StatusCode, fmt.Errorf("nexhealth: %s: read reply: %w", op, err)
	}
	if len(raw) > maxReply {
		return envelope{}, resp.StatusCode, ehr.BadReply(ehr.NexHealth, op, fmt.Sprintf("the reply is larger than %d bytes", maxReply))
	}
	var env envelope
	jsonErr := json.Unmarshal(raw, &env)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A non-JSON error body still has its status.
		return env, resp.StatusCode, ehr.NewStatusError(ehr.NexHealth, op, resp.StatusCode, "", strings.Join(env.Error, "; "), nil, resp.Header)
	}
	if jsonErr != nil {
		return env, resp.StatusCode, ehr.BadReply(ehr.NexHealth, op, "the reply is not the JSON expected: "+jsonErr.Error())
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return env, resp.StatusCode, ehr.BadReply(ehr.NexHealth, op, "the reply's data is not what was expected: "+err.Error())
	}
	return env, resp.StatusCode, nil
}

// Package simplepractice is Scribe's SimplePractice connector: an API token
// the admin pastes (checked with the who-am-I call), the practice's
// clinicians, and note push with Idempotency-Key. SimplePractice has no
// roster listing yet, so Roster returns ehr.ErrUnsupported; FindClients
// looks one client up by last name (and date of birth) so the app can learn
// the client id a push needs. SimplePractice publishes no API reference:
// the routes follow the partner contract in DESIGN.md "EHR connectors".
package simplepractice

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
	"sync/atomic"
	"time"

	"github.com/nextvisit/scribe/sync/ehr"
)

var _ ehr.Connector = (*Connector)(nil)

// maxReply bounds a reply body: a page of clinicians or one note fits many
// times over.
const maxReply = 4 << 20

// Config configures New.
type Config struct {
	// BaseURL is where the API lives: the routes are BaseURL + "/api/me" and
	// so on. https, or http for a loopback host.
	BaseURL string
	// Token is the API token the admin generated in SimplePractice.
	Token string
	// HTTPClient sends the requests (ehr.NewHTTPClient() when nil:
	// http.DefaultClient would wait for ever on a hung EHR). It should
	// not retry by itself: the outbox retries with its own backoff.
	HTTPClient *http.Client
	// Logger receives one line per request (operation and status, never
	// tokens, ids or chart content). Nothing is logged when nil.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Connector is one connection to one SimplePractice practice.
type Connector struct {
	base  *url.URL
	token string
	hc    *http.Client
	log   *slog.Logger
	now   func() time.Time

	disconnected atomic.Bool
}

// New checks cfg and returns a connector; it does not call SimplePractice
// (Validate does).
func New(cfg Config) (*Connector, error) {
	base, err := ehr.BaseURL(cfg.BaseURL, "https://api.example.com")
	if err != nil {
		return nil, fmt.Errorf("simplepractice: %w", err)
	}
	token := strings.TrimSpace(cfg.Token)
	if token == "" {
		return nil, errors.New("simplepractice: the API token is empty; generate one in SimplePractice (Settings → API or Integrations) and paste it")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, errors.New("simplepractice: the API token contains spaces or line breaks; paste only the token")
	}
	c := &Connector{base: base, token: token, hc: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now}
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

// Kind is ehr.SimplePractice.
func (c *Connector) Kind() ehr.Kind { return ehr.SimplePractice }

type meReply struct {
	User struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
	Practice struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"practice"`
}

// Validate calls who-am-I: the token's practice and user.
func (c *Connector) Validate(ctx context.Context) (ehr.Account, error) {
	var me meReply
	if err := c.do(ctx, "validate the API token", http.MethodGet, "/api/me", nil, nil, "", &me); err != nil {
		return ehr.Account{}, err
	}
	if me.Practice.Name == "" {
		return ehr.Account{}, ehr.BadReply(ehr.SimplePractice, "validate the API token", "the who-am-I reply names no practice")
	}
	user := me.User.Name
	if me.User.Email != "" {
		user = strings.TrimSpace(user + " <" + me.User.Email + ">")
	}
	return ehr.Account{Name: me.Practice.Name, User: user}, nil
}

type clinician struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Providers lists the practice's clinicians.
func (c *Connector) Providers(ctx context.Context) ([]ehr.Provider, error) {
	var reply struct {
		Clinicians []clinician `json:"clinicians"`
	}
	if err := c.do(ctx, "list clinicians", http.MethodGet, "/api/clinicians", nil, nil, "", &reply); err != nil {
		return nil, err
	}
	out := make([]ehr.Provider, 0, len(reply.Clinicians))
	for _, p := range reply.Clinicians {
		out = append(out, ehr.Provider{ID: strconv.FormatInt(p.ID, 10), Name: p.Name, Email: p.Email})
	}
	return out, nil
}

// Roster is ehr.ErrUnsupported: SimplePractice's roster read is still in
// development (seed: "one-way today"). FindClients looks one client up.
func (c *Connector) Roster(ctx context.Context, since time.Time) ([]ehr.Patient, time.Time, error) {
	return nil, since, fmt.Errorf("simplepractice: roster: %w (SimplePractice's roster read is in development; add patients in Scribe and find their client ids with a lookup)", ehr.ErrUnsupported)
}

type client struct {
	ID          int64  `json:"id"`
	FirstName   string `json:"first_name"`
	MiddleName  string `json:"middle_name"`
	LastName    string `json:"last_name"`
	DateOfBirth string `json:"date_of_birth"`
}

// FindClients looks clients up by last name and, when dateOfBirth
// (YYYY-MM-DD) is not "", date of birth: how the app learns the client id a
// push needs, since there is no roster listing. UpdatedAt is zero
// (SimplePractice does not say).
func (c *Connector) FindClients(ctx context.Context, lastName, dateOfBirth string) ([]ehr.Patient, error) {
	lastName = strings.TrimSpace(lastName)
	if lastName == "" {
		return nil, errors.New("simplepractice: find clients: a last name is required")
	}
	if dateOfBirth != "" {
		if _, err := time.Parse(time.DateOnly, dateOfBirth); err != nil {
			return nil, fmt.Errorf("simplepractice: find clients: date of birth %q is not a date as YYYY-MM-DD", dateOfBirth)
		}
	}
	q := url.Values{"last_name": {lastName}}
	if dateOfBirth != "" {
		q.Set("date_of_birth", dateOfBirth)
	}
	var reply struct {
		Clients []client `json:"clients"`
	}
	if err := c.do(ctx, "find clients", http.MethodGet, "/api/clients", q, nil, "", &reply); err != nil {
		return nil, err
	}
	out := make([]ehr.Patient, 0, len(reply.Clients))
	for _, p := range reply.Clients {
		out = append(out, ehr.Patient{ID: strconv.FormatInt(p.ID, 10), FirstName: p.FirstName, MiddleName: p.MiddleName,
			LastName: p.LastName, DateOfBirth: p.DateOfBirth})
	}
	return out, nil
}

// note is a note as SimplePractice returns it.
type note struct {
	ID          int64  `json:"id"`
	ClientID    int64  `json:"client_id"`
	ClinicianID int64  `json:"clinician_id"`
	Date        string `json:"date"`
	Body        string `json:"body"`
	Format      string `json:"format"`
	Version     int    `json:"version"`
}

type newNote struct {
	ClientID    int64  `json:"client_id"`
	ClinicianID int64  `json:"clinician_id"`
	Date        string `json:"date"`
	Body        string `json:"body"`
	Format      string `json:"format"`
}

type replacement struct {
	Body   string `json:"body"`
	Format string `json:"format"`
}

// Push creates the note in the client's chart (Append, or the first push of
// Replace) or replaces the body of opt.Previous (Replace), under
// opt.IdempotencyKey so a retry is one effect. The Ref is the note's id.
func (c *Connector) Push(ctx context.Context, n ehr.Note, opt ehr.PushOptions) (ehr.Ref, error) {
	if err := opt.Check(); err != nil {
		return "", fmt.Errorf("simplepractice: push note: %w", err)
	}
	body := ehr.Body(n, opt.Content)
	if strings.TrimSpace(body) == "" {
		return "", errors.New("simplepractice: push note: the note has no text; SimplePractice refuses an empty note")
	}
	var reply struct {
		Note note `json:"note"`
	}
	if opt.Update == ehr.Replace && opt.Previous != "" {
		id, err := noteID(opt.Previous)
		if err != nil {
			return "", fmt.Errorf("simplepractice: replace note: %w", err)
		}
		err = c.do(ctx, "replace note", http.MethodPut, "/api/notes/"+strconv.FormatInt(id, 10), nil,
			replacement{Body: body, Format: "plain"}, opt.IdempotencyKey, &reply)
		if err != nil {
			return "", err
		}
	} else {
		req, err := newNoteFor(n, body)
		if err != nil {
			return "", fmt.Errorf("simplepractice: push note: %w", err)
		}
		if err := c.do(ctx, "push note", http.MethodPost, "/api/notes", nil, req, opt.IdempotencyKey, &reply); err != nil {
			return "", err
		}
	}
	if reply.Note.ID <= 0 {
		return "", ehr.BadReply(ehr.SimplePractice, "push note", "the reply names no note id")
	}
	return ehr.Ref(strconv.FormatInt(reply.Note.ID, 10)), nil
}

func newNoteFor(n ehr.Note, body string) (newNote, error) {
	client, err := strconv.ParseInt(n.PatientID, 10, 64)
	if err != nil || client <= 0 {
		return newNote{}, fmt.Errorf("patient id %q is not a SimplePractice client id (a number); look the client up again", n.PatientID)
	}
	clinician, err := strconv.ParseInt(n.ProviderID, 10, 64)
	if err != nil || clinician <= 0 {
		return newNote{}, fmt.Errorf("provider id %q is not a SimplePractice clinician id (a number); map the provider again", n.ProviderID)
	}
	if _, err := time.Parse(time.DateOnly, n.VisitDate); err != nil {
		return newNote{}, fmt.Errorf("visit date %q is not a date as YYYY-MM-DD", n.VisitDate)
	}
	return newNote{ClientID: client, ClinicianID: clinician, Date: n.VisitDate, Body: body, Format: "plain"}, nil
}

func noteID(ref ehr.Ref) (int64, error) {
	id, err := strconv.ParseInt(string(ref), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("reference %q is not a SimplePractice note id", ref)
	}
	return id, nil
}

// Confirm reads the note back: Confirmed when SimplePractice has it (a
// write there is final when it answers), ehr.ErrNotFound when it is gone.
func (c *Connector) Confirm(ctx context.Context, ref ehr.Ref) (ehr.Status, error) {
	id, err := noteID(ref)
	if err != nil {
		return "", fmt.Errorf("simplepractice: confirm note: %w", err)
	}
	var reply struct {
		Note note `json:"note"`
	}
	if err := c.do(ctx, "confirm note", http.MethodGet, "/api/notes/"+strconv.FormatInt(id, 10), nil, nil, "", &reply); err != nil {
		return "", err
	}
	if reply.Note.ID != id {
		return "", ehr.BadReply(ehr.SimplePractice, "confirm note", fmt.Sprintf("asked for note %d, the reply is note %d", id, reply.Note.ID))
	}
	return ehr.Confirmed, nil
}

// Disconnect stops the connector: every later call fails with
// ehr.ErrReauthorize. It revokes nothing, since SimplePractice tokens are
// revoked by the admin in SimplePractice, not through the API; the caller
// forgets the token.
func (c *Connector) Disconnect(ctx context.Context) error {
	c.disconnected.Store(true)
	return nil
}

// errDisconnected is what a disconnected connector answers.
var errDisconnected = fmt.Errorf("simplepractice: the connection was disconnected; paste an API token to connect again: %w", ehr.ErrReauthorize)

// errorReply is SimplePractice's error body.
type errorReply struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// do sends one request and decodes a 2xx reply into out.
func (c *Connector) do(ctx context.Context, op, method, path string, q url.Values, in any, idemKey string, out any) error {
	if c.disconnected.Load() {
		return errDisconnected
	}
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("simplepractice: %s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("simplepractice: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		err = ehr.WithoutURL(err)
		c.log.LogAttrs(ctx, slog.LevelWarn, "simplepractice request failed", slog.String("op", op), slog.Any("err", err))
		return fmt.Errorf("simplepractice: %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	c.log.LogAttrs(ctx, slog.LevelDebug, "simplepractice request", slog.String("op", op), slog.Int("status", resp.StatusCode),
		slog.Duration("took", c.now().Sub(start)))
	if err != nil {
		return fmt.Errorf("simplepractice: %s: read reply: %w", op, err)
	}
	if len(raw) > maxReply {
		return ehr.BadReply(ehr.SimplePractice, op, fmt.Sprintf("the reply is larger than %d bytes", maxReply))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e errorReply
		_ = json.Unmarshal(raw, &e) // a non-JSON error body still has its status
		return ehr.NewStatusError(ehr.SimplePractice, op, resp.StatusCode, "", e.Error.Message, e.Error.Fields, resp.Header)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return ehr.BadReply(ehr.SimplePractice, op, "the reply is not the JSON expected: "+err.Error())
	}
	return nil
}

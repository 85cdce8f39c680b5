package ehrtest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sandbox "github.com/nextvisit/scribe/sync/sandbox/ehr/oauthehr"
)

// OAuthEHR is a sandbox Osmind or Kalix served over HTTP for one test.
type OAuthEHR struct {
	Name    string // "Osmind" or "Kalix"
	Server  *sandbox.Server
	URL     string // the HTTP server's root
	Issuer  string // URL + prefix
	APIBase string // Issuer + "/api"
}

// NewOAuthEHR starts the named sandbox EHR in a temporary folder, mounted
// under its prefix as the main sandbox mounts it. now is its clock (nil:
// time.Now).
func NewOAuthEHR(t *testing.T, name string, now func() time.Time) *OAuthEHR {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Name: name, Dir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatalf("sandbox %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close sandbox %s: %v", name, err)
		}
	})
	mux := http.NewServeMux()
	mux.Handle(srv.Prefix()+"/", srv.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	iss := ts.URL + srv.Prefix()
	return &OAuthEHR{Name: name, Server: srv, URL: ts.URL, Issuer: iss, APIBase: iss + "/api"}
}

// Admin is a browser that signs in as the EHR's sample administrator and
// allows every scope asked for.
func (e *OAuthEHR) Admin() *Browser {
	return &Browser{Email: sandbox.AdminEmail(e.Name), Password: sandbox.AdminPassword}
}

// ClientID is the sandbox EHRs' registered client.
const ClientID = sandbox.ClientID

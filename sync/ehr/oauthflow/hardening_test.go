package oauthflow

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/nextvisit/scribe/sync/ehr"
)

// TestDiscoverRefusesPlainHTTP: an issuer, or an endpoint its metadata
// names, over plain http to a host that is not loopback is refused, since
// the code and the refresh token would travel in clear text.
func TestDiscoverRefusesPlainHTTP(t *testing.T) {
	for _, issuer := range []string{"http://ehr.example/osmind", "http://10.1.2.3:8443/kalix", "http://127.0.0.1.nip.io/x"} {
		if _, err := Discover(t.Context(), nil, issuer); !errors.Is(err, ehr.ErrPlainHTTP) {
			t.Errorf("Discover(%s): %v, want ErrPlainHTTP", issuer, err)
		}
	}
	for _, tc := range []struct {
		name, authz, token, revoke string
		refused                    bool
	}{
		{"loopback", "/a", "/t", "", false},
		{"https elsewhere", "https://login.example/a", "https://login.example/t", "https://login.example/r", false},
		{"http token endpoint", "/a", "http://login.example/t", "", true},
		{"http authorization endpoint", "http://login.example/a", "/t", "", true},
		{"http revocation endpoint", "/a", "/t", "http://login.example/r", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				abs := func(s string) string {
					if strings.HasPrefix(s, "/") {
						return srv.URL + s
					}
					return s
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"issuer":"` + srv.URL + `","authorization_endpoint":"` + abs(tc.authz) +
					`","token_endpoint":"` + abs(tc.token) + `","revocation_endpoint":"` + tc.revoke + `"}`))
			}))
			defer srv.Close()
			md, err := Discover(t.Context(), srv.Client(), srv.URL)
			if tc.refused != errors.Is(err, ehr.ErrPlainHTTP) || (!tc.refused && err != nil) {
				t.Fatalf("Discover: %v, want refused=%v", err, tc.refused)
			}
			if tc.refused {
				return
			}
			// Authorize checks the metadata it is given the same way.
			md.TokenEndpoint = "http://login.example/t"
			_, err = Authorize(t.Context(), Config{ClientID: "c", OpenBrowser: func(ctx context.Context, u string) error {
				t.Errorf("Authorize opened the browser for metadata with an http token endpoint")
				return nil
			}}, md)
			if !errors.Is(err, ehr.ErrPlainHTTP) {
				t.Errorf("Authorize with an http token endpoint: %v, want ErrPlainHTTP", err)
			}
		})
	}
}

// TestDefaultClientsTimeOut: with no HTTPClient given, token requests go
// through a client with a timeout, never http.DefaultClient.
func TestDefaultClientsTimeOut(t *testing.T) {
	ts := NewTokenSource(SourceConfig{ClientID: "c", TokenEndpoint: "https://login.example/t"}, nil)
	if c := ts.cfg.HTTPClient; c == nil || c == http.DefaultClient || c.Timeout <= 0 {
		t.Errorf("TokenSource's default client %+v has no timeout", c)
	}
}

// TestRedirectIsLoopback: the redirect_uri Authorize sends is the loopback
// IP literal (RFC 8252 §7.3), never a name a resolver could send elsewhere.
func TestRedirectIsLoopback(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	md := Metadata{Issuer: srv.URL, AuthorizationEndpoint: srv.URL + "/a", TokenEndpoint: srv.URL + "/t"}
	ctx, cancel := context.WithCancel(t.Context())
	var redirect string
	_, err := Authorize(ctx, Config{ClientID: "c", OpenBrowser: func(_ context.Context, u string) error {
		parsed, err := url.Parse(u)
		if err != nil {
			return err
		}
		redirect = parsed.Query().Get("redirect_uri")
		cancel()
		return nil
	}}, md)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Authorize: %v", err)
	}
	r, err := url.Parse(redirect)
	if err != nil || r.Scheme != "http" || r.Path != "/callback" || r.Port() == "" {
		t.Fatalf("redirect_uri %q is not http://<loopback>:<port>/callback", redirect)
	}
	if ip := net.ParseIP(r.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Errorf("redirect_uri %q is not to a loopback IP", redirect)
	}
}

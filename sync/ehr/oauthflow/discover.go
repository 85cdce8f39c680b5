// Package oauthflow is the desktop side of OAuth 2.0 for the EHRs that use
// it (Osmind, Kalix): finding the endpoints from the issuer (RFC 8414), the
// authorization code flow through the system browser with a loopback
// redirect (RFC 8252) and PKCE S256, and an access token kept fresh with the
// refresh token. golang.org/x/oauth2 builds the URLs and talks to the token
// endpoint; this package adds what a native app needs around it.
package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/nextvisit/scribe/sync/ehr"
)

// Metadata is the part of an authorization server's RFC 8414 metadata the
// flow uses.
type Metadata struct {
	Issuer                        string   `json:"issuer"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	RevocationEndpoint            string   `json:"revocation_endpoint,omitempty"`
	ScopesSupported               []string `json:"scopes_supported,omitempty"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
}

// maxMetadata bounds the metadata document read from a server.
const maxMetadata = 1 << 20

// Discover reads the authorization server metadata of issuer. It tries the
// RFC 8414 location (/.well-known/oauth-authorization-server inserted before
// the issuer's path), then the same suffix appended to the issuer, which
// servers with a path often use, then OpenID Connect's
// /.well-known/openid-configuration. The metadata must name the same issuer
// (RFC 8414 §3.3), so a redirected or spoofed document is refused.
func Discover(ctx context.Context, client *http.Client, issuer string) (Metadata, error) {
	if client == nil {
		client = ehr.NewHTTPClient()
	}
	issuer = strings.TrimSuffix(issuer, "/")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return Metadata{}, fmt.Errorf("discover: issuer %q must be an http(s) URL with no query, like https://ehr.example/osmind", issuer)
	}
	// Metadata fetched in clear text could name any token endpoint: the
	// refresh token would go there.
	if err := ehr.Secure(u); err != nil {
		return Metadata{}, fmt.Errorf("discover: issuer %q: %w", issuer, err)
	}
	origin := u.Scheme + "://" + u.Host
	candidates := []string{
		origin + "/.well-known/oauth-authorization-server" + u.Path,
		issuer + "/.well-known/oauth-authorization-server",
		issuer + "/.well-known/openid-configuration",
	}
	var tried []string
	for _, c := range slices.Compact(candidates) {
		md, found, err := fetchMetadata(ctx, client, c)
		if err != nil {
			return Metadata{}, fmt.Errorf("discover %s: %w", issuer, err)
		}
		if !found {
			tried = append(tried, c)
			continue
		}
		if strings.TrimSuffix(md.Issuer, "/") != issuer {
			return Metadata{}, fmt.Errorf("discover %s: the metadata at %s names issuer %q; check the configured issuer URL", issuer, c, md.Issuer)
		}
		if err := md.check(); err != nil {
			return Metadata{}, fmt.Errorf("discover %s: %w", issuer, err)
		}
		return md, nil
	}
	return Metadata{}, fmt.Errorf("discover %s: no authorization server metadata at %s; check the issuer URL", issuer, strings.Join(tried, ", "))
}

// fetchMetadata gets one candidate; found is false when the server has
// nothing there (404, 405, or a page that is not metadata).
func fetchMetadata(ctx context.Context, client *http.Client, at string) (md Metadata, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, at, nil)
	if err != nil {
		return Metadata{}, false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Metadata{}, false, fmt.Errorf("fetch metadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata))
	if err != nil {
		return Metadata{}, false, fmt.Errorf("read metadata from %s: %w", at, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return Metadata{}, false, nil
	case resp.StatusCode != http.StatusOK:
		return Metadata{}, false, fmt.Errorf("metadata at %s: HTTP %d", at, resp.StatusCode)
	}
	if err := json.Unmarshal(body, &md); err != nil || md.Issuer == "" {
		return Metadata{}, false, nil
	}
	return md, true, nil
}

// check refuses metadata the flow cannot use, or must not: an endpoint
// over plain http to a host that is not loopback would carry the code or
// the refresh token in clear text.
func (md Metadata) check() error {
	endpoints := map[string]string{"authorization_endpoint": md.AuthorizationEndpoint, "token_endpoint": md.TokenEndpoint}
	if md.RevocationEndpoint != "" {
		endpoints["revocation_endpoint"] = md.RevocationEndpoint
	}
	for name, v := range endpoints {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("the metadata's %s %q is not an http(s) URL", name, v)
		}
		if err := ehr.Secure(u); err != nil {
			return fmt.Errorf("the metadata's %s: %w", name, err)
		}
	}
	// A server that lists its PKCE methods must list S256; one that lists
	// none may still support it (the field is optional), and the
	// authorization request fails clearly if it does not.
	if len(md.CodeChallengeMethodsSupported) > 0 && !slices.Contains(md.CodeChallengeMethodsSupported, "S256") {
		return errors.New("the server does not offer PKCE with S256, which a desktop app needs")
	}
	return nil
}

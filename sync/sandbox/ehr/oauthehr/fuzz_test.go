package oauthehr

import (
	"net/url"
	"testing"
)

// FuzzCheckAuthorize feeds arbitrary authorization queries: no panic, and anything accepted sends the
// code only to a loopback /callback with an S256 challenge.
func FuzzCheckAuthorize(f *testing.F) {
	f.Add("response_type=code&client_id=nextvisit-scribe&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
	f.Add("redirect_uri=http://127.0.0.1:0/callback")
	f.Add("redirect_uri=http://127.0.0.1.evil.example:80/callback&client_id=nextvisit-scribe")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if checkAuthorize(q) != nil {
			return
		}
		u, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != "/callback" || q.Get("code_challenge_method") != "S256" {
			t.Fatalf("accepted %q", raw)
		}
	})
}

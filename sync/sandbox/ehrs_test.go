package sandbox

import (
	"encoding/json"
	"net/http"
	"testing"
)

// The EHR models answer beside the Nextvisit API on the same address.
func TestEHRModelsMounted(t *testing.T) {
	srv, err := New(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url, err := srv.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := url[:len(url)-len("/api")]
	for _, name := range []string{"osmind", "kalix"} {
		resp, err := http.Get(base + "/" + name + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Issuer  string   `json:"issuer"`
			Methods []string `json:"code_challenge_methods_supported"`
		}
		err = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || meta.Issuer != base+"/"+name || len(meta.Methods) != 1 || meta.Methods[0] != "S256" {
			t.Errorf("%s discovery: %d %+v %v", name, resp.StatusCode, meta, err)
		}
	}
	for path, want := range map[string]int{
		"/simplepractice/api/me": http.StatusUnauthorized, // no token
		"/nexhealth/providers":   http.StatusUnauthorized, // no bearer
		"/api/v1/user":           http.StatusUnauthorized, // the Nextvisit API, still there
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if srv.Osmind() == nil || srv.Kalix() == nil || srv.SimplePractice() == nil || srv.NexHealth() == nil {
		t.Error("an EHR model accessor is nil")
	}
}

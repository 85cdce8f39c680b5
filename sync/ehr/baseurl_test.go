package ehr

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestBaseURLHTTPSUnlessLoopback(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" means refused
	}{
		{"https://api.example.com/v1/", "https://api.example.com/v1"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.2:8080/x", "http://127.0.0.2:8080/x"},
		{"http://localhost:9/api", "http://localhost:9/api"},
		{"http://[::1]:9/api?x=1#f", "http://[::1]:9/api"},
		{"http://api.example.com", ""},
		{"http://10.0.0.5:8080", ""},
		{"http://localhost.evil.example", ""},
		{"http://127.0.0.1.nip.io", ""},
		{"ftp://api.example.com", ""},
		{"api.example.com", ""},
	} {
		u, err := BaseURL(tc.in, "https://api.example.com")
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("BaseURL(%q) = %s, want it refused", tc.in, u)
		case tc.want != "" && err != nil:
			t.Errorf("BaseURL(%q): %v", tc.in, err)
		case tc.want != "" && u.String() != tc.want:
			t.Errorf("BaseURL(%q) = %s, want %s", tc.in, u, tc.want)
		}
	}
}

func TestSecure(t *testing.T) {
	for in, ok := range map[string]bool{
		"https://ehr.example/osmind":      true,
		"http://127.0.0.1:4000/osmind":    true,
		"HTTP://LOCALHOST/x":              true,
		"http://ehr.example/osmind":       false,
		"http://192.168.1.4/oauth/token":  false,
		"HTTP://ehr.example/oauth/token":  false,
		"http://[::ffff:10.0.0.1]/x?id=1": false,
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		err = Secure(u)
		if ok != (err == nil) || (err != nil && !errors.Is(err, ErrPlainHTTP)) {
			t.Errorf("Secure(%s) = %v, want ok=%v or ErrPlainHTTP", in, err, ok)
		}
	}
}

func TestNewHTTPClientTimesOut(t *testing.T) {
	c := NewHTTPClient()
	if c.Timeout <= 0 || c.Timeout > 5*time.Minute {
		t.Errorf("Timeout %v, want a bound", c.Timeout)
	}
}

package api

import (
	"net/http"
	"testing"
)

// TestNewHTTPClientTimesOut: the client New uses by default bounds the wait
// for an answer, and New does not fall back to http.DefaultClient (no
// timeout at all).
func TestNewHTTPClientTimesOut(t *testing.T) {
	tr, ok := NewHTTPClient().Transport.(*http.Transport)
	if !ok || tr.ResponseHeaderTimeout <= 0 || tr.TLSHandshakeTimeout <= 0 {
		t.Fatalf("NewHTTPClient's transport %+v does not time out waiting for the server", tr)
	}
	c, err := New(ProductionURL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr, ok := c.doer.hc.Transport.(*http.Transport); !ok || tr.ResponseHeaderTimeout <= 0 {
		t.Errorf("New without an HTTPClient uses a client with no timeouts")
	}
}

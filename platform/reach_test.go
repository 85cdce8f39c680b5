package platform

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReachableAnyHTTPResponse(t *testing.T) {
	for _, status := range []int{200, 302, 404, 405, 500, 503} {
		methods := make(chan string, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			methods <- r.Method
			if status == 302 {
				// A redirect to nowhere must not be followed.
				w.Header().Set("Location", "http://127.0.0.1:1/nowhere")
			}
			w.WriteHeader(status)
		}))
		err := Reachable(t.Context(), srv.URL+"/api")
		srv.Close()
		if err != nil {
			t.Errorf("status %d: Reachable = %v, want nil", status, err)
			continue
		}
		if m := <-methods; m != http.MethodHead {
			t.Errorf("status %d: probe used %s, want HEAD", status, m)
		}
	}
}

func TestReachableRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = Reachable(t.Context(), "http://"+addr+"/api")
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Reachable(closed port) = %v, want ErrUnreachable", err)
	}
}

func TestReachableStopsWithContext(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // never answer
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-arrived; cancel() }()
	err := Reachable(ctx, srv.URL)
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Reachable on a silent server = %v, want ErrUnreachable wrapping context.Canceled", err)
	}
}

func TestReachableBadURL(t *testing.T) {
	for _, u := range []string{"", "not a url", "ftp://example.test", "http://", "example.test:80", "%zz"} {
		err := Reachable(t.Context(), u)
		if err == nil || errors.Is(err, ErrUnreachable) {
			t.Errorf("Reachable(%q) = %v, want a bad-URL error (not ErrUnreachable)", u, err)
		}
	}
}

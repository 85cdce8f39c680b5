package stream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/nextvisit/scribe/sync/api"
)

// sessionWith runs one session against a token naming url.
func sessionWith(t *testing.T, url string) outcome {
	t.Helper()
	r := &runner{log: slog.New(slog.DiscardHandler), sink: &turnSink{},
		tokens: func(context.Context) (api.StreamingToken, error) {
			return api.StreamingToken{Url: url, Token: "t"}, nil
		}}
	return r.session(t.Context())
}

// TestStreamingURLEncryptedUnlessLoopback: a token naming a ws:// (or
// http://) URL on another host is refused before any audio goes out.
func TestStreamingURLEncryptedUnlessLoopback(t *testing.T) {
	for _, u := range []string{"ws://live.nextvisit.app/v1/stream", "http://10.0.0.4:8080/stream", "ws://127.0.0.1.nip.io/s"} {
		out := sessionWith(t, u)
		if !errors.Is(out.err, ErrProtocol) || !strings.Contains(out.err.Error(), "not encrypted") || out.begun {
			t.Errorf("token URL %s: %v, want it refused as not encrypted", u, out.err)
		}
	}
}

// TestServerMessageBounded: a server message larger than readLimit ends
// the session with an error instead of being read into memory; a loopback
// ws:// URL is allowed (the sandbox).
func TestServerMessageBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		big := `{"type":"Begin","id":"` + strings.Repeat("x", readLimit) + `"}`
		_ = c.Write(r.Context(), websocket.MessageText, []byte(big))
		_, _, _ = c.Read(r.Context()) // until the client goes
	}))
	defer srv.Close()
	out := sessionWith(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/stream")
	if out.err == nil || out.begun || !strings.Contains(out.err.Error(), "wait for Begin") {
		t.Fatalf("a %d-byte Begin: %v (begun %v), want the session refused", readLimit+30, out.err, out.begun)
	}
	if strings.Contains(out.err.Error(), "not encrypted") {
		t.Fatalf("loopback ws:// refused: %v", out.err)
	}
}

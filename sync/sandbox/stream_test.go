package sandbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type streamToken struct {
	Token string `json:"token"`
	URL   string `json:"url"`
}

func (e *env) streamToken(body any) streamToken {
	e.t.Helper()
	var tk streamToken
	e.must("POST", "/v1/transcription/token", body, http.StatusCreated, &tk)
	return tk
}

func dialStream(ctx context.Context, tk streamToken) (*websocket.Conn, *http.Response, error) {
	q := url.Values{"token": {tk.Token}, "sample_rate": {"16000"}, "encoding": {"pcm_s16le"}}
	return websocket.Dial(ctx, tk.URL+"?"+q.Encode(), nil)
}

type serverMsg struct {
	Type            string `json:"type"`
	ID              string `json:"id"`
	ExpiresAt       string `json:"expires_at"`
	TurnOrder       int    `json:"turn_order"`
	Transcript      string `json:"transcript"`
	EndOfTurn       bool   `json:"end_of_turn"`
	ErrorCode       int    `json:"error_code"`
	Error           string `json:"error"`
	AudioDurationMS int64  `json:"audio_duration_ms"`
	Words           []struct {
		Start int64 `json:"start"`
		End   int64 `json:"end"`
	} `json:"words"`
}

func readMsg(ctx context.Context, t *testing.T, c *websocket.Conn) (serverMsg, error) {
	t.Helper()
	typ, data, err := c.Read(ctx)
	if err != nil {
		return serverMsg{}, err
	}
	if typ != websocket.MessageText {
		t.Fatalf("binary message from the server")
	}
	var m serverMsg
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("message %s: %v", data, err)
	}
	return m, nil
}

// pcmFrames cuts samples into 100 ms little-endian frames.
func pcmFrames(pcm []int16) [][]byte {
	var out [][]byte
	for i := 0; i < len(pcm); i += 1600 {
		chunk := pcm[i:min(i+1600, len(pcm))]
		if len(chunk) < 800 { // under the 50 ms minimum: leave the tail out
			break
		}
		b := make([]byte, 2*len(chunk))
		for j, v := range chunk {
			binary.LittleEndian.PutUint16(b[2*j:], uint16(v))
		}
		out = append(out, b)
	}
	return out
}

func TestLiveSessionAndSingleUseTokens(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type usage struct {
		AudioMinutes float64 `json:"audio_minutes"`
	}
	var before usage
	e.must("GET", "/v1/billing/usage", nil, http.StatusOK, &before)

	tk := e.streamToken(nil)
	c, _, err := dialStream(ctx, tk)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	m, err := readMsg(ctx, t, c)
	if err != nil || m.Type != "Begin" || m.ID == "" || m.ExpiresAt == "" {
		t.Fatalf("first message %+v, %v", m, err)
	}
	// 4 s of audio with two voiced stretches; Terminate flushes.
	pcm := tones(burst{500 * time.Millisecond, false}, burst{1200 * time.Millisecond, true},
		burst{900 * time.Millisecond, false}, burst{time.Second, true}, burst{400 * time.Millisecond, false})
	for _, f := range pcmFrames(pcm) {
		if err := c.Write(ctx, websocket.MessageBinary, f); err != nil {
			t.Fatalf("send audio: %v", err)
		}
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"Terminate"}`)); err != nil {
		t.Fatal(err)
	}
	var finals []serverMsg
	var end serverMsg
	for end.Type == "" {
		m, err := readMsg(ctx, t, c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		switch m.Type {
		case "Turn":
			if m.EndOfTurn {
				finals = append(finals, m)
			}
		case "Termination", "Error":
			end = m
		}
	}
	if end.Type != "Termination" || end.AudioDurationMS != 4000 {
		t.Errorf("session ended with %+v", end)
	}
	if len(finals) != 2 || !strings.HasPrefix(finals[0].Transcript, "[sandbox] speech") || finals[0].TurnOrder != 0 || finals[1].TurnOrder != 1 {
		t.Errorf("final turns %+v", finals)
	}
	if _, err := readMsg(ctx, t, c); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after Termination: %v, want a normal close", err)
	}

	// The token opened its one session.
	if _, res, err := dialStream(ctx, tk); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("reusing a token: %v, %v", err, res)
	}
	// An expired token is refused before the upgrade as well.
	old := e.streamToken(map[string]int{"expires_in_seconds": 1})
	e.clock.Advance(2 * time.Second)
	if _, res, err := dialStream(ctx, old); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %v, %v", err, res)
	}
	// So is none at all.
	if _, res, err := dialStream(ctx, streamToken{URL: tk.URL}); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %v, %v", err, res)
	}

	// The session's audio counts toward usage (4 s rounds up to 0.1 minute).
	var after usage
	e.must("GET", "/v1/billing/usage", nil, http.StatusOK, &after)
	if after.AudioMinutes <= before.AudioMinutes {
		t.Errorf("audio minutes %v → %v after a live session", before.AudioMinutes, after.AudioMinutes)
	}
}

// The drop fault cuts the socket without a close handshake, as a failing network would.
func TestLiveDropFault(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e.srv.Faults().SetDropSocketAfter(200 * time.Millisecond)
	c, _, err := dialStream(ctx, e.streamToken(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if m, err := readMsg(ctx, t, c); err != nil || m.Type != "Begin" {
		t.Fatalf("begin: %+v %v", m, err)
	}
	_, err = readMsg(ctx, t, c)
	if err == nil || websocket.CloseStatus(err) != -1 || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after the drop: %v, want the connection cut without a close frame", err)
	}
}

// Closing the sandbox ends open sessions with an Error.
func TestLiveSessionEndsOnClose(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, _, err := dialStream(ctx, e.streamToken(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if m, err := readMsg(ctx, t, c); err != nil || m.Type != "Begin" {
		t.Fatalf("begin: %+v %v", m, err)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.srv.Close() }()
	m, err := readMsg(ctx, t, c)
	if err != nil || m.Type != "Error" || m.ErrorCode == 0 {
		t.Errorf("on Close: %+v %v, want an Error message", m, err)
	}
	// Reading on answers the server's close frame, with the Error's code.
	if _, err := readMsg(ctx, t, c); int(websocket.CloseStatus(err)) != m.ErrorCode {
		t.Errorf("after the Error: %v, want close code %d", err, m.ErrorCode)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close did not return")
	}
}

func TestAudioBytesReceived(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if n := e.srv.AudioBytesReceived(); n != 0 {
		t.Fatalf("a fresh sandbox counts %d audio bytes", n)
	}

	// A live session: every binary frame counts, even one the server refuses.
	c, _, err := dialStream(ctx, e.streamToken(nil))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	if m, err := readMsg(ctx, t, c); err != nil || m.Type != "Begin" {
		t.Fatalf("first message %+v, %v", m, err)
	}
	frames := pcmFrames(tones(burst{time.Second, true}))
	var sent int64
	for _, f := range frames {
		if err := c.Write(ctx, websocket.MessageBinary, f); err != nil {
			t.Fatalf("send audio: %v", err)
		}
		sent += int64(len(f))
	}
	bad := make([]byte, 3) // odd length: refused with an Error
	if err := c.Write(ctx, websocket.MessageBinary, bad); err != nil {
		t.Fatal(err)
	}
	sent += int64(len(bad))
	for {
		m, err := readMsg(ctx, t, c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if m.Type == "Error" {
			break
		}
	}
	if got := e.srv.AudioBytesReceived(); got != sent {
		t.Errorf("after the live session: %d audio bytes, want %d", got, sent)
	}

	// An upload counts the file as it crossed the network.
	file := speechWAV()
	if r := e.postForm("/v1/transcriptions", nil, file, nil); r.status != http.StatusOK {
		t.Fatalf("transcribe: status %d: %s", r.status, r.body)
	}
	if got, want := e.srv.AudioBytesReceived(), sent+int64(len(file)); got != want {
		t.Errorf("after the upload: %d audio bytes, want %d", got, want)
	}
}

package live_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/nextvisit/scribe/sync/sandbox/live"
	"github.com/nextvisit/scribe/sync/sandbox/recognize"
	"github.com/nextvisit/scribe/sync/sandbox/recognize/speechtest"
)

// wait bounds every wait for a message, so that a broken server fails the
// test instead of hanging it.
const wait = 10 * time.Second

// clock is a settable time source shared by the fake tokens and the handler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeTokens stands in for the REST part's token store: single use, with
// an expiry read from the shared clock.
type fakeTokens struct {
	clock *clock

	mu      sync.Mutex
	tokens  map[string]*fakeToken
	redeems int
}

type fakeToken struct {
	expires time.Time
	used    bool
	grant   live.Grant
}

var _ live.Tokens = (*fakeTokens)(nil)

func (f *fakeTokens) mint(name string, ttl time.Duration, grant live.Grant) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[name] = &fakeToken{expires: f.clock.Now().Add(ttl), grant: grant}
	return name
}

func (f *fakeTokens) Redeem(_ context.Context, token string) (live.Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redeems++
	t, ok := f.tokens[token]
	switch {
	case !ok:
		return live.Grant{}, live.ErrTokenUnknown
	case t.used:
		return live.Grant{}, live.ErrTokenUsed
	case !f.clock.Now().Before(t.expires):
		return live.Grant{}, live.ErrTokenExpired
	}
	t.used = true
	return t.grant, nil
}

func (f *fakeTokens) redeemCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.redeems
}

type env struct {
	h      *live.Handler
	srv    *httptest.Server
	clock  *clock
	tokens *fakeTokens
	ended  chan live.Summary
}

func newEnv(t *testing.T, mod func(*live.Config)) *env {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}
	e := &env{clock: c, tokens: &fakeTokens{clock: c, tokens: map[string]*fakeToken{}}, ended: make(chan live.Summary, 16)}
	cfg := live.Config{
		Tokens:    e.tokens,
		NewStream: recognize.VAD{}.NewStream,
		Now:       c.Now,
		OnEnd:     func(s live.Summary) { e.ended <- s },
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := live.NewHandler(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		e.srv.Close()
	})
	return e
}

func (e *env) url(token string, query ...string) string {
	q := url.Values{"token": {token}, "sample_rate": {"16000"}, "encoding": {"pcm_s16le"}}
	for i := 0; i+1 < len(query); i += 2 {
		q.Set(query[i], query[i+1])
	}
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/realtime?" + q.Encode()
}

// summary waits for the session summary.
func (e *env) summary(t *testing.T) live.Summary {
	t.Helper()
	select {
	case s := <-e.ended:
		return s
	case <-time.After(wait):
		t.Fatal("no session summary")
		return live.Summary{}
	}
}

// serverMsg holds any server message; raw keeps the exact JSON.
type serverMsg struct {
	Type            string `json:"type"`
	ID              string `json:"id"`
	ExpiresAt       string `json:"expires_at"`
	TurnOrder       int    `json:"turn_order"`
	Transcript      string `json:"transcript"`
	EndOfTurn       bool   `json:"end_of_turn"`
	Words           []word `json:"words"`
	ErrorCode       int    `json:"error_code"`
	Error           string `json:"error"`
	AudioDurationMS int64  `json:"audio_duration_ms"`
	raw             map[string]json.RawMessage
}

type word struct {
	Text       string  `json:"text"`
	Start      int64   `json:"start"`
	End        int64   `json:"end"`
	Confidence float64 `json:"confidence"`
}

// client is a real WebSocket client whose reader runs on its own goroutine,
// as a real one must: the server sends turns while audio is still going up.
type client struct {
	conn *websocket.Conn
	msgs chan serverMsg
	err  error // why reading ended; valid once msgs is closed
}

func dial(t *testing.T, u string) *client {
	t.Helper()
	conn, resp, err := websocket.Dial(t.Context(), u, nil)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &client{conn: conn, msgs: make(chan serverMsg, 1024)}
	go func() {
		defer close(c.msgs)
		for {
			typ, b, err := conn.Read(context.WithoutCancel(t.Context()))
			if err != nil {
				c.err = err
				return
			}
			if typ != websocket.MessageText {
				c.err = fmt.Errorf("server sent a %v message", typ)
				return
			}
			var m serverMsg
			if err := json.Unmarshal(b, &m); err != nil {
				c.err = fmt.Errorf("server sent %q: %w", b, err)
				return
			}
			if err := json.Unmarshal(b, &m.raw); err != nil {
				c.err = err
				return
			}
			c.msgs <- m
		}
	}()
	return c
}

// next returns the next message; it fails the test if the connection ends.
func (c *client) next(t *testing.T) serverMsg {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			t.Fatalf("connection ended while waiting for a message: %v", c.err)
		}
		return m
	case <-time.After(wait):
		t.Fatal("no message from the server")
		return serverMsg{}
	}
}

// closed waits for the connection to end, failing on any further message,
// and returns the read error (a websocket.CloseError for a clean close).
func (c *client) closed(t *testing.T) error {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		if ok {
			t.Fatalf("unexpected %s message %v", m.Type, m.raw)
		}
		return c.err
	case <-time.After(wait):
		t.Fatal("the server did not close the connection")
		return nil
	}
}

func (c *client) sendPCM(t *testing.T, pcm []int16) {
	t.Helper()
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	if err := c.conn.Write(t.Context(), websocket.MessageBinary, b); err != nil {
		t.Fatalf("send audio: %v", err)
	}
}

func (c *client) sendText(t *testing.T, s string) {
	t.Helper()
	if err := c.conn.Write(t.Context(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("send %s: %v", s, err)
	}
}

func (c *client) begin(t *testing.T) serverMsg {
	t.Helper()
	m := c.next(t)
	if m.Type != "Begin" || m.ID == "" {
		t.Fatalf("first message %v, want Begin with an id", m.raw)
	}
	return m
}

// expectError waits for an Error with the code, then the close with it.
func (c *client) expectError(t *testing.T, code int, says string) {
	t.Helper()
	m := c.next(t)
	if m.Type != "Error" || m.ErrorCode != code || !strings.Contains(m.Error, says) {
		t.Fatalf("got %v, want Error %d saying %q", m.raw, code, says)
	}
	if st := websocket.CloseStatus(c.closed(t)); st != websocket.StatusCode(code) {
		t.Errorf("closed with status %d, want %d", st, code)
	}
}

// The whole protocol on real speech: Begin, turns in order whose times match
// the phrases, Termination with the audio's length, close 1000.
func TestSessionWithSpeech(t *testing.T) {
	pcm, truth := speechtest.Build(t, 600*time.Millisecond,
		[]string{"Any chest pain or shortness of breath", "She sleeps about six hours a night", "Continue the current dose"},
		[]time.Duration{time.Second, 1500 * time.Millisecond}, time.Second)
	const frame = 1600 // 100 ms
	pcm = append(pcm, make([]int16, (frame-len(pcm)%frame)%frame)...)

	e := newEnv(t, nil)
	tok := e.tokens.mint("tok-1", time.Minute, live.Grant{MaxSessionDuration: 10 * time.Minute, Owner: "user-7"})
	c := dial(t, e.url(tok))
	begin := c.begin(t)
	if want := e.clock.Now().Add(10 * time.Minute).Format(time.RFC3339); begin.ExpiresAt != want {
		t.Errorf("expires_at %q, want %q (start + max session duration)", begin.ExpiresAt, want)
	}
	for p := pcm; len(p) > 0; p = p[frame:] {
		c.sendPCM(t, p[:frame])
	}
	c.sendText(t, `{"type":"Terminate"}`)

	var finals []serverMsg
	partials := 0
	for {
		m := c.next(t)
		if m.Type == "Termination" {
			if want := int64(len(pcm) / 16); m.AudioDurationMS != want {
				t.Errorf("audio_duration_ms %d, want %d", m.AudioDurationMS, want)
			}
			break
		}
		if m.Type != "Turn" {
			t.Fatalf("unexpected message %v", m.raw)
		}
		for _, k := range []string{"turn_order", "transcript", "end_of_turn", "words"} {
			if _, ok := m.raw[k]; !ok {
				t.Errorf("Turn message %v has no %q", m.raw, k)
			}
		}
		if m.TurnOrder != len(finals) {
			t.Errorf("turn_order %d after %d final turns", m.TurnOrder, len(finals))
		}
		if m.EndOfTurn {
			finals = append(finals, m)
		} else {
			partials++
		}
	}
	if st := websocket.CloseStatus(c.closed(t)); st != websocket.StatusNormalClosure {
		t.Errorf("closed with status %d, want 1000", st)
	}

	if len(finals) != len(truth) {
		t.Fatalf("%d final turns, want %d", len(finals), len(truth))
	}
	if partials == 0 {
		t.Error("no partial turns")
	}
	batch, err := recognize.VAD{}.Transcribe(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range finals {
		ws := m.Words
		if len(ws) == 0 {
			t.Fatalf("final turn %d has no words", i)
		}
		start, end := time.Duration(ws[0].Start)*time.Millisecond, time.Duration(ws[len(ws)-1].End)*time.Millisecond
		if (start-truth[i].Start).Abs() > 300*time.Millisecond || (end-truth[i].End).Abs() > 300*time.Millisecond {
			t.Errorf("turn %d spans %v–%v, phrase %v", i, start, end, truth[i])
		}
		// The socket gives what the recognizer gives for the same audio.
		b := batch.Turns[i]
		if m.Transcript != b.Transcript || len(ws) != len(b.Words) || start != b.Start.Truncate(time.Millisecond) {
			t.Errorf("turn %d: %q with %d words from %v; batch: %q with %d words from %v", i, m.Transcript, len(ws), start, b.Transcript, len(b.Words), b.Start)
		}
	}

	s := e.summary(t)
	if s.ID != begin.ID || s.Owner != "user-7" || s.FinalTurns != len(truth) || s.Audio != speechtest.At(len(pcm)) || s.Reason != "terminated" {
		t.Errorf("summary %+v", s)
	}
}

// dialRefused dials and expects the HTTP status and JSON message.
func dialRefused(t *testing.T, u string, status int, says string) {
	t.Helper()
	conn, resp, err := websocket.Dial(t.Context(), u, nil)
	if err == nil {
		conn.CloseNow()
		t.Fatalf("dial succeeded, want HTTP %d", status)
	}
	if resp == nil || resp.StatusCode != status {
		t.Fatalf("dial: %v (response %v), want HTTP %d", err, resp, status)
	}
	var body struct {
		Message string `json:"message"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil || !strings.Contains(body.Message, says) {
		t.Errorf("body %q, want JSON {message} saying %q", b, says)
	}
}

func TestTokensRefusedBeforeUpgrade(t *testing.T) {
	e := newEnv(t, nil)

	used := e.tokens.mint("used", time.Minute, live.Grant{})
	c := dial(t, e.url(used))
	c.begin(t)
	c.sendText(t, `{"type":"Terminate"}`)
	if m := c.next(t); m.Type != "Termination" || m.AudioDurationMS != 0 {
		t.Fatalf("got %v, want Termination of 0 ms", m.raw)
	}
	dialRefused(t, e.url(used), http.StatusUnauthorized, "already used")

	// Expiry needs no waiting: the clock moves.
	expiring := e.tokens.mint("expiring", 30*time.Second, live.Grant{})
	e.clock.Advance(31 * time.Second)
	dialRefused(t, e.url(expiring), http.StatusUnauthorized, "expired")

	dialRefused(t, e.url("never-minted"), http.StatusUnauthorized, "unknown token")
	dialRefused(t, e.url(""), http.StatusUnauthorized, "missing token")
}

// Wrong parameters are refused with 400 and do not use up the token.
func TestBadParametersKeepTheToken(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.tokens.mint("tok", time.Minute, live.Grant{})
	dialRefused(t, e.url(tok, "sample_rate", "44100"), http.StatusBadRequest, `sample_rate "44100"`)
	dialRefused(t, e.url(tok, "sample_rate", ""), http.StatusBadRequest, "sample_rate")
	dialRefused(t, e.url(tok, "encoding", "opus"), http.StatusBadRequest, `encoding "opus"`)
	if n := e.tokens.redeemCount(); n != 0 {
		t.Fatalf("token redeemed %d times by refused requests", n)
	}
	resp, err := http.Get(strings.Replace(e.url(tok), "ws", "http", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || e.tokens.redeemCount() != 0 {
		t.Fatalf("plain GET: status %d, %d redeems; want 426 and none", resp.StatusCode, e.tokens.redeemCount())
	}
	post, err := http.Post(strings.Replace(e.url(tok), "ws", "http", 1), "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d, want 405", post.StatusCode)
	}
	c := dial(t, e.url(tok))
	c.begin(t)
}

func TestBadClientMessages(t *testing.T) {
	tests := []struct {
		name string
		send func(*testing.T, *client)
		code int
		says string
	}{
		{"odd byte count", func(t *testing.T, c *client) {
			if err := c.conn.Write(t.Context(), websocket.MessageBinary, make([]byte, 3201)); err != nil {
				t.Fatal(err)
			}
		}, live.CodeBadAudio, "3201 bytes"},
		{"frame of 10 ms", func(t *testing.T, c *client) { c.sendPCM(t, make([]int16, 160)) }, live.CodeBadAudio, "10ms"},
		{"frame of 300 ms", func(t *testing.T, c *client) { c.sendPCM(t, make([]int16, 4800)) }, live.CodeBadAudio, "300ms"},
		{"good frame then short one", func(t *testing.T, c *client) {
			c.sendPCM(t, make([]int16, 800))
			c.sendPCM(t, make([]int16, 799))
		}, live.CodeBadAudio, "1598 bytes"},
		{"text that is not JSON", func(t *testing.T, c *client) { c.sendText(t, "hello") }, live.CodeBadMessage, "not JSON"},
		{"unknown type", func(t *testing.T, c *client) { c.sendText(t, `{"type":"Pause"}`) }, live.CodeBadMessage, `"Pause"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := dial(t, e.url(e.tokens.mint("t", time.Minute, live.Grant{})))
			c.begin(t)
			tc.send(t, c)
			c.expectError(t, tc.code, tc.says)
			if s := e.summary(t); !strings.Contains(s.Reason, tc.says) {
				t.Errorf("summary reason %q", s.Reason)
			}
		})
	}
}

func TestKeepAliveKeepsSessionOpen(t *testing.T) {
	const idle = 500 * time.Millisecond
	e := newEnv(t, func(c *live.Config) { c.IdleTimeout = idle })

	quiet := dial(t, e.url(e.tokens.mint("quiet", time.Minute, live.Grant{})))
	quiet.begin(t)
	quiet.expectError(t, live.CodeIdleTimeout, "no audio or KeepAlive")
	e.summary(t)

	// Three idle timeouts long, with a KeepAlive ten times per timeout.
	alive := dial(t, e.url(e.tokens.mint("alive", time.Minute, live.Grant{})))
	alive.begin(t)
	tick := time.NewTicker(idle / 10)
	defer tick.Stop()
	deadline := time.After(3 * idle)
	for running := true; running; {
		select {
		case <-tick.C:
			alive.sendText(t, `{"type":"KeepAlive"}`)
		case m := <-alive.msgs:
			t.Fatalf("got %v while sending KeepAlive: %v", m.raw, alive.err)
		case <-deadline:
			running = false
		}
	}
	alive.sendText(t, `{"type":"Terminate"}`)
	if m := alive.next(t); m.Type != "Termination" {
		t.Fatalf("got %v, want Termination", m.raw)
	}
}

func TestSessionCap(t *testing.T) {
	t.Run("audio", func(t *testing.T) {
		e := newEnv(t, nil)
		c := dial(t, e.url(e.tokens.mint("t", time.Minute, live.Grant{MaxSessionDuration: time.Second})))
		c.begin(t)
		// Ten frames of 100 ms fill the second; the eleventh is too much.
		for range 11 {
			c.sendPCM(t, make([]int16, 1600))
		}
		c.expectError(t, live.CodeSessionExpired, "session duration exceeded")
		if s := e.summary(t); s.Audio != time.Second {
			t.Errorf("session took %v of audio, want exactly the 1 s cap", s.Audio)
		}
	})
	t.Run("wall time", func(t *testing.T) {
		e := newEnv(t, func(c *live.Config) { c.MaxSessionDuration = 200 * time.Millisecond })
		c := dial(t, e.url(e.tokens.mint("t", time.Minute, live.Grant{})))
		c.begin(t)
		c.expectError(t, live.CodeSessionExpired, "at most 200ms")
	})
}

// The drop switch cuts the socket with no Error, no Termination and no
// close frame; it is read at each session's start, so tests can flip it.
func TestDropFault(t *testing.T) {
	var dropAfter atomic.Int64
	e := newEnv(t, func(c *live.Config) {
		c.DropAfter = func() time.Duration { return time.Duration(dropAfter.Load()) }
	})

	ok := dial(t, e.url(e.tokens.mint("a", time.Minute, live.Grant{})))
	ok.begin(t)
	ok.sendPCM(t, make([]int16, 1600))
	ok.sendText(t, `{"type":"Terminate"}`)
	if m := ok.next(t); m.Type != "Termination" {
		t.Fatalf("switch off: got %v, want Termination", m.raw)
	}
	e.summary(t)

	dropAfter.Store(int64(150 * time.Millisecond))
	c := dial(t, e.url(e.tokens.mint("b", time.Minute, live.Grant{})))
	c.begin(t)
	c.sendPCM(t, make([]int16, 1600))
	err := c.closed(t)
	if st := websocket.CloseStatus(err); st != -1 {
		t.Errorf("dropped socket closed with status %d (%v), want no close frame", st, err)
	}
	if s := e.summary(t); s.Reason != "dropped by fault switch" || s.Audio != 100*time.Millisecond {
		t.Errorf("summary %+v", s)
	}
}

func TestCloseEndsSessions(t *testing.T) {
	e := newEnv(t, nil)
	c := dial(t, e.url(e.tokens.mint("t", time.Minute, live.Grant{})))
	c.begin(t)
	closed := make(chan error, 1)
	go func() { closed <- e.h.Close() }()
	c.expectError(t, live.CodeServerClosing, "shutting down")
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not return")
	}
	dialRefused(t, e.url(e.tokens.mint("u", time.Minute, live.Grant{})), http.StatusServiceUnavailable, "shutting down")
}

type failingStream struct{}

func (failingStream) Write(context.Context, []int16) ([]recognize.Turn, error) {
	return nil, errors.New("model crashed")
}
func (failingStream) Flush(context.Context) ([]recognize.Turn, error) { return nil, nil }

func TestRecognizerFailure(t *testing.T) {
	e := newEnv(t, func(c *live.Config) {
		c.NewStream = func() recognize.Stream { return failingStream{} }
	})
	c := dial(t, e.url(e.tokens.mint("t", time.Minute, live.Grant{})))
	c.begin(t)
	c.sendPCM(t, make([]int16, 1600))
	c.expectError(t, live.CodeRecognizerError, "recognition failed: model crashed")
}

// A client that vanishes without a word ends its session quietly.
func TestClientGone(t *testing.T) {
	e := newEnv(t, nil)
	c := dial(t, e.url(e.tokens.mint("t", time.Minute, live.Grant{})))
	c.begin(t)
	c.sendPCM(t, make([]int16, 3200))
	c.conn.CloseNow()
	if s := e.summary(t); s.Reason != "client gone" || s.Audio != 200*time.Millisecond {
		t.Errorf("summary %+v", s)
	}
}

func TestNewHandlerNeedsTokensAndRecognizer(t *testing.T) {
	for _, cfg := range []live.Config{{NewStream: recognize.VAD{}.NewStream}, {Tokens: &fakeTokens{}}} {
		if _, err := live.NewHandler(t.Context(), cfg); err == nil {
			t.Errorf("NewHandler(%+v) succeeded", cfg)
		}
	}
}

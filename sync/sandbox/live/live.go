// Package live serves the sandbox's live-transcription WebSocket: a client
// redeems a single-use temporary token, streams 16 kHz PCM and receives
// turns, as DESIGN.md's "Live transcription protocol" describes. Tokens are
// minted and checked by the REST part of the sandbox, behind Tokens; speech is
// recognized by whatever Stream the configuration's NewStream returns.
package live

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/nextvisit/scribe/sync/sandbox/recognize"
)

// Errors a Tokens implementation returns for a token that cannot open a
// session; each is answered with HTTP 401 before the upgrade.
var (
	ErrTokenUnknown = errors.New("unknown token")
	ErrTokenUsed    = errors.New("token already used")
	ErrTokenExpired = errors.New("token expired")
)

// Tokens redeems temporary tokens. Redeem must succeed at most once per token
// (single use) and must not succeed for an expired token.
type Tokens interface {
	Redeem(ctx context.Context, token string) (Grant, error)
}

// Grant is what a redeemed token allows.
type Grant struct {
	// MaxSessionDuration caps the session, in audio and in wall time; the
	// token's max_session_duration_seconds. Zero: Config.MaxSessionDuration.
	MaxSessionDuration time.Duration
	// Owner is opaque to this package (the user who minted the token, say)
	// and handed back in the session's Summary.
	Owner string
}

// Error codes sent in Error messages; the socket is then closed with the same
// code (4000–4999 are the application's own WebSocket close codes).
const (
	CodeBadMessage      = 4000 // a text message that is not KeepAlive or Terminate
	CodeBadAudio        = 4001 // a binary frame of odd length, or outside 50–250 ms
	CodeSessionExpired  = 4008 // max_session_duration exceeded
	CodeIdleTimeout     = 4009 // nothing received for the idle timeout
	CodeServerClosing   = 4010 // the sandbox is shutting down
	CodeRecognizerError = 4011 // the recognizer failed
)

// Frame sizes the protocol allows, at 16 kHz mono s16le.
const (
	MinFrame = 50 * time.Millisecond
	MaxFrame = 250 * time.Millisecond
)

// Defaults for Config fields left zero.
const (
	DefaultMaxSessionDuration = 3 * time.Hour
	DefaultIdleTimeout        = 30 * time.Second
	writeTimeout              = 10 * time.Second
	readLimit                 = 64 << 10 // bytes; frames are at most 8000
)

// Config configures NewHandler.
type Config struct {
	// Tokens redeems the token in the URL. Required.
	Tokens Tokens
	// NewStream makes the recognizer for one session, e.g.
	// recognize.VAD{}.NewStream. Required.
	NewStream func() recognize.Stream
	// Logger receives session events (ids, durations, reasons), never audio
	// or transcripts. Nothing is logged when nil.
	Logger *slog.Logger
	// Now is the clock for Begin's expires_at and the Summary times;
	// time.Now when nil.
	Now func() time.Time
	// MaxSessionDuration applies when a Grant carries none
	// (DefaultMaxSessionDuration when zero).
	MaxSessionDuration time.Duration
	// IdleTimeout ends a session that has received nothing, neither audio
	// nor KeepAlive, for this long (DefaultIdleTimeout when zero).
	IdleTimeout time.Duration
	// DropAfter is the fault switch for tests: when it returns d > 0 as a
	// session begins, the socket is cut after d of wall time, without an
	// Error or Termination message and without a close handshake, as a
	// failing network would. Nil or d ≤ 0: never.
	DropAfter func() time.Duration
	// OnEnd, when set, is called once per session after it ends (usage
	// accounting). It runs on the session's goroutine.
	OnEnd func(Summary)
}

// Summary describes a finished session.
type Summary struct {
	ID         string
	Owner      string
	Started    time.Time
	Ended      time.Time
	Audio      time.Duration // audio received
	FinalTurns int
	// Reason says how it ended: "terminated" (the client sent Terminate),
	// "client gone", or the text of the Error sent, or "dropped by fault
	// switch".
	Reason string
}

// Handler serves GET {url}?token=…&sample_rate=16000&encoding=pcm_s16le.
type Handler struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	// audioBytes counts the audio that reached the server: binary frames on every session, plus
	// what AddAudioBytes adds for other routes. Tests hold clients to a budget with it.
	audioBytes atomic.Int64
}

var _ http.Handler = (*Handler)(nil)

// NewHandler checks cfg and returns the handler. Sessions end when ctx is
// cancelled or Close is called.
func NewHandler(ctx context.Context, cfg Config) (*Handler, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("live: Config.Tokens is required")
	}
	if cfg.NewStream == nil {
		return nil, errors.New("live: Config.NewStream is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSessionDuration <= 0 {
		cfg.MaxSessionDuration = DefaultMaxSessionDuration
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	h := &Handler{cfg: cfg}
	h.ctx, h.cancel = context.WithCancel(ctx)
	return h, nil
}

// AudioBytes reports the bytes of audio received so far: every binary frame of every session
// (valid or not, as it crossed the network), plus what AddAudioBytes added.
func (h *Handler) AudioBytes() int64 { return h.audioBytes.Load() }

// AddAudioBytes counts n bytes of audio that reached the server by another route (a file upload),
// so that AudioBytes is everything the server received.
func (h *Handler) AddAudioBytes(n int64) { h.audioBytes.Add(n) }

// Close ends every open session with an Error (CodeServerClosing), refuses
// new ones, and waits for the sessions to finish.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSONError(w, http.StatusMethodNotAllowed, "use GET with a WebSocket upgrade")
		return
	}
	// Parameters first: a request that cannot succeed must not use up
	// its token.
	q := r.URL.Query()
	if rate := q.Get("sample_rate"); rate != "16000" {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("sample_rate %q is not supported: send 16 kHz audio with sample_rate=16000", rate))
		return
	}
	if enc := q.Get("encoding"); enc != "pcm_s16le" {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("encoding %q is not supported: send raw 16-bit little-endian PCM with encoding=pcm_s16le", enc))
		return
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		writeJSONError(w, http.StatusUpgradeRequired, "this endpoint speaks WebSocket: connect with a WebSocket client")
		return
	}
	token := q.Get("token")
	if token == "" {
		writeJSONError(w, http.StatusUnauthorized, "missing token: mint one with POST /v1/transcription/token and pass it as ?token=")
		return
	}

	// Register before redeeming, so that Close cannot miss a session
	// that is being set up.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		writeJSONError(w, http.StatusServiceUnavailable, "the sandbox is shutting down")
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	grant, err := h.cfg.Tokens.Redeem(r.Context(), token)
	switch {
	case errors.Is(err, ErrTokenUsed):
		writeJSONError(w, http.StatusUnauthorized, "token already used: tokens open one session each; mint a new one with POST /v1/transcription/token for every connection")
		return
	case errors.Is(err, ErrTokenExpired):
		writeJSONError(w, http.StatusUnauthorized, "token expired: mint a new one with POST /v1/transcription/token just before connecting")
		return
	case errors.Is(err, ErrTokenUnknown):
		writeJSONError(w, http.StatusUnauthorized, "unknown token: mint one with POST /v1/transcription/token")
		return
	case err != nil:
		h.cfg.Logger.ErrorContext(r.Context(), "redeem streaming token", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "could not check the token; try again")
		return
	}

	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		// Accept has answered the request.
		h.cfg.Logger.WarnContext(r.Context(), "websocket upgrade failed", "err", err)
		return
	}
	conn.SetReadLimit(readLimit)
	s := &session{h: h, conn: conn, grant: grant, id: rand.Text()}
	s.run()
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{msg})
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Messages, as DESIGN.md gives them.
type (
	beginMsg struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		ExpiresAt string `json:"expires_at"` // RFC 3339, like every expires_at of the API
	}
	wordMsg struct {
		Text       string  `json:"text"`
		Start      int64   `json:"start"` // ms from the session's first frame
		End        int64   `json:"end"`
		Confidence float64 `json:"confidence"`
	}
	turnMsg struct {
		Type       string    `json:"type"`
		TurnOrder  int       `json:"turn_order"`
		Transcript string    `json:"transcript"`
		EndOfTurn  bool      `json:"end_of_turn"`
		Words      []wordMsg `json:"words"`
	}
	errorMsg struct {
		Type      string `json:"type"`
		ErrorCode int    `json:"error_code"`
		Error     string `json:"error"`
	}
	terminationMsg struct {
		Type            string `json:"type"`
		AudioDurationMS int64  `json:"audio_duration_ms"`
	}
	clientMsg struct {
		Type string `json:"type"`
	}
)

// received is one message from the client, or the error that ended reading.
type received struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

type session struct {
	h     *Handler
	conn  *websocket.Conn
	grant Grant
	id    string

	stream  recognize.Stream
	samples int64 // audio received
	finals  int   // final turns sent
	pcm     []int16
	started time.Time

	done     chan struct{} // closed when the session stops taking messages
	stopOnce sync.Once
}

// ending says how a session ends: with an Error message (code > 0), or
// quietly because the client is gone (code 0).
type ending struct {
	code int
	msg  string
}

var clientGone = ending{msg: "client gone"}

func (s *session) run() {
	h := s.h
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	maxDur := s.grant.MaxSessionDuration
	if maxDur <= 0 {
		maxDur = h.cfg.MaxSessionDuration
	}
	s.started = h.cfg.Now()
	s.stream = h.cfg.NewStream()
	s.done = make(chan struct{})
	log := h.cfg.Logger.With("session", s.id)
	log.InfoContext(ctx, "live session begins", "max_duration", maxDur)

	reason := s.loop(ctx, maxDur)

	log.InfoContext(ctx, "live session ends", "reason", reason, "audio", samplesDuration(s.samples), "final_turns", s.finals)
	if h.cfg.OnEnd != nil {
		h.cfg.OnEnd(Summary{
			ID: s.id, Owner: s.grant.Owner, Started: s.started, Ended: h.cfg.Now(),
			Audio: samplesDuration(s.samples), FinalTurns: s.finals, Reason: reason,
		})
	}
}

// loop runs the session and returns why it ended.
func (s *session) loop(ctx context.Context, maxDur time.Duration) string {
	h := s.h
	if err := s.send(ctx, beginMsg{Type: "Begin", ID: s.id, ExpiresAt: s.started.Add(maxDur).UTC().Format(time.RFC3339)}); err != nil {
		s.abort()
		return clientGone.msg
	}

	// One goroutine reads; this one decides and writes. The reader ends
	// when the connection closes. It reads with a context that shutdown
	// does not cancel, because cancelling a read closes the connection, and
	// the Error message must still go out.
	msgs := make(chan received, 8)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			typ, data, err := s.conn.Read(context.WithoutCancel(ctx))
			select {
			case msgs <- received{typ, data, err}:
			case <-s.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		s.abort() // no-op after a close; makes sure the reader ends
		<-readerDone
	}()

	capTimer := time.NewTimer(maxDur)
	defer capTimer.Stop()
	idle := time.NewTimer(h.cfg.IdleTimeout)
	defer idle.Stop()
	var drop <-chan time.Time
	if h.cfg.DropAfter != nil {
		if d := h.cfg.DropAfter(); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			drop = t.C
		}
	}
	maxSamples := int64(maxDur / (time.Second / recognize.SampleRate))

	for {
		var end ending
		select {
		case <-ctx.Done():
			end = ending{CodeServerClosing, "the sandbox is shutting down"}
		case <-capTimer.C:
			end = ending{CodeSessionExpired, fmt.Sprintf("session duration exceeded: sessions last at most %v; open a new one with a new token", maxDur)}
		case <-idle.C:
			end = ending{CodeIdleTimeout, fmt.Sprintf("no audio or KeepAlive for %v: send KeepAlive while paused", h.cfg.IdleTimeout)}
		case <-drop:
			s.abort()
			return "dropped by fault switch"
		case m := <-msgs:
			if m.err != nil {
				end = clientGone
				break
			}
			if m.typ == websocket.MessageBinary {
				h.audioBytes.Add(int64(len(m.data)))
				end = s.audio(ctx, m.data, maxSamples)
				break
			}
			var cm clientMsg
			if err := json.Unmarshal(m.data, &cm); err != nil {
				end = ending{CodeBadMessage, `text message is not JSON: send {"type":"KeepAlive"} or {"type":"Terminate"}, and audio as binary frames`}
				break
			}
			switch cm.Type {
			case "KeepAlive":
			case "Terminate":
				return s.terminate(ctx)
			default:
				end = ending{CodeBadMessage, fmt.Sprintf("unknown message type %q: send KeepAlive or Terminate", cm.Type)}
			}
		}
		if end != (ending{}) {
			return s.fail(ctx, end)
		}
		// Idle time counts from the end of handling, so that a slow
		// recognizer (a remote one) is not taken for a silent client.
		idle.Reset(h.cfg.IdleTimeout)
	}
}

// audio checks and recognizes one binary frame, and sends the turns it
// yields. A non-zero ending ends the session.
func (s *session) audio(ctx context.Context, data []byte, maxSamples int64) ending {
	const minSamples = int(MinFrame * recognize.SampleRate / time.Second)
	const maxFrameSamples = int(MaxFrame * recognize.SampleRate / time.Second)
	if len(data)%2 != 0 {
		return ending{CodeBadAudio, fmt.Sprintf("audio frame of %d bytes: pcm_s16le frames hold whole 2-byte samples", len(data))}
	}
	n := len(data) / 2
	if n < minSamples || n > maxFrameSamples {
		return ending{CodeBadAudio, fmt.Sprintf("audio frame of %v (%d bytes): send %v to %v per frame (%d to %d bytes at 16 kHz)",
			samplesDuration(int64(n)), len(data), MinFrame, MaxFrame, 2*minSamples, 2*maxFrameSamples)}
	}
	if s.samples+int64(n) > maxSamples {
		return ending{CodeSessionExpired, fmt.Sprintf("session duration exceeded: sessions take at most %v of audio; open a new one with a new token", samplesDuration(maxSamples))}
	}
	s.pcm = s.pcm[:0]
	for i := range n {
		s.pcm = append(s.pcm, int16(binary.LittleEndian.Uint16(data[2*i:])))
	}
	s.samples += int64(n)
	turns, err := s.stream.Write(ctx, s.pcm)
	if err != nil {
		return s.recognizerFailed(ctx, err)
	}
	if err := s.sendTurns(ctx, turns); err != nil {
		return clientGone
	}
	return ending{}
}

func (s *session) recognizerFailed(ctx context.Context, err error) ending {
	s.h.cfg.Logger.WarnContext(ctx, "live recognizer failed", "session", s.id, "err", err)
	return ending{CodeRecognizerError, "recognition failed: " + err.Error()}
}

// terminate flushes the recognizer, sends the last turns and Termination,
// and closes normally.
func (s *session) terminate(ctx context.Context) string {
	turns, err := s.stream.Flush(ctx)
	if err != nil {
		return s.fail(ctx, s.recognizerFailed(ctx, err))
	}
	if err := s.sendTurns(ctx, turns); err != nil {
		return s.fail(ctx, clientGone)
	}
	if err := s.send(ctx, terminationMsg{Type: "Termination", AudioDurationMS: samplesDuration(s.samples).Milliseconds()}); err != nil {
		return s.fail(ctx, clientGone)
	}
	s.stop()
	s.conn.Close(websocket.StatusNormalClosure, "")
	return "terminated"
}

// fail sends the Error message and closes with its code, or just cuts the
// connection when the client is gone. It returns the reason for the Summary.
func (s *session) fail(ctx context.Context, e ending) string {
	if e.code == 0 {
		s.abort()
		return e.msg
	}
	if err := s.send(ctx, errorMsg{Type: "Error", ErrorCode: e.code, Error: e.msg}); err != nil {
		s.abort()
		return clientGone.msg
	}
	s.stop()
	// The close reason is limited to 123 bytes; the message carries the
	// full text.
	s.conn.Close(websocket.StatusCode(e.code), "")
	return e.msg
}

// stop makes the reader drop further messages: the close handshake reads
// what the client still sends.
func (s *session) stop() { s.stopOnce.Do(func() { close(s.done) }) }

// abort cuts the connection without a close handshake.
func (s *session) abort() {
	s.stop()
	s.conn.CloseNow()
}

func (s *session) sendTurns(ctx context.Context, turns []recognize.Turn) error {
	for _, t := range turns {
		m := turnMsg{Type: "Turn", TurnOrder: t.Order, Transcript: t.Transcript, EndOfTurn: t.EndOfTurn, Words: make([]wordMsg, 0, len(t.Words))}
		for _, w := range t.Words {
			m.Words = append(m.Words, wordMsg{Text: w.Text, Start: w.Start.Milliseconds(), End: w.End.Milliseconds(), Confidence: w.Confidence})
		}
		if err := s.send(ctx, m); err != nil {
			return err
		}
		if t.EndOfTurn {
			s.finals++
		}
	}
	return nil
}

func (s *session) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	// Writes must not wait on ctx alone: on shutdown ctx is already
	// cancelled, and the Error message must still go out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("send %T: %w", v, err)
	}
	return nil
}

func samplesDuration(samples int64) time.Duration {
	return time.Duration(samples) * time.Second / recognize.SampleRate
}

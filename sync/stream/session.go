package stream

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

const (
	dialTimeout  = 15 * time.Second // token, handshake and Begin
	writeTimeout = 10 * time.Second // one message; a socket that takes longer is dead
	readLimit    = 1 << 20          // bytes; a Turn with its words is a few KB
	// rotateEarly is how long before the session's wall-clock cap it is ended on purpose, with
	// Terminate, so the server's cap never cuts unfinished turns.
	rotateEarly = 10 * time.Second
)

// errTerminated is the reader's way of saying Termination arrived.
var errTerminated = errors.New("session terminated")

// outcome is how one session ended.
type outcome struct {
	begun    bool          // Begin arrived
	done     bool          // Termination after the end of the recording: all is covered
	progress bool          // a final turn was stored, or Termination confirmed the audio
	lasted   time.Duration // from Begin
	err      error         // why it ended, when not done
	fatal    error         // the Source failed: Run stops
}

// serverMsg is any message from the server.
type serverMsg struct {
	Type            string `json:"type"`
	ID              string `json:"id"`
	EndOfTurn       bool   `json:"end_of_turn"`
	Transcript      string `json:"transcript"`
	ErrorCode       int    `json:"error_code"`
	Error           string `json:"error"`
	AudioDurationMS int64  `json:"audio_duration_ms"`
	Words           []struct {
		Text       string  `json:"text"`
		Start      int64   `json:"start"` // ms from the session's first frame
		End        int64   `json:"end"`
		Confidence float64 `json:"confidence"`
	} `json:"words"`
}

var (
	keepAliveMsg = []byte(`{"type":"KeepAlive"}`)
	terminateMsg = []byte(`{"type":"Terminate"}`)
)

// session runs one connection: token, dial, Begin, then audio from r.resume until the recording
// ends (Terminate) or the connection fails.
func (r *runner) session(ctx context.Context) outcome {
	tok, err := r.tokens(ctx)
	if err != nil {
		return outcome{err: fmt.Errorf("mint streaming token: %w", err)}
	}
	u, err := url.Parse(tok.Url)
	if err != nil || u.Host == "" || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") {
		return outcome{err: fmt.Errorf("%w: streaming token URL %q is not a ws:// or wss:// URL", ErrProtocol, tok.Url)}
	}
	if (u.Scheme == "ws" || u.Scheme == "http") && !loopback(u.Hostname()) {
		// The visit's audio would cross the network in clear text; only the sandbox on this
		// machine may use ws://.
		return outcome{err: fmt.Errorf("%w: streaming URL %s://%s is not encrypted; the server must give a wss:// URL", ErrProtocol, u.Scheme, u.Host)}
	}
	q := u.Query()
	q.Set("token", tok.Token)
	q.Set("sample_rate", "16000")
	q.Set("encoding", "pcm_s16le")
	u.RawQuery = q.Encode()

	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPClient: r.opt.HTTPClient})
	if err != nil {
		err = withoutURL(err)
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return outcome{err: fmt.Errorf("%w: %v", ErrTokenRefused, err)}
		}
		return outcome{err: fmt.Errorf("connect to live transcription %s: %w", u.Host, err)}
	}
	defer conn.CloseNow()
	conn.SetReadLimit(readLimit)

	m, err := readMsg(dctx, conn)
	switch {
	case err != nil:
		return outcome{err: fmt.Errorf("wait for Begin: %w", err)}
	case m.Type == "Error":
		return outcome{err: &ServerError{Code: m.ErrorCode, Message: m.Error}}
	case m.Type != "Begin":
		return outcome{err: fmt.Errorf("%w: first message is %q, not Begin", ErrProtocol, m.Type)}
	}
	begun := time.Now()
	r.res.Sessions++
	base := r.resume
	log := r.log.With("session", m.ID)
	log.DebugContext(ctx, "live transcription session begins", "from", base)

	s := &session{r: r, conn: conn, base: base, open: -1, log: log}
	s.sentTo.Store(base)
	if tok.MaxSessionDurationSeconds > 0 {
		maxDur := time.Duration(tok.MaxSessionDurationSeconds) * time.Second
		s.maxSamples = int64(tok.MaxSessionDurationSeconds) * SampleRate
		s.rotateAt = begun.Add(max(maxDur-rotateEarly, maxDur/2))
	}
	out := s.run(ctx)
	out.begun = true
	out.lasted = time.Since(begun)
	// Silence the recognizer heard before a turn it had started placing need not be sent again.
	if !out.done && s.open >= 0 {
		r.resume = max(r.resume, s.open-partialLead)
	}
	return out
}

// session is one connection's state.
type session struct {
	r          *runner
	conn       *websocket.Conn
	log        *slog.Logger
	base       int64 // journal offset of the session's first sample
	maxSamples int64 // audio the session may carry (0: no cap)
	rotateAt   time.Time

	// sentTo is the journal offset up to which audio has been sent (set before each frame goes
	// out). Turns are cut back to it: the recognizer may place a turn's end in the silence that
	// pads the last frame, which is not in the journal, and a server placing words in audio it
	// never got must not move the resume point past it.
	sentTo atomic.Int64

	// Written by the reader goroutine, read after it ends.
	open     int64 // start of the unfinished turn last reported, or -1
	progress bool
}

func (s *session) run(ctx context.Context) outcome {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	readDone := make(chan error, 1)
	go func() {
		err := s.read(ctx, sctx)
		cancel(err)
		readDone <- err
	}()
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		s.ping(sctx, cancel)
	}()

	sent, werr := s.write(sctx)
	if werr != nil {
		cancel(werr)
	}
	rerr := <-readDone
	cancel(nil)
	<-pingDone

	var srcErr *sourceError
	if errors.As(werr, &srcErr) {
		return outcome{fatal: srcErr.err, progress: s.progress}
	}
	if errors.Is(rerr, errTerminated) {
		// Everything sent was heard: the silence after the last final turn is covered too.
		s.r.resume = max(s.r.resume, s.base+sent.samples)
		return outcome{done: sent.all, progress: true}
	}
	err := rerr
	if werr != nil && !errors.Is(werr, context.Canceled) {
		err = werr
	}
	return outcome{err: err, progress: s.progress}
}

// sourceError marks a failure of the Source, which ends Run.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }

// sentAudio is what the writer sent.
type sentAudio struct {
	samples int64 // journal samples sent in this session (padding excluded)
	all     bool  // up to the end of the recording, then Terminate
}

// write sends audio from s.base as it becomes available, KeepAlive while there is none, and
// Terminate at the end of the recording or before the session's cap. It returns after Terminate
// is sent, or with the error that stopped it.
func (s *session) write(ctx context.Context) (sentAudio, error) {
	r := s.r
	frame := make([]int16, r.frame)
	buf := make([]byte, 0, 2*r.frame)
	minSamples := int64(minFrame * SampleRate / time.Second)
	var out sentAudio
	pos := s.base
	lastSend := time.Now()
	avail, ended, err := r.src.Wait(ctx, pos-1)
	if err != nil {
		return out, s.sourceErr(ctx, err)
	}
	s.reportLag(avail - pos)
	for {
		capped := (s.maxSamples > 0 && pos-s.base+r.frame > s.maxSamples) || (!s.rotateAt.IsZero() && time.Now().After(s.rotateAt))
		if capped || (ended && pos >= avail) {
			out.all = !capped
			return out, s.send(ctx, websocket.MessageText, terminateMsg)
		}
		if n := min(r.frame, avail-pos); n == r.frame || (ended && n > 0) {
			got, err := r.src.ReadAt(frame[:n], pos)
			if int64(got) < n {
				if err == nil {
					err = fmt.Errorf("read %d samples at %d: got %d", n, pos, got)
				}
				return out, s.sourceErr(ctx, err)
			}
			// The protocol's shortest frame is 50 ms: the recording's last samples are padded
			// with silence (turns reaching into it are cut back in turn()).
			buf = buf[:0]
			for _, v := range frame[:n] {
				buf = binary.LittleEndian.AppendUint16(buf, uint16(v))
			}
			for range minSamples - n {
				buf = append(buf, 0, 0)
			}
			s.sentTo.Store(pos + n)
			if err := s.send(ctx, websocket.MessageBinary, buf); err != nil {
				return out, err
			}
			pos += n
			out.samples += n
			r.res.Sent += int64(len(buf))
			lastSend = time.Now()
			s.reportLag(avail - pos)
			continue
		}
		// Less than a frame recorded: wait for more, with KeepAlive while paused.
		wctx, cancel := context.WithDeadline(ctx, lastSend.Add(r.opt.KeepAliveEvery))
		avail, ended, err = r.src.Wait(wctx, avail)
		cancel()
		switch {
		case ctx.Err() != nil:
			return out, context.Cause(ctx)
		case errors.Is(err, context.DeadlineExceeded):
			if err := s.send(ctx, websocket.MessageText, keepAliveMsg); err != nil {
				return out, err
			}
			lastSend = time.Now()
			r.setState(StateLive, nil)
		case err != nil:
			return out, s.sourceErr(ctx, err)
		}
	}
}

// reportLag reports live or catching-up from how far behind the recording the stream is.
func (s *session) reportLag(behind int64) {
	if behind > catchUpLag {
		s.r.setState(StateCatchingUp, nil)
	} else {
		s.r.setState(StateLive, nil)
	}
}

func (s *session) sourceErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return &sourceError{fmt.Errorf("stream: read the recording: %w", err)}
}

func (s *session) send(ctx context.Context, typ websocket.MessageType, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, typ, b); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("send to live transcription: %w", err)
	}
	return nil
}

// ping checks the connection while the server has nothing to say (silence sends no turns), so a
// network that silently stops carrying packets ends the session instead of stalling it.
func (s *session) ping(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(s.r.opt.KeepAliveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, stop := context.WithTimeout(ctx, writeTimeout)
		err := s.conn.Ping(pctx)
		stop()
		if err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("live transcription connection is not answering: %w", err))
			return
		}
	}
}

// read handles the server's messages until Termination (errTerminated), an Error, or the end of
// the connection. Sink.Final gets runCtx, so a dropping socket does not abort storing a turn.
func (s *session) read(runCtx, ctx context.Context) error {
	for {
		m, err := readMsg(ctx, s.conn)
		if err != nil {
			if c := context.Cause(ctx); ctx.Err() != nil && c != nil {
				return c
			}
			return fmt.Errorf("live transcription connection lost: %w", err)
		}
		switch m.Type {
		case "Turn":
			if err := s.turn(runCtx, m); err != nil {
				return err
			}
		case "Termination":
			return errTerminated
		case "Error":
			return &ServerError{Code: m.ErrorCode, Message: m.Error}
		default:
			// Begin again, or a message type added after this client: nothing to do.
			s.log.DebugContext(ctx, "live transcription message ignored", "type", m.Type)
		}
	}
}

func readMsg(ctx context.Context, conn *websocket.Conn) (serverMsg, error) {
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return serverMsg{}, err
	}
	return decodeMsg(typ, data)
}

// decodeMsg reads one message from the server; what is not a JSON text
// message is an ErrProtocol.
func decodeMsg(typ websocket.MessageType, data []byte) (serverMsg, error) {
	var m serverMsg
	if typ != websocket.MessageText {
		return m, fmt.Errorf("%w: binary message from the server", ErrProtocol)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: message is not JSON: %v", ErrProtocol, err)
	}
	return m, nil
}

// turn places a Turn message in the journal and hands it to the sink, once.
func (s *session) turn(ctx context.Context, m serverMsg) error {
	r := s.r
	if len(m.Words) == 0 {
		// Without words a turn has no place in the audio, so it could be neither ordered nor
		// told from a repeat; the sandbox and the services it models always send them.
		s.log.WarnContext(ctx, "live transcription turn without words ignored", "final", m.EndOfTurn)
		return nil
	}
	t := Turn{Text: m.Transcript, Final: m.EndOfTurn, Words: make([]Word, 0, len(m.Words))}
	sentTo := s.sentTo.Load()
	for _, w := range m.Words {
		start, end := s.base+w.Start*SampleRate/1000, min(s.base+w.End*SampleRate/1000, sentTo)
		if end <= r.resume || start >= end {
			continue // before the resume point (already in a final turn), or not sent audio
		}
		t.Words = append(t.Words, Word{Text: w.Text, Start: max(start, r.resume), End: end, Confidence: w.Confidence})
	}
	if len(t.Words) == 0 {
		return nil
	}
	// The server's word order is not trusted: a turn that ended before it
	// started, or a resume point set short of a word, would resend or
	// misplace audio.
	slices.SortStableFunc(t.Words, func(a, b Word) int { return cmp.Compare(a.Start, b.Start) })
	t.Start, t.End = t.Words[0].Start, t.Words[0].End
	for _, w := range t.Words[1:] {
		t.End = max(t.End, w.End)
	}
	if !t.Final {
		s.open = t.Start
		r.sinkMu.Lock()
		r.sink.Partial(t)
		r.sinkMu.Unlock()
		return nil
	}
	r.sinkMu.Lock()
	err := r.sink.Final(ctx, t)
	r.sinkMu.Unlock()
	if err != nil {
		return fmt.Errorf("store final turn: %w", err)
	}
	r.resume = t.End
	s.open = -1
	s.progress = true
	return nil
}

// loopback reports whether host is this machine: localhost or a loopback IP.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withoutURL drops the request URL a dial error quotes: its query holds the
// streaming token, and errors reach the log.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

package stream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"testing"

	"github.com/coder/websocket"
)

// turnSink keeps what the session hands on.
type turnSink struct{ turns []Turn }

func (s *turnSink) Partial(t Turn) { s.turns = append(s.turns, t) }
func (s *turnSink) Final(_ context.Context, t Turn) error {
	s.turns = append(s.turns, t)
	return nil
}
func (s *turnSink) State(State, error) {}

// FuzzServerMessage feeds arbitrary server messages through the decoder
// and, when they decode, through a session's turn placement. The decoder
// never panics, refuses with ErrProtocol, and what it accepts encodes back
// to the same message; a placed turn lies in audio that was sent and after
// the resume point, its words in order, and the resume point only moves
// forward, never past the audio sent.
func FuzzServerMessage(f *testing.F) {
	f.Add([]byte(`{"type":"Begin","id":"s1"}`), false, int64(0), int64(16000), int64(32000))
	f.Add([]byte(`{"type":"Turn","end_of_turn":true,"transcript":"no fever","words":[{"text":"no","start":100,"end":300,"confidence":0.9},{"text":"fever","start":320,"end":700}]}`), false, int64(0), int64(0), int64(32000))
	f.Add([]byte(`{"type":"Turn","end_of_turn":false,"words":[{"text":"b","start":900,"end":1000},{"text":"a","start":10,"end":20}]}`), false, int64(4800), int64(0), int64(64000))
	f.Add([]byte(`{"type":"Turn","end_of_turn":true,"words":[{"start":-5,"end":9223372036854775807}]}`), false, int64(0), int64(10), int64(100))
	f.Add([]byte(`{"type":"Error","error_code":4001,"error":"bad token"}`), false, int64(0), int64(0), int64(0))
	f.Add([]byte(`{"type":"Termination","audio_duration_ms":1200}`), true, int64(0), int64(0), int64(0))
	f.Add([]byte(`{"type":`), false, int64(0), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, binary bool, base, resume, sentTo int64) {
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		m, err := decodeMsg(typ, data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("decodeMsg: %v, want ErrProtocol", err)
			}
			return
		}
		if binary || !json.Valid(data) {
			t.Fatalf("decodeMsg accepted binary=%v %q", binary, data)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := decodeMsg(websocket.MessageText, again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %+v became %+v (%v)", m, m2, err)
		}
		if m.Type != "Turn" {
			return
		}
		// A session that began at base, has sent audio up to sentTo and
		// holds final text up to resume (base ≤ resume ≤ sentTo, all ≥ 0:
		// journal offsets).
		base, resume, sentTo = nonNeg(base)%(1<<40), nonNeg(resume)%(1<<40), nonNeg(sentTo)%(1<<40)
		resume = max(resume, base)
		sentTo = max(sentTo, resume)
		sink := &turnSink{}
		r := &runner{sink: sink, resume: resume}
		s := &session{r: r, base: base, open: -1, log: slog.New(slog.DiscardHandler)}
		s.sentTo.Store(sentTo)
		if err := s.turn(t.Context(), m); err != nil {
			t.Fatalf("turn: %v", err)
		}
		if r.resume < resume || r.resume > sentTo {
			t.Fatalf("resume moved from %d to %d (sent to %d)", resume, r.resume, sentTo)
		}
		for _, tu := range sink.turns {
			if len(tu.Words) == 0 || tu.Start != tu.Words[0].Start || tu.Start >= tu.End {
				t.Fatalf("turn %+v: span does not match its words", tu)
			}
			prev, end := resume, int64(0)
			for _, w := range tu.Words {
				if w.Start < prev || w.Start >= w.End || w.End > sentTo {
					t.Fatalf("turn %+v: word %+v out of order or outside [%d, %d)", tu, w, resume, sentTo)
				}
				prev, end = w.Start, max(end, w.End)
			}
			if tu.End != end {
				t.Fatalf("turn %+v ends at %d, its last word at %d", tu, tu.End, end)
			}
			if tu.Final && r.resume != tu.End {
				t.Fatalf("final turn ends at %d, resume is %d", tu.End, r.resume)
			}
		}
	})
}

func nonNeg(v int64) int64 {
	if v < 0 {
		return -(v + 1)
	}
	return v
}

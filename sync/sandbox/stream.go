package sandbox

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
	"github.com/nextvisit/scribe/sync/sandbox/live"
)

// streamTokens lets the live socket redeem the streaming tokens this server mints.
type streamTokens struct{ s *Server }

var _ live.Tokens = streamTokens{}

// Redeem spends the token; each opens one session of at most MaxSessionDuration.
func (t streamTokens) Redeem(ctx context.Context, token string) (live.Grant, error) {
	userID, err := t.s.redeemStreamingToken(ctx, token)
	if err != nil {
		return live.Grant{}, err
	}
	return live.Grant{MaxSessionDuration: MaxSessionDuration, Owner: strconv.FormatInt(userID, 10)}, nil
}

// newLiveHandler serves GET /api/v1/transcription/stream with the configured recognizer and the fault
// switches; sessions end when the sandbox closes.
func (s *Server) newLiveHandler() (*live.Handler, error) {
	h, err := live.NewHandler(s.ctx, live.Config{
		Tokens:             streamTokens{s},
		NewStream:          s.rec.NewStream,
		Logger:             s.log,
		Now:                s.now,
		MaxSessionDuration: MaxSessionDuration,
		DropAfter:          s.faults.DropSocketAfter,
		OnEnd:              s.recordLiveUsage,
	})
	if err != nil {
		return nil, fmt.Errorf("live transcription: %w", err)
	}
	return h, nil
}

// recordLiveUsage counts a finished session's audio toward billing usage.
func (s *Server) recordLiveUsage(sum live.Summary) {
	userID, err := strconv.ParseInt(sum.Owner, 10, 64)
	if err != nil || sum.Audio <= 0 {
		return
	}
	// The session may end because the sandbox is closing; the database is still open (Close waits
	// for sessions first), so record it regardless.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO transcription_usage (user_id, source, duration, created_at) VALUES (?, 'live', ?, ?)`,
		userID, sum.Audio.Seconds(), sqlitedb.FormatTime(sum.Ended)); err != nil {
		s.log.Error("record live transcription usage", "err", err)
	}
}

// AudioBytesReceived reports the bytes of audio the sandbox has received: PCM on live transcription
// sockets (every binary frame, re-sent audio included) plus the files uploaded to POST
// /v1/transcriptions, as they crossed the network (compressed where they were). Clients are held to
// sending each recording about once with it.
func (s *Server) AudioBytesReceived() int64 { return s.live.AudioBytes() }

package recognize

import (
	"context"
	"fmt"
	"math"
	"time"
)

// VAD is the sandbox's default recognizer. It reports one turn per speech
// region, whose transcript says what it is ("[sandbox] speech 3.2–7.9 s"),
// and one word (text "speech") per stretch of sound inside it. All times come
// from the audio; the output depends on nothing else, so it is deterministic.
// The zero value is ready to use.
type VAD struct {
	// Hangover is how long the audio must stay quiet before a turn ends
	// (DefaultHangover when zero). Pauses inside a sentence are shorter.
	Hangover time.Duration
	// MaxTurn ends a turn that has lasted this long, so that a stream with
	// endless sound still yields final turns (DefaultMaxTurn when zero).
	MaxTurn time.Duration
	// PartialEvery is how often a growing turn is reported with EndOfTurn
	// false (DefaultPartialEvery when zero; negative: never). The first
	// report comes as soon as the turn starts.
	PartialEvery time.Duration
}

var _ Recognizer = VAD{}

// NewStream starts a stream whose times count from its first sample.
func (v VAD) NewStream() Stream {
	return &vadStream{seg: newSegmenter(v, false)}
}

// Transcribe finds the speech regions in a whole file.
func (v VAD) Transcribe(ctx context.Context, pcm []int16) (Result, error) {
	s := v.NewStream()
	turns, err := s.Write(ctx, pcm)
	if err != nil {
		return Result{}, err
	}
	last, err := s.Flush(ctx)
	if err != nil {
		return Result{}, err
	}
	var final []Turn
	for _, t := range append(turns, last...) {
		if t.EndOfTurn {
			final = append(final, t)
		}
	}
	return resultFromTurns(final, len(pcm)), nil
}

type vadStream struct {
	seg   *segmenter
	order int // of the open or next turn
}

var _ Stream = (*vadStream)(nil)

func (s *vadStream) Write(_ context.Context, pcm []int16) ([]Turn, error) {
	regions, err := s.seg.write(pcm)
	if err != nil {
		return nil, err
	}
	return s.turns(regions), nil
}

func (s *vadStream) Flush(_ context.Context) ([]Turn, error) {
	regions, err := s.seg.flush()
	if err != nil {
		return nil, err
	}
	return s.turns(regions), nil
}

func (s *vadStream) turns(regions []region) []Turn {
	if len(regions) == 0 {
		return nil
	}
	out := make([]Turn, 0, len(regions))
	for _, r := range regions {
		start, end := samplesToDuration(r.start), samplesToDuration(r.end)
		t := Turn{
			Order:      s.order,
			Transcript: fmt.Sprintf("[sandbox] speech %.1f–%.1f s", start.Seconds(), end.Seconds()),
			Start:      start,
			End:        end,
			Words:      make([]Word, 0, len(r.words)),
			EndOfTurn:  r.final,
		}
		for _, w := range r.words {
			t.Words = append(t.Words, Word{
				Text:       "speech",
				Start:      samplesToDuration(w.start),
				End:        samplesToDuration(w.end),
				Confidence: snrConfidence(w.snr),
			})
		}
		if r.final {
			s.order++
		}
		out = append(out, t)
	}
	return out
}

// snrConfidence maps a word's signal-to-noise ratio to [0, 1): there is no
// recognition to be confident about, but a word that barely clears the noise
// floor deserves less trust than a clear one. 10 dB gives 0.5, 30 dB 0.75.
func snrConfidence(snr float64) float64 {
	if snr <= 0 {
		return 0
	}
	return math.Round(100*snr/(snr+10)) / 100
}

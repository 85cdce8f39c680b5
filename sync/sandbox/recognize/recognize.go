// Package recognize holds the sandbox's speech recognizers: VAD, which finds
// the speech regions in the audio it is given and says so in each turn's text,
// and OpenAI, which asks any OpenAI-compatible transcription server for real
// words. Both work on 16 kHz mono signed 16-bit samples; DecodeAudio turns an
// uploaded WAV or FLAC file into that.
//
// No speech model can be installed where the sandbox runs, so VAD is the
// default: its turns carry no words that were spoken, but their boundaries and
// times come from the real audio, which is what the client's resume and
// coverage logic depends on.
package recognize

import (
	"context"
	"strings"
	"time"
)

// SampleRate is the only rate the recognizers accept, in hertz. DecodeAudio
// resamples to it.
const SampleRate = 16000

// Word is one recognized word. Start and End count from the first sample of
// the stream or file.
type Word struct {
	Text       string
	Start, End time.Duration
	// Confidence is in [0, 1].
	Confidence float64
}

// Turn is one stretch of speech. A stream may report the same Order several
// times with EndOfTurn false while the stretch grows (partial results), and
// reports it exactly once with EndOfTurn true when it is final. Orders count
// from 0 without gaps.
type Turn struct {
	Order      int
	Transcript string
	Start, End time.Duration
	Words      []Word
	EndOfTurn  bool
}

// Result is the transcription of a whole file.
type Result struct {
	Text     string
	Words    []Word
	Turns    []Turn // final turns only
	Duration time.Duration
}

// Stream recognizes audio that arrives in pieces, as on the live socket.
// Callers must not use a Stream from more than one goroutine at once.
type Stream interface {
	// Write adds 16 kHz mono samples of any length and returns the turns
	// they completed or advanced.
	Write(ctx context.Context, pcm []int16) ([]Turn, error)
	// Flush ends the stream: it finalizes the open turn, if any, and
	// returns the last turns. The Stream accepts no writes afterwards.
	Flush(ctx context.Context) ([]Turn, error)
}

// Recognizer makes streams and transcribes whole files.
type Recognizer interface {
	NewStream() Stream
	// Transcribe recognizes 16 kHz mono samples, such as DecodeAudio returns.
	Transcribe(ctx context.Context, pcm []int16) (Result, error)
}

// samplesToDuration converts a sample count at SampleRate to a duration
// without rounding error (one sample is exactly 62.5 µs).
func samplesToDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / SampleRate
}

// resultFromTurns assembles a Result from a file's final turns.
func resultFromTurns(turns []Turn, samples int) Result {
	res := Result{Turns: turns, Duration: samplesToDuration(int64(samples))}
	texts := make([]string, 0, len(turns))
	for _, t := range turns {
		if t.Transcript != "" {
			texts = append(texts, t.Transcript)
		}
		res.Words = append(res.Words, t.Words...)
	}
	res.Text = strings.Join(texts, " ")
	return res
}

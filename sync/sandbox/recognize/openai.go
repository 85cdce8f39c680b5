package recognize

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OpenAI transcribes with any server that speaks OpenAI's
// POST /v1/audio/transcriptions (whisper.cpp's server, faster-whisper
// servers, OpenAI itself). Streams find speech regions as VAD does and send
// each finished region, as a WAV file, for its words; they report final turns
// only. Make one with NewOpenAI.
type OpenAI struct {
	endpoint string
	cfg      OpenAIConfig
}

// OpenAIConfig configures NewOpenAI.
type OpenAIConfig struct {
	// BaseURL is the server's address, e.g. http://127.0.0.1:8080; requests
	// go to BaseURL/v1/audio/transcriptions (a BaseURL already ending in /v1
	// is used as is).
	BaseURL string
	// Model is sent as the model field; DefaultOpenAIModel when empty.
	Model string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Language is an optional ISO-639-1 hint such as "en".
	Language string
	// Timeout bounds each request (DefaultOpenAITimeout when zero).
	Timeout time.Duration
	// Client sends the requests; http.DefaultClient when nil.
	Client *http.Client
	// Segments configures how streams find the regions they send.
	Segments VAD
	// Logger receives request failures and timings, never audio or text;
	// nothing is logged when nil.
	Logger *slog.Logger
}

const (
	DefaultOpenAIModel   = "whisper-1"
	DefaultOpenAITimeout = 5 * time.Minute
	// maxResponse bounds what is read of a transcription response; an hour
	// of verbose_json with word times is about 2 MB.
	maxResponse = 16 << 20
	// maxErrorBody bounds what is read of an error response.
	maxErrorBody = 4 << 10
)

// RemoteError is a non-2xx answer from the transcription server.
type RemoteError struct {
	Status  int
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("transcription server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// NewOpenAI checks cfg and returns the recognizer.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("transcription server URL %q: want an http or https URL such as http://127.0.0.1:8080", cfg.BaseURL)
	}
	if cfg.Model == "" {
		cfg.Model = DefaultOpenAIModel
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultOpenAITimeout
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/v1") {
		u.Path += "/v1"
	}
	u.Path += "/audio/transcriptions"
	u.RawQuery, u.Fragment = "", ""
	return &OpenAI{endpoint: u.String(), cfg: cfg}, nil
}

var _ Recognizer = (*OpenAI)(nil)

// Transcribe sends the whole file in one request.
func (o *OpenAI) Transcribe(ctx context.Context, pcm []int16) (Result, error) {
	resp, err := o.request(ctx, pcm)
	if err != nil {
		return Result{}, err
	}
	res := Result{Text: strings.TrimSpace(resp.Text), Duration: samplesToDuration(int64(len(pcm)))}
	res.Words = resp.words(0)
	for i, sg := range resp.Segments {
		t := Turn{
			Order:      i,
			Transcript: strings.TrimSpace(sg.Text),
			Start:      seconds(sg.Start),
			End:        seconds(sg.End),
			EndOfTurn:  true,
		}
		for _, w := range res.Words {
			if w.Start >= t.Start && w.Start < t.End {
				t.Words = append(t.Words, w)
			}
		}
		res.Turns = append(res.Turns, t)
	}
	return res, nil
}

// NewStream starts a stream that transcribes each speech region when it ends.
func (o *OpenAI) NewStream() Stream {
	return &openAIStream{o: o, seg: newSegmenter(o.cfg.Segments, true)}
}

type openAIStream struct {
	o     *OpenAI
	seg   *segmenter
	order int
}

var _ Stream = (*openAIStream)(nil)

func (s *openAIStream) Write(ctx context.Context, pcm []int16) ([]Turn, error) {
	regions, err := s.seg.write(pcm)
	if err != nil {
		return nil, err
	}
	return s.turns(ctx, regions)
}

func (s *openAIStream) Flush(ctx context.Context) ([]Turn, error) {
	regions, err := s.seg.flush()
	if err != nil {
		return nil, err
	}
	return s.turns(ctx, regions)
}

func (s *openAIStream) turns(ctx context.Context, regions []region) ([]Turn, error) {
	var out []Turn
	for _, r := range regions {
		if !r.final {
			continue
		}
		resp, err := s.o.request(ctx, r.pcm)
		if err != nil {
			return nil, err
		}
		text := strings.TrimSpace(resp.Text)
		if text == "" {
			// The server heard no words in this sound (a cough, a door):
			// there is no turn to report.
			continue
		}
		t := Turn{
			Order:      s.order,
			Transcript: text,
			Start:      samplesToDuration(r.start),
			End:        samplesToDuration(r.end),
			EndOfTurn:  true,
		}
		offset := samplesToDuration(r.pcmStart)
		for _, w := range resp.words(offset) {
			// Keep word times inside the turn: the preroll around the
			// region is context for the server, not part of the turn.
			w.Start = min(max(w.Start, t.Start), t.End)
			w.End = min(max(w.End, w.Start), t.End)
			t.Words = append(t.Words, w)
		}
		s.order++
		out = append(out, t)
	}
	return out, nil
}

// verboseJSON is the part of OpenAI's verbose_json response the sandbox
// uses. Servers differ in what they add: faster-whisper gives each word a
// probability, whisper.cpp and OpenAI give segments an avg_logprob.
type verboseJSON struct {
	Text  string `json:"text"`
	Words []struct {
		Word        string   `json:"word"`
		Start       float64  `json:"start"`
		End         float64  `json:"end"`
		Probability *float64 `json:"probability"`
	} `json:"words"`
	Segments []struct {
		Start      float64  `json:"start"`
		End        float64  `json:"end"`
		Text       string   `json:"text"`
		AvgLogprob *float64 `json:"avg_logprob"`
	} `json:"segments"`
}

// words converts the response's words, shifted by offset. A word's
// confidence is its probability, or else its segment's mean token
// probability, or else 0 (unknown).
func (v *verboseJSON) words(offset time.Duration) []Word {
	out := make([]Word, 0, len(v.Words))
	for _, w := range v.Words {
		word := Word{
			Text:  strings.TrimSpace(w.Word),
			Start: offset + seconds(w.Start),
			End:   offset + seconds(w.End),
		}
		switch {
		case w.Probability != nil:
			word.Confidence = *w.Probability
		default:
			for _, sg := range v.Segments {
				if sg.AvgLogprob != nil && w.Start >= sg.Start && w.Start < sg.End {
					word.Confidence = math.Exp(*sg.AvgLogprob)
					break
				}
			}
		}
		word.Confidence = max(0, min(1, word.Confidence))
		out = append(out, word)
	}
	return out
}

// maxTime bounds the times a response may carry, so that converting them
// to durations cannot overflow.
const maxTime = 24 * 3600.0

func (v *verboseJSON) check() error {
	for i, w := range v.Words {
		if w.Start < 0 || w.End < w.Start || w.End > maxTime {
			return fmt.Errorf("word %d has times %v–%v s", i, w.Start, w.End)
		}
	}
	for i, sg := range v.Segments {
		if sg.Start < 0 || sg.End < sg.Start || sg.End > maxTime {
			return fmt.Errorf("segment %d has times %v–%v s", i, sg.Start, sg.End)
		}
	}
	return nil
}

func (o *OpenAI) request(ctx context.Context, pcm []int16) (*verboseJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()

	fields := [][2]string{
		{"model", o.cfg.Model},
		{"response_format", "verbose_json"},
		{"timestamp_granularities[]", "word"},
		{"timestamp_granularities[]", "segment"},
	}
	if o.cfg.Language != "" {
		fields = append(fields, [2]string{"language", o.cfg.Language})
	}
	// The form is streamed: a long file is not held twice in memory. The
	// transport closes pr when it is done, which ends the goroutine even
	// when the request fails half-way.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(writeForm(mw, fields, pcm)) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.endpoint, pr)
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("build transcription request: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	if o.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}

	began := time.Now()
	resp, err := o.cfg.Client.Do(req)
	if err != nil {
		o.cfg.Logger.WarnContext(ctx, "transcription server unreachable", "endpoint", o.endpoint, "err", err)
		return nil, fmt.Errorf("send audio to the transcription server at %s: %w", o.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		o.cfg.Logger.WarnContext(ctx, "transcription server refused audio", "endpoint", o.endpoint, "status", resp.StatusCode)
		return nil, &RemoteError{Status: resp.StatusCode, Message: errorMessage(b)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read the transcription server's answer: %w", err)
	}
	if len(b) > maxResponse {
		return nil, fmt.Errorf("transcription server's answer is over %d MB: is %s a transcription endpoint?", maxResponse>>20, o.endpoint)
	}
	var v verboseJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("transcription server's answer (%s) is not verbose_json: %w", resp.Header.Get("Content-Type"), err)
	}
	if err := v.check(); err != nil {
		return nil, fmt.Errorf("transcription server's answer: %w", err)
	}
	o.cfg.Logger.DebugContext(ctx, "transcribed", "audio", samplesToDuration(int64(len(pcm))), "took", time.Since(began), "words", len(v.Words))
	return &v, nil
}

func writeForm(mw *multipart.Writer, fields [][2]string, pcm []int16) error {
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	fw, err := mw.CreateFormFile("file", "audio.wav")
	if err != nil {
		return err
	}
	if err := writeWAV(fw, pcm); err != nil {
		return err
	}
	return mw.Close()
}

// errorMessage pulls the message out of an OpenAI-style error body
// ({"error": {"message": ...}}), or returns the body's start as text.
func errorMessage(b []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil {
		if e.Error.Message != "" {
			return e.Error.Message
		}
		if e.Message != "" {
			return e.Message
		}
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(no message)"
	}
	return s
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

package recognize_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/recognize"
	"github.com/nextvisit/scribe/sync/sandbox/recognize/speechtest"
)

// whisperDouble stands in for an OpenAI-compatible transcription server. It
// checks the form as a real server would, decodes the uploaded WAV and
// answers from the audio itself: one word per sound the VAD finds in it,
// times relative to the upload, and a text naming the upload's length.
type whisperDouble struct {
	t *testing.T

	mu       sync.Mutex
	uploads  []time.Duration // length of each uploaded file
	auth     []string
	withSegs bool // answer with segments, one per turn the VAD finds
}

func (d *whisperDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/transcriptions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if err := r.ParseMultipartForm(64 << 20); err != nil {
		http.Error(w, `{"error":{"message":"bad form"}}`, http.StatusBadRequest)
		return
	}
	if r.FormValue("model") != "whisper-test" || r.FormValue("response_format") != "verbose_json" ||
		!slices.Contains(r.MultipartForm.Value["timestamp_granularities[]"], "word") {
		d.t.Errorf("form fields %v: want model, verbose_json and word timestamps", r.MultipartForm.Value)
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, `{"error":{"message":"no file"}}`, http.StatusBadRequest)
		return
	}
	defer f.Close()
	pcm, err := recognize.DecodeAudio(f, time.Hour)
	if err != nil {
		d.t.Errorf("uploaded file does not decode: %v", err)
		http.Error(w, `{"error":{"message":"bad audio"}}`, http.StatusBadRequest)
		return
	}
	length := speechtest.At(len(pcm))
	d.mu.Lock()
	d.uploads = append(d.uploads, length)
	d.auth = append(d.auth, r.Header.Get("Authorization"))
	d.mu.Unlock()

	res, err := recognize.VAD{}.Transcribe(r.Context(), pcm)
	if err != nil {
		d.t.Error(err)
		return
	}
	type word struct {
		Word  string  `json:"word"`
		Start float64 `json:"start"`
		End   float64 `json:"end"`
	}
	type segment struct {
		Start      float64 `json:"start"`
		End        float64 `json:"end"`
		Text       string  `json:"text"`
		AvgLogprob float64 `json:"avg_logprob"`
	}
	out := struct {
		Text     string    `json:"text"`
		Duration float64   `json:"duration"`
		Words    []word    `json:"words"`
		Segments []segment `json:"segments,omitempty"`
	}{Duration: length.Seconds()}
	if len(res.Words) > 0 {
		out.Text = fmt.Sprintf(" Heard %d sounds in %.2f s.", len(res.Words), length.Seconds())
	}
	for i, wd := range res.Words {
		out.Words = append(out.Words, word{Word: fmt.Sprintf(" w%d", i), Start: wd.Start.Seconds(), End: wd.End.Seconds()})
	}
	if d.withSegs {
		for i, tr := range res.Turns {
			out.Segments = append(out.Segments, segment{Start: tr.Start.Seconds(), End: tr.End.Seconds(), Text: fmt.Sprintf(" segment %d", i), AvgLogprob: -0.25})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		d.t.Error(err)
	}
}

// seen returns the lengths and Authorization headers of the uploads so far.
func (d *whisperDouble) seen() ([]time.Duration, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.uploads), slices.Clone(d.auth)
}

func newOpenAI(t *testing.T, url string, mod func(*recognize.OpenAIConfig)) *recognize.OpenAI {
	t.Helper()
	cfg := recognize.OpenAIConfig{BaseURL: url, Model: "whisper-test", APIKey: "sk-test"}
	if mod != nil {
		mod(&cfg)
	}
	o, err := recognize.NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The stream sends each finished speech region, with a little audio either
// side, and places the server's words back on the stream's time line.
func TestOpenAIStreamSendsEachRegion(t *testing.T) {
	pcm, truth := speech(t)
	double := &whisperDouble{t: t}
	srv := httptest.NewServer(double)
	t.Cleanup(srv.Close)
	o := newOpenAI(t, srv.URL, nil)

	s := o.NewStream()
	var turns []recognize.Turn
	for p := pcm; len(p) > 0; {
		n := min(1600, len(p))
		got, err := s.Write(t.Context(), p[:n])
		if err != nil {
			t.Fatal(err)
		}
		turns = append(turns, got...)
		p = p[n:]
	}
	last, err := s.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	turns = append(turns, last...)

	uploads, auth := double.seen()
	if len(turns) != len(truth) || len(uploads) != len(truth) {
		t.Fatalf("got %d turns from %d uploads, want %d of each", len(turns), len(uploads), len(truth))
	}
	vad, err := recognize.VAD{}.Transcribe(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range turns {
		if tr.Order != i || !tr.EndOfTurn {
			t.Errorf("turn %d: order %d, end_of_turn %v", i, tr.Order, tr.EndOfTurn)
		}
		if (tr.Start-truth[i].Start).Abs() > tolerance || (tr.End-truth[i].End).Abs() > tolerance {
			t.Errorf("turn %d spans %v–%v, phrase %v", i, tr.Start, tr.End, truth[i])
		}
		// The upload is the region plus up to 200 ms either side.
		region := tr.End - tr.Start
		if up := uploads[i]; up < region || up > region+400*time.Millisecond {
			t.Errorf("turn %d: uploaded %v for a region of %v", i, up, region)
		}
		if want := fmt.Sprintf("Heard %d sounds in %.2f s.", len(tr.Words), uploads[i].Seconds()); tr.Transcript != want {
			t.Errorf("turn %d transcript %q, want %q", i, tr.Transcript, want)
		}
		// The double's words are the VAD's words of the upload; shifted
		// back they must land where the VAD finds them in the whole file.
		want := vad.Turns[i].Words
		if len(tr.Words) != len(want) {
			t.Errorf("turn %d: %d words, the VAD finds %d", i, len(tr.Words), len(want))
			continue
		}
		for j, w := range tr.Words {
			if w.Text != fmt.Sprintf("w%d", j) || (w.Start-want[j].Start).Abs() > 40*time.Millisecond || (w.End-want[j].End).Abs() > 40*time.Millisecond {
				t.Errorf("turn %d word %d: %q %v–%v, want w%d near %v–%v", i, j, w.Text, w.Start, w.End, j, want[j].Start, want[j].End)
			}
		}
	}
	for _, a := range auth {
		if a != "Bearer sk-test" {
			t.Errorf("Authorization %q, want the API key as a bearer token", a)
		}
	}
}

func TestOpenAITranscribeFile(t *testing.T) {
	pcm, truth := speech(t)
	double := &whisperDouble{t: t, withSegs: true}
	srv := httptest.NewServer(double)
	t.Cleanup(srv.Close)
	// A base URL that already ends in /v1, as OpenAI's own is usually given.
	o := newOpenAI(t, srv.URL+"/v1/", nil)
	res, err := o.Transcribe(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	if uploads, _ := double.seen(); len(uploads) != 1 || uploads[0] != speechtest.At(len(pcm)) {
		t.Fatalf("uploads %v, want the whole %v file once", uploads, speechtest.At(len(pcm)))
	}
	if res.Duration != speechtest.At(len(pcm)) || !strings.HasPrefix(res.Text, "Heard ") {
		t.Errorf("result duration %v text %q", res.Duration, res.Text)
	}
	if len(res.Turns) != len(truth) {
		t.Fatalf("%d turns from segments, want %d", len(res.Turns), len(truth))
	}
	words := 0
	for i, tr := range res.Turns {
		if tr.Transcript != fmt.Sprintf("segment %d", i) || (tr.Start-truth[i].Start).Abs() > tolerance {
			t.Errorf("turn %d: %q at %v", i, tr.Transcript, tr.Start)
		}
		for _, w := range tr.Words {
			if w.Start < tr.Start || w.Start >= tr.End {
				t.Errorf("turn %d holds word %v–%v outside it", i, w.Start, w.End)
			}
			// No word probability: the segment's exp(avg_logprob).
			if w.Confidence < 0.778 || w.Confidence > 0.779 {
				t.Errorf("word confidence %v, want exp(-0.25)", w.Confidence)
			}
		}
		words += len(tr.Words)
	}
	if words != len(res.Words) || words == 0 {
		t.Errorf("turns hold %d of %d words", words, len(res.Words))
	}
}

// Sound in which the server hears nothing makes no turn, and the orders
// of the turns that follow have no gap.
func TestOpenAIStreamSkipsEmptyText(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		text := ""
		if n > 1 {
			text = fmt.Sprintf("call %d", n)
		}
		fmt.Fprintf(w, `{"text":%q,"words":[{"word":"x","start":0.1,"end":0.2,"probability":0.9}]}`, text)
	}))
	t.Cleanup(srv.Close)
	o := newOpenAI(t, srv.URL, nil)
	pcm, _ := speech(t)
	s := o.NewStream()
	turns, err := s.Write(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	turns = append(turns, last...)
	if calls.Load() != 4 || len(turns) != 3 {
		t.Fatalf("%d calls, %d turns: want 4 and 3", calls.Load(), len(turns))
	}
	for i, tr := range turns {
		if tr.Order != i || tr.Transcript != fmt.Sprintf("call %d", i+2) {
			t.Errorf("turn %d: order %d %q", i, tr.Order, tr.Transcript)
		}
		if len(tr.Words) != 1 || tr.Words[0].Confidence != 0.9 || tr.Words[0].Start < tr.Start || tr.Words[0].End > tr.End {
			t.Errorf("turn %d words %v: want one word with probability 0.9 inside %v–%v", i, tr.Words, tr.Start, tr.End)
		}
	}
}

func TestOpenAIErrors(t *testing.T) {
	pcm := append(speechtest.Silence(500*time.Millisecond), sine(300, 0.3, time.Second)...)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		check   func(error) bool
		want    string
	}{
		{
			name: "server error with OpenAI error body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"error":{"message":"model is loading","type":"server_error"}}`)
			},
			check: func(err error) bool {
				var re *recognize.RemoteError
				return errors.As(err, &re) && re.Status == 503 && re.Message == "model is loading"
			},
			want: "503 Service Unavailable: model is loading",
		},
		{
			name: "huge error body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				w.Write([]byte(strings.Repeat("<html>", 2<<20)))
			},
			check: func(err error) bool {
				var re *recognize.RemoteError
				return errors.As(err, &re) && len(re.Message) < 300
			},
			want: "502",
		},
		{
			name: "html instead of json",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, "<html>login</html>")
			},
			want: "not verbose_json",
		},
		{
			name: "answer too large",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"text":"`)
				w.Write([]byte(strings.Repeat("a", 17<<20)))
				fmt.Fprint(w, `"}`)
			},
			want: "over 16 MB",
		},
		{
			name: "negative word time",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"text":"x","words":[{"word":"x","start":-1,"end":2}]}`)
			},
			want: "word 0 has times -1–2 s",
		},
		{
			name: "no answer in time",
			handler: func(w http.ResponseWriter, r *http.Request) {
				// Read the upload first: the server notices the client
				// hanging up only once the body is consumed.
				io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			},
			timeout: 50 * time.Millisecond,
			check:   func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
			want:    "send audio to the transcription server",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			o := newOpenAI(t, srv.URL, func(c *recognize.OpenAIConfig) { c.Timeout = tc.timeout })
			_, err := o.Transcribe(t.Context(), pcm)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.check != nil && !tc.check(err)) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			// The live path reports the same failure.
			s := o.NewStream()
			_, werr := s.Write(t.Context(), pcm)
			_, ferr := s.Flush(t.Context())
			if err := errors.Join(werr, ferr); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("stream: got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestOpenAIUnreachableAndBadURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	o := newOpenAI(t, url, nil)
	_, err := o.Transcribe(t.Context(), make([]int16, 1600))
	if err == nil || !strings.Contains(err.Error(), url+"/v1/audio/transcriptions") {
		t.Errorf("closed server: got %v, want an error naming the endpoint", err)
	}
	for _, bad := range []string{"", "localhost:8080", "ftp://host", "http://", "://x"} {
		if _, err := recognize.NewOpenAI(recognize.OpenAIConfig{BaseURL: bad}); err == nil || !strings.Contains(err.Error(), "http or https URL") {
			t.Errorf("base URL %q: got %v, want a clear error", bad, err)
		}
	}
}

package recognize_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/recognize"
	"github.com/nextvisit/scribe/sync/sandbox/recognize/speechtest"
)

// phrases and gaps build the real-speech fixture: four sentences with no
// inner punctuation (espeak-ng pauses at commas), separated by known silences.
var (
	phrases = []string{
		"The patient reports three days of headache and mild fever",
		"Blood pressure is one hundred twenty over eighty",
		"No known drug allergies",
		"We will follow up in two weeks",
	}
	gaps = []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second}
)

const tolerance = 300 * time.Millisecond

func speech(t testing.TB) ([]int16, []speechtest.Span) {
	return speechtest.Build(t, 700*time.Millisecond, phrases, gaps, 800*time.Millisecond)
}

func finals(turns []recognize.Turn) []recognize.Turn {
	var out []recognize.Turn
	for _, tr := range turns {
		if tr.EndOfTurn {
			out = append(out, tr)
		}
	}
	return out
}

// checkTurns asserts one final turn per phrase, in order, with boundaries
// within tolerance of the truth and words inside their turn.
func checkTurns(t *testing.T, turns []recognize.Turn, truth []speechtest.Span) {
	t.Helper()
	if len(turns) != len(truth) {
		t.Fatalf("got %d turns, want %d (one per phrase): %v", len(turns), len(truth), turns)
	}
	for i, tr := range turns {
		want := truth[i]
		if tr.Order != i {
			t.Errorf("turn %d: order %d", i, tr.Order)
		}
		if d := (tr.Start - want.Start).Abs(); d > tolerance {
			t.Errorf("turn %d starts at %v, phrase starts at %v (off by %v)", i, tr.Start, want.Start, d)
		}
		if d := (tr.End - want.End).Abs(); d > tolerance {
			t.Errorf("turn %d ends at %v, phrase ends at %v (off by %v)", i, tr.End, want.End, d)
		}
		wantText := fmt.Sprintf("[sandbox] speech %.1f–%.1f s", tr.Start.Seconds(), tr.End.Seconds())
		if tr.Transcript != wantText {
			t.Errorf("turn %d transcript %q, want %q", i, tr.Transcript, wantText)
		}
		if len(tr.Words) == 0 {
			t.Errorf("turn %d has no words", i)
		}
		prev := tr.Start
		for j, w := range tr.Words {
			if w.Start < prev || w.End <= w.Start || w.End > tr.End {
				t.Errorf("turn %d word %d spans %v–%v: outside the turn %v–%v or overlapping the previous word", i, j, w.Start, w.End, tr.Start, tr.End)
			}
			if w.Confidence <= 0 || w.Confidence >= 1 {
				t.Errorf("turn %d word %d confidence %v outside (0, 1)", i, j, w.Confidence)
			}
			prev = w.End
		}
		if tr.Words[0].Start != tr.Start || tr.Words[len(tr.Words)-1].End != tr.End {
			t.Errorf("turn %d: words span %v–%v, turn %v–%v", i, tr.Words[0].Start, tr.Words[len(tr.Words)-1].End, tr.Start, tr.End)
		}
	}
}

func TestVADFindsSpokenPhrases(t *testing.T) {
	pcm, truth := speech(t)
	res, err := recognize.VAD{}.Transcribe(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range res.Turns {
		t.Logf("turn %d: %s (%d words), truth %v", i, tr.Transcript, len(tr.Words), truth[min(i, len(truth)-1)])
	}
	checkTurns(t, res.Turns, truth)
	if want := speechtest.At(len(pcm)); res.Duration != want {
		t.Errorf("duration %v, want %v", res.Duration, want)
	}
	var texts []string
	var words int
	for _, tr := range res.Turns {
		texts = append(texts, tr.Transcript)
		words += len(tr.Words)
	}
	if want := joinSpace(texts); res.Text != want {
		t.Errorf("text %q, want %q", res.Text, want)
	}
	if len(res.Words) != words {
		t.Errorf("result has %d words, turns hold %d", len(res.Words), words)
	}
}

func joinSpace(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}

// Background noise well below the voice must not hide or split the phrases.
func TestVADFindsPhrasesInNoise(t *testing.T) {
	pcm, truth := speech(t)
	noisy := addNoise(pcm, 100, 7) // about -50 dBFS
	res, err := recognize.VAD{}.Transcribe(t.Context(), noisy)
	if err != nil {
		t.Fatal(err)
	}
	checkTurns(t, res.Turns, truth)
}

func TestVADIgnoresSilenceAndNoise(t *testing.T) {
	ten := 10 * time.Second
	tests := []struct {
		name string
		pcm  []int16
	}{
		{"digital silence", speechtest.Silence(ten)},
		{"steady noise at -50 dBFS", addNoise(speechtest.Silence(ten), 100, 1)},
		{"steady noise at -40 dBFS", addNoise(speechtest.Silence(ten), 330, 2)},
		{"noise at -62 dBFS after silence", append(speechtest.Silence(2*time.Second), addNoise(speechtest.Silence(ten), 26, 3)...)},
		{"single clicks", clicks(ten)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := recognize.VAD{}.NewStream()
			turns, err := s.Write(t.Context(), tc.pcm)
			if err != nil {
				t.Fatal(err)
			}
			last, err := s.Flush(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if all := append(turns, last...); len(all) != 0 {
				t.Errorf("got %d turns (partial or final) from no speech: %v", len(all), all)
			}
		})
	}
}

// Streaming in pieces of any size must give exactly what one batch gives,
// partial turns included.
func TestVADStreamMatchesBatch(t *testing.T) {
	pcm, truth := speech(t)
	whole := collect(t, pcm, []int{len(pcm)})
	checkTurns(t, finals(whole), truth)
	for _, sizes := range [][]int{{1}, {160}, {1600}, {7, 333, 1601, 4000, 29}, {320 * 3}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			got := collect(t, pcm, sizes)
			if !slices.EqualFunc(got, whole, turnEqual) {
				t.Errorf("streamed in pieces of %v: %d turns\n%v\nbatch: %d turns\n%v", sizes, len(got), got, len(whole), whole)
			}
		})
	}
	partials := 0
	for i, tr := range whole {
		if !tr.EndOfTurn {
			partials++
			if i+1 >= len(whole) || whole[i+1].Order != tr.Order {
				t.Errorf("partial turn %d (order %d) is not followed by the same turn", i, tr.Order)
			}
		}
	}
	if partials == 0 {
		t.Error("no partial turns while phrases grew")
	}
}

// collect writes pcm to a fresh stream in pieces cycling through sizes.
func collect(t *testing.T, pcm []int16, sizes []int) []recognize.Turn {
	t.Helper()
	s := recognize.VAD{}.NewStream()
	var out []recognize.Turn
	for i := 0; len(pcm) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(pcm))
		turns, err := s.Write(t.Context(), pcm[:n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, turns...)
		pcm = pcm[n:]
	}
	last, err := s.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(t.Context(), []int16{1}); err == nil {
		t.Error("write after flush succeeded")
	}
	return append(out, last...)
}

func turnEqual(a, b recognize.Turn) bool {
	return a.Order == b.Order && a.Transcript == b.Transcript && a.Start == b.Start && a.End == b.End &&
		a.EndOfTurn == b.EndOfTurn && slices.Equal(a.Words, b.Words)
}

// A stream that never goes quiet still yields final turns, each at most
// MaxTurn long, that tile the sound.
func TestVADMaxTurn(t *testing.T) {
	tone := sine(440, 0.3, 7*time.Second)
	pcm := append(append(speechtest.Silence(time.Second), tone...), speechtest.Silence(time.Second)...)
	res, err := recognize.VAD{MaxTurn: 2 * time.Second}.Transcribe(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Turns) != 4 {
		t.Fatalf("7 s of tone with MaxTurn 2 s: got %d turns, want 4: %v", len(res.Turns), res.Turns)
	}
	for i, tr := range res.Turns {
		if tr.End-tr.Start > 2*time.Second {
			t.Errorf("turn %d lasts %v, over MaxTurn", i, tr.End-tr.Start)
		}
		if i > 0 && tr.Start < res.Turns[i-1].End {
			t.Errorf("turn %d starts at %v before turn %d ends at %v", i, tr.Start, i-1, res.Turns[i-1].End)
		}
	}
	if first, last := res.Turns[0].Start, res.Turns[3].End; (first-time.Second).Abs() > 40*time.Millisecond || (last-8*time.Second).Abs() > 40*time.Millisecond {
		t.Errorf("turns cover %v–%v, tone plays 1s–8s", first, last)
	}
}

func TestVADPartialsDisabled(t *testing.T) {
	pcm, truth := speech(t)
	s := recognize.VAD{PartialEvery: -1}.NewStream()
	turns, err := s.Write(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	turns = append(turns, last...)
	if f := finals(turns); len(f) != len(turns) {
		t.Errorf("%d partial turns with PartialEvery < 0", len(turns)-len(f))
	}
	checkTurns(t, turns, truth)
}

// Flush ends a turn that is still open when the audio stops.
func TestVADFlushEndsOpenTurn(t *testing.T) {
	pcm := append(speechtest.Silence(time.Second), sine(300, 0.3, 1500*time.Millisecond)...)
	s := recognize.VAD{}.NewStream()
	turns, err := s.Write(t.Context(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(finals(turns)); n != 0 {
		t.Fatalf("%d final turns before the sound stopped", n)
	}
	last, err := s.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 1 || !last[0].EndOfTurn || last[0].End != 2500*time.Millisecond {
		t.Fatalf("flush gave %v, want one final turn ending at 2.5 s", last)
	}
}

func BenchmarkVAD(b *testing.B) {
	pcm, _ := speech(b)
	audio := speechtest.At(len(pcm))
	b.SetBytes(int64(2 * len(pcm)))
	b.ResetTimer()
	for b.Loop() {
		s := recognize.VAD{}.NewStream()
		for p := pcm; len(p) > 0; {
			n := min(1600, len(p))
			if _, err := s.Write(b.Context(), p[:n]); err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
		if _, err := s.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(audio.Seconds()*float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}

// addNoise returns pcm plus uniform white noise with the given RMS, seeded
// so every run is the same.
func addNoise(pcm []int16, rms float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int16, len(pcm))
	amp := rms * math.Sqrt(3) // uniform on [-a, a] has RMS a/√3
	for i, v := range pcm {
		out[i] = clip16(float64(v) + (2*r.Float64()-1)*amp)
	}
	return out
}

func sine(freq, level float64, d time.Duration) []int16 {
	out := speechtest.Silence(d)
	for i := range out {
		out[i] = clip16(level * 32767 * math.Sin(2*math.Pi*freq*float64(i)/recognize.SampleRate))
	}
	return out
}

// clicks puts a full-scale 2 ms click every 300 ms into silence.
func clicks(d time.Duration) []int16 {
	out := speechtest.Silence(d)
	for i := 0; i < len(out); i += 4800 {
		for j := i; j < min(i+32, len(out)); j++ {
			out[j] = 30000
		}
	}
	return out
}

func clip16(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}

// Package speechtest makes real speech for tests: phrases spoken by espeak-ng,
// converted by sox to 16 kHz mono signed 16-bit samples and joined with
// silences of known length, together with where each phrase truly starts and
// ends. Only tests import it.
package speechtest

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// SampleRate of the samples Build returns.
const SampleRate = 16000

// Threshold is the sample magnitude (1 % of full scale) above which a
// sample counts as sound when measuring where a phrase starts and ends;
// espeak-ng's own padding is exact zeros or nearly so.
const Threshold = 328

// Span is where one phrase is audible, from the first sample of the file.
type Span struct {
	Start, End time.Duration
}

// Require skips the test when espeak-ng or sox is missing, unless the CI
// environment variable is set, in which case it fails: CI machines must have
// them.
func Require(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
				t.Fatalf("%s is not installed, and CI=%s requires the real-speech tests: install espeak-ng and sox", tool, ci)
			}
			t.Skipf("%s is not installed: install espeak-ng and sox to run the real-speech tests", tool)
		}
	}
}

// Build speaks each phrase and joins them: lead of silence, phrase 1, gaps[0]
// of silence, phrase 2, …, phrase n, tail of silence. len(gaps) must be
// len(phrases)-1. It returns the samples and each phrase's audible span.
func Build(t testing.TB, lead time.Duration, phrases []string, gaps []time.Duration, tail time.Duration) ([]int16, []Span) {
	t.Helper()
	Require(t)
	if len(gaps) != len(phrases)-1 {
		t.Fatalf("speechtest.Build: %d phrases need %d gaps, got %d", len(phrases), len(phrases)-1, len(gaps))
	}
	dir := t.TempDir()
	pcm := Silence(lead)
	spans := make([]Span, 0, len(phrases))
	for i, text := range phrases {
		clip := Speak(t, dir, i, text)
		first, last := -1, -1
		for j, v := range clip {
			if v > Threshold || v < -Threshold {
				if first < 0 {
					first = j
				}
				last = j
			}
		}
		if first < 0 {
			t.Fatalf("speechtest: espeak-ng produced no audible sound for %q", text)
		}
		off := len(pcm)
		spans = append(spans, Span{Start: At(off + first), End: At(off + last + 1)})
		pcm = append(pcm, clip...)
		if i < len(gaps) {
			pcm = append(pcm, Silence(gaps[i])...)
		}
	}
	pcm = append(pcm, Silence(tail)...)
	return pcm, spans
}

// Speak returns one phrase as 16 kHz mono samples, including espeak-ng's own
// short silences before and after it.
func Speak(t testing.TB, dir string, n int, text string) []int16 {
	t.Helper()
	wav := filepath.Join(dir, "phrase"+strconv.Itoa(n)+".wav")
	raw := filepath.Join(dir, "phrase"+strconv.Itoa(n)+".raw")
	run(t, "espeak-ng", "-w", wav, text)
	run(t, "sox", wav, "-r", strconv.Itoa(SampleRate), "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", raw)
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatalf("read converted speech: %v", err)
	}
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// Silence returns d of digital silence.
func Silence(d time.Duration) []int16 {
	return make([]int16, int(d*SampleRate/time.Second))
}

// At is the time of sample n.
func At(n int) time.Duration {
	return time.Duration(n) * time.Second / SampleRate
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// String formats a span for failure messages.
func (s Span) String() string {
	return fmt.Sprintf("%.3f–%.3f s", s.Start.Seconds(), s.End.Seconds())
}

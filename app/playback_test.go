package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/audio/playback"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/store"
)

// The PlayRange tests play through the real PortAudio path into ALSA's
// `file` plugin (scripts/vmic.sh alsa-out), as audio/playback's do, and
// compare what ALSA's default playback device received with the journal.

// speakerUnavailable skips, or fails under CI, a test this machine cannot
// set up.
func speakerUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("virtual speaker unavailable under CI: "+format, args...)
	}
	t.Skipf("virtual speaker unavailable (set CI=true to make this fail): "+format, args...)
}

// fileSpeaker makes ALSA's default playback device write 16 kHz mono
// 16-bit samples to the returned file.
func fileSpeaker(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs("../scripts/vmic.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "speaker.raw")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), script, "alsa-out", out, dir, "16000", "1", "S16_LE")
	cmd.Stderr = &stderr
	vars, err := cmd.Output()
	if err != nil {
		speakerUnavailable(t, "vmic.sh alsa-out: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	path, ok := strings.CutPrefix(strings.TrimSpace(string(vars)), "export ALSA_CONFIG_PATH=")
	if !ok {
		t.Fatalf("vmic.sh alsa-out printed %q, want export ALSA_CONFIG_PATH=…", vars)
	}
	t.Setenv("ALSA_CONFIG_PATH", path)
	return out
}

// heard reads what the speaker received; none when nothing played since
// the last call.
func heard(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	return pcm
}

// journaled makes an ended encounter whose journal (written with
// journal.Writer, several segments) holds pcm.
func journaled(t *testing.T, p *recProfile, id string, pcm []int16) {
	t.Helper()
	if err := platform.EnsureDir(filepath.Join(p.dir, "encounters")); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), filepath.Join(p.dir, store.FileName), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateEncounter(t.Context(), store.Encounter{ID: id, State: string(StateEnded), CreatedAt: time.Now(),
		EndedAt: time.Now(), Duration: samplesDuration(int64(len(pcm))), Source: store.SourceMic, Device: "Test Microphone",
		Dir: "encounters/" + id}); err != nil {
		t.Fatal(err)
	}
	w, err := journal.Create(filepath.Join(p.dir, "encounters", id), id, journal.Options{SegmentDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for chunk := range slices.Chunk(pcm, 1000) {
		if err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// distinct is n samples no two of which are equal within 65535, none zero,
// so that a misplaced sample cannot go unnoticed.
func distinct(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(-32000 + (i*7919)%64000)
		if pcm[i] == 0 {
			pcm[i] = 1
		}
	}
	return pcm
}

// playRange calls PlayRange, skipping the test (failing it under CI) when
// PortAudio finds no output device at all.
func playRange(t *testing.T, ctx context.Context, c *Core, id string, from, to time.Duration) error {
	t.Helper()
	err := c.PlayRange(ctx, id, from, to)
	if errors.Is(err, playback.ErrNoOutput) {
		speakerUnavailable(t, "PortAudio sees no output device through the ALSA file plugin: %v", err)
	}
	return err
}

const playID = "20260122-093012-0123456789ab"

func TestPlayRange(t *testing.T) {
	out := fileSpeaker(t)
	p := newRecProfile(t)
	pcm := distinct(3 * journal.SampleRate) // 3 s in 1 s segments
	journaled(t, p, playID, pcm)
	c := p.open(t)

	for _, tc := range []struct {
		name       string
		from, to   time.Duration
		start, end int // samples of pcm
	}{
		{"within a segment", 100 * time.Millisecond, 400 * time.Millisecond, 1600, 6400},
		{"across segments", 500 * time.Millisecond, 2500 * time.Millisecond, 8000, 40000},
		{"a turn's odd offsets", 62500 * time.Nanosecond * 12345, 62500 * time.Nanosecond * 23456, 12345, 23456},
		{"cut at the end", 2750 * time.Millisecond, time.Hour, 44000, 48000},
		{"everything", 0, 3 * time.Second, 0, 48000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := playRange(t, t.Context(), c, " "+playID, tc.from, tc.to); err != nil {
				t.Fatalf("PlayRange(%s, %s): %v", tc.from, tc.to, err)
			}
			got, want := heard(t, out), pcm[tc.start:tc.end]
			if !slices.Equal(got, want) {
				t.Errorf("the speaker got %d samples, want samples %d–%d of the journal (%d); first difference at %d",
					len(got), tc.start, tc.end, len(want), firstDifference(got, want))
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			id       string
			from, to time.Duration
			want     string
		}{
			{"negative start", playID, -time.Second, time.Second, "Cannot play from -0:01.0 to 0:01.0"},
			{"end before start", playID, 2 * time.Second, time.Second, "before the end"},
			{"empty", playID, time.Second, time.Second, "Cannot play from 0:01.0 to 0:01.0"},
			{"past the end", playID, 3 * time.Second, 4 * time.Second, "the recording is only 0:03.0 long"},
			{"not an id", "../../etc", 0, time.Second, "is not an encounter id"},
			{"no such encounter", "20260122-093012-ffffffffffff", 0, time.Second, "There is no encounter"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := c.PlayRange(t.Context(), tc.id, tc.from, tc.to)
				var in *inputError
				if !errors.As(err, &in) || !strings.Contains(Explain(err), tc.want) {
					t.Errorf("PlayRange(%q, %s, %s): %v, want an input error saying %q", tc.id, tc.from, tc.to, err, tc.want)
				}
			})
		}
		if got := heard(t, out); got != nil {
			t.Errorf("refused ranges played %d samples", len(got))
		}
	})
}

func firstDifference(a, b []int16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestPlayRangeOneAtATime: a PlayRange stops the Core's playback under way
// and waits for its audio to stop before its own starts. The playback under
// way is held open here (beginPlay, as PlayRange takes it), since the file
// speaker plays faster than real time.
func TestPlayRangeOneAtATime(t *testing.T) {
	out := fileSpeaker(t)
	p := newRecProfile(t)
	pcm := distinct(journal.SampleRate)
	journaled(t, p, playID, pcm)
	c := p.open(t)
	other := p.open(t) // another Core's playback is its own

	ctx, finish := c.beginPlay(t.Context())
	otherCtx, otherFinish := other.beginPlay(t.Context())
	defer otherFinish()

	done := make(chan error, 1)
	go func() { done <- c.PlayRange(t.Context(), playID, 0, 250*time.Millisecond) }()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the playback under way was not stopped within 10 s")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, ErrPlaybackStopped) {
		t.Errorf("the playback under way was stopped with %v, want ErrPlaybackStopped", cause)
	}
	if otherCtx.Err() != nil {
		t.Error("another Core's playback was stopped")
	}
	// Playing the range takes some 50 ms here: PlayRange still waiting
	// after half a second is waiting for the previous playback.
	select {
	case err := <-done:
		t.Fatalf("PlayRange returned (%v) while the previous playback had not finished", err)
	case <-time.After(500 * time.Millisecond):
	}
	if got := heard(t, out); got != nil {
		t.Fatalf("%d samples played while the previous playback had not finished", len(got))
	}
	finish()
	select {
	case err := <-done:
		if errors.Is(err, playback.ErrNoOutput) {
			speakerUnavailable(t, "PortAudio sees no output device through the ALSA file plugin: %v", err)
		}
		if err != nil {
			t.Fatalf("PlayRange: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PlayRange did not return within 10 s of the previous playback finishing")
	}
	if got := heard(t, out); !slices.Equal(got, pcm[:4000]) {
		t.Errorf("the speaker got %d samples, want the first 4000 of the journal", len(got))
	}

	t.Run("StopPlayback", func(t *testing.T) {
		ctx, finish := c.beginPlay(t.Context())
		stopped := make(chan struct{})
		go func() {
			c.StopPlayback()
			close(stopped)
		}()
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("StopPlayback did not stop the playback within 10 s")
		}
		if cause := context.Cause(ctx); !errors.Is(cause, ErrPlaybackStopped) {
			t.Errorf("stopped with %v, want ErrPlaybackStopped", cause)
		}
		select {
		case <-stopped:
			t.Fatal("StopPlayback returned before the playback had finished")
		case <-time.After(200 * time.Millisecond):
		}
		finish()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("StopPlayback did not return within 10 s of the playback finishing")
		}
		c.StopPlayback() // nothing under way: returns at once
	})
}

package journal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	crashDirEnv = "SCRIBE_JOURNAL_CRASH_DIR"
	// crashChunk is what the helper hands to Write at a time: 100 ms, like
	// the capture pipeline.
	crashChunk = SampleRate / 10
	// crashSegment is short so kills land near rotations too.
	crashSegment = 750 * time.Millisecond
)

// TestHelperWriter is the process TestCrashSIGKILL kills: it records the
// test signal in real time into the journal named by the environment, with
// the default 1 s sync, and prints "progress N" after each Write returns N
// samples in total. Without the environment variable it does nothing.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSIGKILL")
	}
	w, err := Create(dir, "crash", Options{SegmentDuration: crashSegment})
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(crashChunk * time.Second / SampleRate)
	defer tick.Stop()
	// Bounded, so an orphan cannot run forever if the parent dies.
	for n := int64(0); n < 60*SampleRate; n += crashChunk {
		if err := w.Write(signal(n, crashChunk)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("progress %d\n", n+crashChunk)
		select {
		case <-tick.C:
		case <-t.Context().Done():
			return
		}
	}
	t.Fatal("helper was never killed")
}

// TestCrashSIGKILL starts TestHelperWriter in a child process, kills it with
// SIGKILL after a random 1.3–4 s of audio, recovers the journal and checks
// that it holds an exact prefix of the signal missing at most 1 s of what
// the child had written.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("records in real time")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var maxLoss int64
	for run := range 5 {
		after := 1300*time.Millisecond + time.Duration(rng.Int64N(int64(2700*time.Millisecond)))
		loss := crashOnce(t, run, int64(after)*SampleRate/int64(time.Second))
		maxLoss = max(maxLoss, loss)
	}
	t.Logf("max loss over 5 kills: %d samples (%v)", maxLoss, time.Duration(maxLoss)*time.Second/SampleRate)
}

func crashOnce(t *testing.T, run int, target int64) int64 {
	dir := filepath.Join(t.TempDir(), "enc")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	progress := make(chan int64, 64)
	go func() {
		defer close(progress)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "progress "); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					progress <- n
				}
			}
		}
	}()

	var seen int64
	deadline := time.After(30 * time.Second)
	for seen < target {
		select {
		case n, ok := <-progress:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("run %d: helper exited after %d samples, before the kill", run, seen)
			}
			seen = n
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("run %d: helper reported %d of %d samples in 30 s", run, seen, target)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Lines already in the pipe were written before the kill: count them.
	for n := range progress {
		seen = n
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("run %d: helper exited cleanly; it should have been killed", run)
	}

	opts := Options{}
	if need, err := NeedsRecovery(dir, opts); err != nil || !need {
		t.Fatalf("run %d: NeedsRecovery after SIGKILL = %v, %v", run, need, err)
	}
	m, err := Recover(dir, opts)
	if err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	checkSegmentsWAV(t, FileStorage{}, dir, m)
	got := readAll(t, dir, opts)
	checkSignal(t, got, 0)
	recovered := int64(len(got))
	// The child may have finished one more Write than it reported.
	if recovered > seen+crashChunk {
		t.Fatalf("run %d: recovered %d samples, the child wrote at most %d", run, recovered, seen+crashChunk)
	}
	loss := max(0, seen-recovered)
	t.Logf("run %d: killed after %d samples (%.2f s) reported; recovered %d in %d segments; lost %d",
		run, seen, float64(seen)/SampleRate, recovered, len(m.Segments), loss)
	if loss > SampleRate {
		t.Fatalf("run %d: lost %d samples, more than 1 s", run, loss)
	}
	if again, err := Recover(dir, opts); err != nil || !manifestsEqual(again, m) {
		t.Fatalf("run %d: second Recover = %+v, %v", run, again, err)
	}
	// The recovered encounter can go on recording.
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	writeSig(t, w, recovered, SampleRate/2, crashChunk)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkSignal(t, readAll(t, dir, opts), 0)
	return loss
}

package main

import (
	"bufio"
	"bytes"
	bin "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the built scribe as a clinician's computer would: a
// microphone (a PulseAudio null sink's monitor, fed by espeak-ng speech or
// a sox sweep through paplay, reached by PortAudio through ALSA's pulse
// plugin), the recording killed with SIGKILL, files imported and exported.
// Without PulseAudio, espeak-ng or sox they skip, unless CI is set, where
// they fail: CI must exercise the real path.

// needTools skips (or, in CI, fails) when a program the test needs is
// missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s is not installed (scripts/deps.sh installs it)", tool)
		}
	}
}

// unavailable skips the test, or fails it in CI.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so the real audio path must work: "+format, args...)
	}
	t.Skipf("skipping (set CI=true to make this a failure): "+format, args...)
}

// vmic is a virtual microphone: a PulseAudio null sink whose monitor is
// ALSA's default capture device for the processes given env.
type vmic struct {
	script string   // scripts/vmic.sh
	sink   string   // where paplay plays
	env    []string // for vmic.sh: finds the daemon
	server string   // the daemon's address, for paplay
	scribe []string // for scribe: testEnv plus ALSA_CONFIG_PATH
}

func startVmic(t *testing.T) *vmic {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the virtual microphone is PulseAudio on Linux")
	}
	needTools(t, "pulseaudio", "pactl", "paplay")
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "vmic.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// A short folder of our own (unix socket paths are limited to 108
	// bytes), 0700 as PulseAudio requires.
	rt, err := os.MkdirTemp("", "vmic-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	if err := os.Chmod(rt, 0o700); err != nil {
		t.Fatal(err)
	}
	v := &vmic{script: script, sink: fmt.Sprintf("scribe_e2e_%d", os.Getpid())}
	v.env = append(os.Environ(), "VMIC_RUNTIME="+rt, "VMIC_IDLE_EXIT=60")
	out, err := v.run("pulse-up", v.sink)
	if err != nil {
		unavailable(t, "the PulseAudio virtual microphone would not start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		v.run("pulse-down", v.sink)
		v.run("pulse-stop")
	})
	for _, l := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(l, "export PULSE_SERVER="); ok {
			v.server = s
		}
	}
	if v.server == "" {
		t.Fatalf("vmic.sh pulse-up printed no server:\n%s", out)
	}
	out, err = v.run("alsa-pulse", v.sink, t.TempDir())
	if err != nil {
		unavailable(t, "cannot point ALSA at the virtual microphone: %v\n%s", err, out)
	}
	conf, ok := strings.CutPrefix(strings.TrimSpace(out), "export ALSA_CONFIG_PATH=")
	if !ok {
		t.Fatalf("vmic.sh alsa-pulse printed %q", out)
	}
	v.scribe = append(testEnv(), "ALSA_CONFIG_PATH="+conf)
	return v
}

func (v *vmic) run(args ...string) (string, error) {
	cmd := exec.Command(v.script, args...)
	cmd.Env = v.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// play starts paplay playing file into the microphone in real time.
// (paplay itself rather than vmic.sh pulse-play, so that killing it stops
// the sound.)
func (v *vmic) play(t *testing.T, file string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "paplay", "-s", v.server, "-d", v.sink, file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// proc is a scribe process whose stdout lines the test waits on.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	exited chan error
}

func startScribe(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

// waitLine returns the submatches of the first stdout line matching re
// that also satisfies ok (nil: any).
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp, ok func([]string) bool, timeout time.Duration) []string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, open := <-p.lines:
			if !open {
				t.Fatalf("scribe ended before printing a line like %s; stderr:\n%s", re, stderrWithoutNoise(p.stderr.String()))
			}
			if m := re.FindStringSubmatch(l); m != nil && (ok == nil || ok(m)) {
				return m
			}
		case <-deadline.C:
			t.Fatalf("no line like %s within %s; stderr:\n%s", re, timeout, stderrWithoutNoise(p.stderr.String()))
		}
	}
}

// wait waits for the process to exit, returning its remaining output.
func (p *proc) wait(t *testing.T, timeout time.Duration) (rest []string, err error) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, open := <-p.lines:
			if open {
				rest = append(rest, l)
				continue
			}
			select {
			case err := <-p.exited:
				return rest, err
			case <-deadline.C:
				t.Fatalf("scribe did not exit within %s", timeout)
			}
		case <-deadline.C:
			t.Fatalf("scribe did not exit within %s; stderr:\n%s", timeout, stderrWithoutNoise(p.stderr.String()))
		}
	}
}

// stderrWithoutNoise drops the lines PortAudio's ALSA and JACK probing
// print (MACHINE-NOTES: harmless).
func stderrWithoutNoise(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.HasPrefix(l, "ALSA lib ") || strings.Contains(l, "JackShm") || strings.Contains(l, "jack server") ||
			strings.HasPrefix(l, "Cannot connect to server") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

var (
	encounterLine = regexp.MustCompile(`^Encounter (\d{8}-\d{6}-[0-9a-f]{12})$`)
	statusLine    = regexp.MustCompile(`^Recording (\d+):(\d\d):(\d\d)\.(\d{3})  `)
	endedLine     = regexp.MustCompile(`^Ended encounter (\S+): (\d+):(\d\d):(\d\d)\.(\d{3}) recorded\.$`)
)

// clockOf reads H, MM, SS, mmm submatches as a duration.
func clockOf(m []string) time.Duration {
	n := func(s string) time.Duration { v, _ := strconv.Atoi(s); return time.Duration(v) }
	return n(m[0])*time.Hour + n(m[1])*time.Minute + n(m[2])*time.Second + n(m[3])*time.Millisecond
}

// run16 runs a command, failing the test with its output on error.
func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// readRaw16 reads raw s16le samples.
func readRaw16(t *testing.T, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(b)/2)
	for i := range out {
		out[i] = float64(int16(bin.LittleEndian.Uint16(b[2*i:]))) / 32768
	}
	return out
}

// readWAV16k reads a 16 kHz mono 16-bit PCM WAV, checking that its header
// sizes agree with the file (a journal that was not repaired would not).
func readWAV16k(t *testing.T, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s is not a WAV file", path)
	}
	if size := bin.LittleEndian.Uint32(b[4:8]); int(size) != len(b)-8 {
		t.Errorf("%s: RIFF size %d, but %d bytes follow it", path, size, len(b)-8)
	}
	var samples []float64
	fmtOK := false
	for rest := b[12:]; len(rest) >= 8; {
		id, size := string(rest[:4]), int(bin.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		if size > len(rest) {
			t.Fatalf("%s: chunk %q claims %d bytes, %d remain", path, id, size, len(rest))
		}
		body := rest[:size]
		switch id {
		case "fmt ":
			format, ch := bin.LittleEndian.Uint16(body), bin.LittleEndian.Uint16(body[2:])
			rate, bits := bin.LittleEndian.Uint32(body[4:]), bin.LittleEndian.Uint16(body[14:])
			if format != 1 || ch != 1 || rate != 16000 || bits != 16 {
				t.Fatalf("%s: format %d, %d channels, %d Hz, %d bits; want PCM, mono, 16 kHz, 16-bit", path, format, ch, rate, bits)
			}
			fmtOK = true
		case "data":
			samples = make([]float64, size/2)
			for i := range samples {
				samples[i] = float64(int16(bin.LittleEndian.Uint16(body[2*i:]))) / 32768
			}
		}
		rest = rest[size+size%2:]
	}
	if !fmtOK || samples == nil {
		t.Fatalf("%s: no fmt or data chunk", path)
	}
	return samples
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second / 16000 }

// frameRMS is the RMS of each 10 ms frame.
func frameRMS(x []float64) []float64 {
	const frame = 160
	out := make([]float64, 0, len(x)/frame)
	for i := 0; i+frame <= len(x); i += frame {
		var s float64
		for _, v := range x[i : i+frame] {
			s += v * v
		}
		out = append(out, math.Sqrt(s/frame))
	}
	return out
}

// speechRegion is the span, in samples, from the first to the last 10 ms
// frame within 40 dB of the loudest frame.
func speechRegion(x []float64) (start, end int) {
	rms := frameRMS(x)
	var top float64
	for _, v := range rms {
		top = max(top, v)
	}
	thr := top * math.Pow(10, -40.0/20)
	start, end = -1, -1
	for i, v := range rms {
		if v >= thr {
			if start < 0 {
				start = i
			}
			end = i + 1
		}
	}
	return start * 160, end * 160
}

// bestAlignment finds where ref best matches inside rec, searching ±span
// samples around guess, and returns the lag and the normalized
// cross-correlation there.
func bestAlignment(ref, rec []float64, guess, span int) (lag int, ncc float64) {
	ncc = math.Inf(-1)
	for l := guess - span; l <= guess+span; l++ {
		var xy, xx, yy float64
		for i, x := range ref {
			j := i + l
			if j < 0 || j >= len(rec) {
				continue
			}
			y := rec[j]
			xy += x * y
			xx += x * x
			yy += y * y
		}
		if xx == 0 || yy == 0 {
			continue
		}
		if c := xy / math.Sqrt(xx*yy); c > ncc {
			lag, ncc = l, c
		}
	}
	return lag, ncc
}

// The real path: speech played into a virtual microphone, recorded by
// scribe record through PortAudio, exported, compared with the source.
func TestRecordRealMicrophone(t *testing.T) {
	needTools(t, "espeak-ng", "sox")
	mic := startVmic(t)
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	speech, ref := filepath.Join(dir, "speech.wav"), filepath.Join(dir, "speech16k.raw")
	runTool(t, "espeak-ng", "-w", speech, "The patient reports a mild headache for three days. No fever, no nausea. She sleeps well and takes no medication.")
	// The reference the recording should match: the same speech at 16 kHz.
	runTool(t, "sox", speech, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", ref)

	rec := startScribe(t, mic.scribe, "--profile", profile, "record", "--duration", "12s")
	id := rec.waitLine(t, encounterLine, nil, 30*time.Second)[1]
	// Play once audio is flowing, so that the speech is all recorded.
	rec.waitLine(t, statusLine, func(m []string) bool { return clockOf(m[1:]) > 0 }, 30*time.Second)
	player := mic.play(t, speech)
	if err := player.Wait(); err != nil {
		t.Fatalf("paplay: %v", err)
	}
	rest, err := rec.wait(t, 30*time.Second)
	if err != nil {
		t.Fatalf("scribe record: %v; stderr:\n%s", err, stderrWithoutNoise(rec.stderr.String()))
	}
	var recorded time.Duration
	for _, l := range rest {
		if m := endedLine.FindStringSubmatch(l); m != nil && m[1] == id {
			recorded = clockOf(m[2:])
		}
	}
	if recorded == 0 {
		t.Fatalf("scribe record did not print the end; last lines: %q", rest)
	}

	out := filepath.Join(dir, "out.wav")
	if code, stdout, stderr := scribe(t, "", "--profile", profile, "export", id, out); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, stdout, stderr)
	}
	got, want := readWAV16k(t, out), readRaw16(t, ref)
	if d := secs(len(got)); d < recorded-time.Millisecond || d > recorded+time.Millisecond {
		t.Errorf("exported %s; scribe record reported %s", d, recorded)
	}
	ws, we := speechRegion(want)
	gs, ge := speechRegion(got)
	lag, ncc := bestAlignment(want[ws:we], got, gs, 1600)
	wantDur, gotDur := secs(we-ws), secs(ge-gs)
	t.Logf("recorded %s; speech %s in the source, %s in the recording (%+d ms), starting at %s; normalized cross-correlation %.4f at lag %s",
		recorded, wantDur, gotDur, (gotDur - wantDur).Milliseconds(), secs(lag), ncc, secs(lag-gs))
	if msgs := stderrWithoutNoise(rec.stderr.String()); msgs != "" {
		t.Logf("scribe record said on stderr:\n%s", msgs)
	}
	if ncc < 0.9 {
		t.Errorf("normalized cross-correlation %.4f after alignment, want ≥ 0.9", ncc)
	}
	if diff := gotDur - wantDur; diff < -50*time.Millisecond || diff > 50*time.Millisecond {
		t.Errorf("speech lasts %s in the recording and %s in the source; want within 50 ms", gotDur, wantDur)
	}
}

// jsonEncounter is what scribe encounters --json prints for one.
type jsonEncounter struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	DurationMS int64     `json:"duration_ms"`
	CreatedAt  time.Time `json:"created_at"`
	Source     string    `json:"source"`
	PatientID  int64     `json:"patient_id"`
}

func listEncounters(t *testing.T, env []string, profile string) (list []jsonEncounter, stderr string) {
	t.Helper()
	code, out, errOut := scribeEnv(t, env, "", "--profile", profile, "encounters", "--json")
	if code != 0 {
		t.Fatalf("encounters --json: exit %d\n%s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("encounters --json printed %q: %v", out, err)
	}
	return list, errOut
}

// scribeEnv is scribe with a chosen environment.
func scribeEnv(t *testing.T, env []string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run scribe %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// The crash test: scribe record killed with SIGKILL at several points;
// the next command repairs each recording, losing at most a second of
// what it had reported recorded.
func TestRecordSurvivesKill(t *testing.T) {
	needTools(t, "sox")
	mic := startVmic(t)
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	// A known, never-silent source: a slow sweep, played throughout.
	sweep := filepath.Join(dir, "sweep.wav")
	runTool(t, "sox", "-n", "-r", "48000", "-c", "2", "-b", "16", sweep, "synth", "120", "sine", "200-3000", "vol", "0.5")
	player := mic.play(t, sweep)
	defer func() {
		player.Process.Kill()
		player.Wait()
	}()

	// Kill points: early, mid-segment, and just after the journal has
	// rotated to its second 30 s segment.
	points := []time.Duration{1500 * time.Millisecond, 4 * time.Second, 31 * time.Second}
	if testing.Short() {
		points = points[:2]
	}
	for _, at := range points {
		rec := startScribe(t, mic.scribe, "--profile", profile, "record")
		id := rec.waitLine(t, encounterLine, nil, 30*time.Second)[1]
		m := rec.waitLine(t, statusLine, func(m []string) bool { return clockOf(m[1:]) >= at }, at+30*time.Second)
		reported := clockOf(m[1:])
		if err := rec.cmd.Process.Kill(); err != nil { // SIGKILL: no chance to close anything
			t.Fatal(err)
		}
		rec.wait(t, 10*time.Second)

		list, stderr := listEncounters(t, mic.scribe, profile)
		if want := "Recovered 1 interrupted recording: " + id + "\n"; !strings.Contains(stderr, want) {
			t.Errorf("after killing at %s: stderr %q; want %q", reported, stderrWithoutNoise(stderr), want)
		}
		var e jsonEncounter
		for _, x := range list {
			if x.ID == id {
				e = x
			}
		}
		if e.State != "recovered" {
			t.Errorf("encounter %s after the kill: %+v; want recovered", id, e)
		}
		out := filepath.Join(dir, id+".wav")
		if code, _, errOut := scribeEnv(t, mic.scribe, "", "--profile", profile, "export", id, out); code != 0 {
			t.Fatalf("export of the recovered recording: exit %d\n%s", code, stderrWithoutNoise(errOut))
		}
		pcm := readWAV16k(t, out)
		kept := secs(len(pcm))
		loss := reported - kept
		t.Logf("killed after reporting %s recorded: recovered %s (duration_ms %d), loss %s", reported, kept, e.DurationMS, loss.Round(time.Millisecond))
		if loss > time.Second {
			t.Errorf("killed after reporting %s: recovered only %s, a loss of %s (limit 1s)", reported, kept, loss)
		}
		if d := time.Duration(e.DurationMS) * time.Millisecond; d < kept-time.Millisecond || d > kept+time.Millisecond {
			t.Errorf("encounters says %s, the export holds %s", d, kept)
		}
		// The audio is the sweep, not silence.
		var s float64
		for _, v := range pcm {
			s += v * v
		}
		if rms := 20 * math.Log10(math.Sqrt(s/float64(len(pcm)))); rms < -20 {
			t.Errorf("recovered audio RMS %.1f dBFS; the sweep plays at about -9", rms)
		}
	}
	// Nothing is left to recover.
	if _, stderr := listEncounters(t, mic.scribe, profile); strings.Contains(stderr, "Recovered") {
		t.Errorf("a second start recovered again: %q", stderr)
	}
}

var (
	importedLine = regexp.MustCompile(`^Imported (\d+):(\d\d):(\d\d)\.(\d) of audio from `)
	// queuedLine ends record and import: the visit waits for its note.
	queuedLine = regexp.MustCompile(`^Encounter (\S+): (transcribing|drafting); the note will be drafted .* — see scribe note show (\S+)$`)
)

// importFile runs scribe import and returns the new encounter's id.
func importFile(t *testing.T, profile, file string, args ...string) string {
	t.Helper()
	code, out, errOut := scribe(t, "", append([]string{"--profile", profile, "import", file}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !encounterLine.MatchString(lines[0]) || !importedLine.MatchString(lines[1]) || !queuedLine.MatchString(lines[2]) {
		t.Fatalf("import %s: exit %d\nstdout:\n%s\nstderr:\n%s", file, code, out, errOut)
	}
	return encounterLine.FindStringSubmatch(lines[0])[1]
}

// Import a WAV and an MP3, export them again, list them; a file that is
// not audio is refused and leaves nothing behind.
func TestImportExportEncounters(t *testing.T) {
	needTools(t, "espeak-ng", "sox")
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	wav, ref := filepath.Join(dir, "visit.wav"), filepath.Join(dir, "visit16k.raw")
	runTool(t, "espeak-ng", "-w", wav, "Blood pressure one hundred and thirty over eighty-five. Continue the current dose.")
	runTool(t, "sox", wav, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", ref)
	// Committed by the importer's tests: no MP3 encoder ships with the
	// test dependencies.
	mp3 := filepath.Join("..", "..", "audio", "importer", "testdata", "speech-44k-stereo-cbr.mp3")

	before := time.Now().Add(-time.Second)
	wavID := importFile(t, profile, wav, "--patient", "4")
	mp3ID := importFile(t, profile, mp3)

	// WAV round trip: the export is the speech, at 16 kHz.
	out := filepath.Join(dir, "out.wav")
	code, stdout, stderr := scribe(t, "", "--profile", profile, "export", wavID, out)
	if code != 0 || !strings.HasPrefix(stdout, "Wrote "+out+": ") {
		t.Fatalf("export: exit %d\n%s%s", code, stdout, stderr)
	}
	got, want := readWAV16k(t, out), readRaw16(t, ref)
	lag, ncc := bestAlignment(want, got, 0, 160)
	t.Logf("WAV import round trip: %s exported for %s of source; normalized cross-correlation %.5f at lag %d samples", secs(len(got)), secs(len(want)), ncc, lag)
	if ncc < 0.99 || len(got) < len(want)-16 || len(got) > len(want)+16 {
		t.Errorf("exported WAV import: %d samples, correlation %.4f with the source's %d; want the same audio", len(got), ncc, len(want))
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export mode: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	out3 := filepath.Join(dir, "out-mp3.wav")
	if code, stdout, stderr := scribe(t, "", "--profile", profile, "export", mp3ID, out3); code != 0 {
		t.Fatalf("export of the MP3 import: exit %d\n%s%s", code, stdout, stderr)
	}
	mp3Audio := readWAV16k(t, out3)
	s, e := speechRegion(mp3Audio)
	if d := secs(e - s); d < 3*time.Second {
		t.Errorf("the MP3's speech lasts %s in the export; the fixture has about 4.5s", d)
	}

	// A file that is not audio: a clear error, no encounter, no folder.
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("BP 130/85, continue current dose.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = scribe(t, "", "--profile", profile, "import", text)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "scribe: Import "+text+": unsupported file: it is not a WAV or MP3") {
		t.Errorf("import of a text file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	entries, err := os.ReadDir(filepath.Join(profile, "encounters"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("encounters folder holds %v; want the two imports only", names)
	}

	code, stdout, _ = scribe(t, "", "--profile", profile, "encounters", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil || len(list) != 2 {
		t.Fatalf("encounters --json: exit %d, %v:\n%s", code, err, stdout)
	}
	// Newest first; every object has at least these fields.
	for i, wantID := range []string{mp3ID, wavID} {
		en := list[i]
		created, err := time.Parse(time.RFC3339Nano, fmt.Sprint(en["created_at"]))
		ms, isNum := en["duration_ms"].(float64)
		// Imports are queued for their note at once (no one is signed in
		// here, so they wait).
		if en["id"] != wantID || en["state"] != "transcribing" || en["source"] != "import" || !isNum || ms <= 0 || err != nil ||
			created.Before(before) || created.After(time.Now()) {
			t.Errorf("encounters --json [%d] = %v; want %s, transcribing, import, a duration and a creation time", i, en, wantID)
		}
	}
	if list[1]["patient_id"] != float64(4) || list[0]["patient_id"] != nil {
		t.Errorf("patient ids: %v, %v; want none and 4", list[0]["patient_id"], list[1]["patient_id"])
	}
	if ms := list[1]["duration_ms"].(float64); !near(time.Duration(ms)*time.Millisecond, secs(len(got)), time.Millisecond) {
		t.Errorf("duration_ms %v; the export holds %s", ms, secs(len(got)))
	}

	code, stdout, _ = scribe(t, "", "--profile", profile, "encounters")
	if code != 0 || !strings.HasPrefix(stdout, "ID") || !strings.Contains(stdout, wavID) || !strings.Contains(stdout, mp3ID) {
		t.Errorf("encounters: exit %d\n%s", code, stdout)
	}
	code, _, stderr = scribe(t, "", "--profile", profile, "export", "20260101-000000-000000000000", out)
	if code != 1 || stderr != "scribe: There is no encounter 20260101-000000-000000000000 on this computer — list them with scribe encounters.\n" {
		t.Errorf("export of an unknown encounter: exit %d, stderr %q", code, stderr)
	}
}

func near(d, want, tol time.Duration) bool { return d >= want-tol && d <= want+tol }

// Ctrl-C and SIGTERM end a recording cleanly: the journal is closed, the
// encounter ended, nothing needs recovering.
func TestRecordEndsOnSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	mic := startVmic(t)
	profile := filepath.Join(t.TempDir(), "profile")

	code, out, errOut := scribeEnv(t, mic.scribe, "", "--profile", profile, "devices")
	if code != 0 || !regexp.MustCompile(`(?m)^\*\s+default\s`).MatchString(out) {
		t.Fatalf("devices: exit %d\n%s\n%s", code, out, stderrWithoutNoise(errOut))
	}
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		rec := startScribe(t, mic.scribe, "--profile", profile, "record")
		id := rec.waitLine(t, encounterLine, nil, 30*time.Second)[1]
		reported := clockOf(rec.waitLine(t, statusLine, func(m []string) bool { return clockOf(m[1:]) >= time.Second }, 30*time.Second)[1:])
		if err := rec.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		rest, err := rec.wait(t, 15*time.Second)
		if err != nil {
			t.Fatalf("scribe record after %v: %v; stderr:\n%s", sig, err, stderrWithoutNoise(rec.stderr.String()))
		}
		var ended time.Duration
		queued := false
		for _, l := range rest {
			if m := endedLine.FindStringSubmatch(l); m != nil && m[1] == id {
				ended = clockOf(m[2:])
			}
			if m := queuedLine.FindStringSubmatch(l); m != nil && m[1] == id && m[3] == id && strings.Contains(l, "once you sign in (scribe login)") {
				queued = true
			}
		}
		if !queued {
			t.Errorf("after %v: no line saying the signed-out visit waits for its note; output %q", sig, rest)
		}
		if ended < reported {
			t.Errorf("after %v: ended with %s recorded (output %q); it had reported %s", sig, ended, rest, reported)
		}
		list, stderr := listEncounters(t, mic.scribe, profile)
		if strings.Contains(stderr, "Recovered") {
			t.Errorf("after %v the next command recovered: %q", sig, stderrWithoutNoise(stderr))
		}
		// Ended, and queued for its note at once.
		if len(list) == 0 || list[0].ID != id || list[0].State != "transcribing" || list[0].DurationMS != ended.Milliseconds() {
			t.Errorf("after %v: encounters %+v; want %s transcribing with %d ms", sig, list, id, ended.Milliseconds())
		}
		wav := filepath.Join(t.TempDir(), "out.wav")
		if code, _, errOut := scribeEnv(t, mic.scribe, "", "--profile", profile, "export", id, wav); code != 0 {
			t.Fatalf("export: exit %d\n%s", code, stderrWithoutNoise(errOut))
		}
		if got := secs(len(readWAV16k(t, wav))); got.Truncate(time.Millisecond) != ended {
			t.Errorf("after %v: exported %s, scribe record said %s", sig, got, ended)
		}
	}
}

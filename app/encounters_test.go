package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/store"
)

var testMic = capture.Device{Name: "Test Microphone", Default: true, Channels: 2, SampleRate: 48000, HostAPI: "Fake"}

// syncLog collects a Core's log.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// recProfile is a profile folder that tests open Cores on, as separate
// starts (or processes) of Scribe would.
type recProfile struct {
	dir   string
	vault *platform.FileVault
	mics  *fakeMics
	log   *syncLog
	// sys replaces the OS services; the default has plenty of disk and a
	// working sleep inhibitor.
	sys system
}

func newRecProfile(t testing.TB, devs ...capture.Device) *recProfile {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profile")
	vault, err := platform.NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &recProfile{
		dir: dir, vault: vault, mics: newFakeMics(devs...), log: &syncLog{},
		sys: system{
			timeLeft:     func(string) (time.Duration, error) { return 100 * time.Hour, nil },
			diskEvery:    time.Hour,
			inhibitSleep: func(context.Context, string) (func(), error) { return func() {}, nil },
		},
	}
}

func (p *recProfile) open(t *testing.T) *Core {
	t.Helper()
	c, err := Open(t.Context(), Config{
		ProfileDir: p.dir, Secrets: p.vault, AudioBackend: p.mics,
		Logger: slog.New(slog.NewTextHandler(p.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.sys = p.sys
	t.Cleanup(func() { c.Close() })
	return c
}

// near reports whether d is within tol of want.
func near(d, want, tol time.Duration) bool { return d >= want-tol && d <= want+tol }

// entries lists the names in the profile's encounters folder.
func (p *recProfile) entries(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(p.dir, "encounters"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func onlyEncounter(t *testing.T, c *Core) Encounter {
	t.Helper()
	list, err := c.Encounters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d encounters, want 1: %+v", len(list), list)
	}
	return list[0]
}

func TestRecordPauseResumeEnd(t *testing.T) {
	p := newRecProfile(t, testMic, capture.Device{Name: "USB Headset", Channels: 1, SampleRate: 44100})
	c := p.open(t)
	other := p.open(t) // another process's view of the same profile

	rec, err := c.StartRecording(t.Context(), RecordOptions{PatientID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !validID.MatchString(rec.ID()) || rec.Device() != testMic.Name || rec.State() != StateRecording {
		t.Errorf("started: id %q, device %q, state %s", rec.ID(), rec.Device(), rec.State())
	}
	if e := onlyEncounter(t, other); e.ID != rec.ID() || e.State != StateRecording || e.PatientID != 7 || e.Source != SourceMic || e.Device != testMic.Name {
		t.Errorf("row while recording: %+v", e)
	}
	mic := p.mics.mic(t)
	mic.tone(t, 440, 0.5, time.Second)
	if err := rec.Pause(); err != nil {
		t.Fatal(err)
	}
	if e := onlyEncounter(t, other); e.State != StatePaused || !near(e.Duration, time.Second, 20*time.Millisecond) {
		t.Errorf("row while paused: state %s, duration %s; want paused, 1s", e.State, e.Duration)
	}
	mic.tone(t, 1000, 0.5, time.Second) // not recorded
	if err := rec.Resume(); err != nil {
		t.Fatal(err)
	}
	if e := onlyEncounter(t, other); e.State != StateRecording {
		t.Errorf("row after resume: state %s", e.State)
	}
	mic.tone(t, 440, 0.5, 2*time.Second)

	e, err := rec.End(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Ended, and at once queued for its note.
	if e.State != StateTranscribing || !near(e.Duration, 3*time.Second, 20*time.Millisecond) || e.Ended.IsZero() {
		t.Errorf("End returned %+v; want transcribing, 3s", e)
	}
	if again, err := rec.End(t.Context()); err != nil || again != e {
		t.Errorf("second End: %+v, %v; want the first result", again, err)
	}
	if got := onlyEncounter(t, other); got.State != StateTranscribing || got.Duration != e.Duration || got.PatientID != 7 {
		t.Errorf("row after End: %+v; want %+v", got, e)
	}
	if err := rec.Pause(); err == nil {
		t.Error("Pause after End succeeded")
	}
	// Both channels are closed, so a screen's loops end.
	for range rec.Levels() {
	}
	for range rec.Events() {
	}

	m, err := journal.ReadManifest(filepath.Join(p.dir, "encounters", rec.ID()), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Closed || !near(samplesDuration(m.Samples), e.Duration, time.Millisecond) {
		t.Errorf("journal: closed %v, %d samples; encounter says %s", m.Closed, m.Samples, e.Duration)
	}
	var pauses int
	for _, ev := range m.Events {
		if ev.Kind == journal.EventPause {
			pauses++
			if !near(samplesDuration(ev.At), time.Second, 20*time.Millisecond) {
				t.Errorf("pause marked at %s, want 1s", samplesDuration(ev.At))
			}
		}
	}
	if pauses != 1 {
		t.Errorf("%d pauses in the journal, want 1", pauses)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "encounters", rec.ID()+".lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after End: %v", err)
	}
}

func TestRecordChoosesDevice(t *testing.T) {
	p := newRecProfile(t, testMic, capture.Device{Name: "USB Headset", Channels: 1, SampleRate: 44100})
	c := p.open(t)
	rec, err := c.StartRecording(t.Context(), RecordOptions{Device: "headset"})
	if err != nil {
		t.Fatal(err)
	}
	mic := p.mics.mic(t)
	mic.tone(t, 300, 0.3, 500*time.Millisecond)
	e, err := rec.End(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if e.Device != "USB Headset" || mic.dev.Name != "USB Headset" || !near(e.Duration, 500*time.Millisecond, 20*time.Millisecond) {
		t.Errorf("recorded %s from %q (opened %q); want 500ms from USB Headset", e.Duration, e.Device, mic.dev.Name)
	}
}

func TestStartRecordingRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		devs   []capture.Device
		device string
		left   time.Duration
		is     error
		says   string
	}{
		{"no microphone", nil, "", time.Hour, capture.ErrNoDevice, "No microphone found"},
		{"unknown microphone", []capture.Device{testMic}, "Studio", time.Hour, capture.ErrDeviceNotFound, `"Test Microphone"`},
		{"low disk", []capture.Device{testMic}, "", 29 * time.Minute, platform.ErrLowDisk, "Only 29 minutes of recording space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newRecProfile(t, tc.devs...)
			p.sys.timeLeft = func(string) (time.Duration, error) { return tc.left, nil }
			c := p.open(t)
			_, err := c.StartRecording(t.Context(), RecordOptions{Device: tc.device})
			if !errors.Is(err, tc.is) {
				t.Fatalf("StartRecording: %v; want %v", err, tc.is)
			}
			if msg := Explain(err); !strings.Contains(msg, tc.says) || strings.HasPrefix(msg, "Something went wrong") {
				t.Errorf("Explain: %q; want it to say %q", msg, tc.says)
			}
			if list, err := c.Encounters(t.Context()); err != nil || len(list) != 0 {
				t.Errorf("encounters after a refused start: %+v, %v", list, err)
			}
			if names := p.entries(t); len(names) != 0 {
				t.Errorf("left in the encounters folder: %v", names)
			}
		})
	}
	p := newRecProfile(t, testMic)
	if _, err := p.open(t).StartRecording(t.Context(), RecordOptions{TemplateID: -1}); err == nil {
		t.Error("a negative template id was accepted")
	}
	if _, err := p.open(t).StartRecording(t.Context(), RecordOptions{PatientID: -1}); err == nil {
		t.Error("a local patient id that no patient has was accepted")
	}
}

// waitEvent reads events until one of kind arrives.
func waitEvent(t *testing.T, rec *Recording, kind RecordingEventKind) RecordingEvent {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-rec.Events():
			if !ok {
				t.Fatalf("events closed before %s", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("no %s event within 10s", kind)
		}
	}
}

func TestRecordingWarnsSleepAndDisk(t *testing.T) {
	p := newRecProfile(t, testMic)
	p.sys.inhibitSleep = func(context.Context, string) (func(), error) {
		return func() {}, fmt.Errorf("no logind here: %w", platform.ErrSleepInhibitUnsupported)
	}
	var left sync.Mutex
	free := time.Hour
	p.sys.timeLeft = func(string) (time.Duration, error) {
		left.Lock()
		defer left.Unlock()
		return free, nil
	}
	p.sys.diskEvery = 5 * time.Millisecond
	c := p.open(t)
	rec, err := c.StartRecording(t.Context(), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, rec, EventSleepNotInhibited)
	if !ev.Warning || ev.Message != SleepWarning {
		t.Errorf("sleep event: %+v", ev)
	}
	left.Lock()
	free = 9*time.Minute + 30*time.Second
	left.Unlock()
	ev = waitEvent(t, rec, EventDiskLow)
	if !ev.Warning || !strings.Contains(ev.Message, "Only 9 minutes of recording space") {
		t.Errorf("disk event: %+v", ev)
	}
	if _, err := rec.End(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestRecordingReportsNoAudio(t *testing.T) {
	p := newRecProfile(t, testMic)
	c := p.open(t)
	rec, err := c.StartRecording(t.Context(), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mic := p.mics.mic(t)
	// 11 s of silence, faster than real time but no faster than the
	// writer drains (its ring holds 10 s).
	for i := range 11 {
		mic.tone(t, 0, 0, time.Second)
		waitLevel(t, rec, int64(i+1)*16000-800)
	}
	ev := waitEvent(t, rec, EventNoAudio)
	if !ev.Warning || !strings.HasPrefix(ev.Message, "No audio detected — ") || !near(ev.At, 10*time.Second, 100*time.Millisecond) {
		t.Errorf("no-audio event: %+v", ev)
	}
	mic.tone(t, 440, 0.5, 200*time.Millisecond)
	ev = waitEvent(t, rec, EventAudioDetected)
	if ev.Warning || ev.Clears != EventNoAudio {
		t.Errorf("audio-detected event: %+v", ev)
	}
	if _, err := rec.End(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// waitLevel reads levels until one measures audio at or past offset.
func waitLevel(t *testing.T, rec *Recording, offset int64) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-rec.Levels():
			if !ok {
				t.Fatal("levels closed")
			}
			if l.At >= offset {
				return
			}
		case <-deadline.C:
			t.Fatalf("levels did not reach sample %d within 10s", offset)
		}
	}
}

// A screen that reads levels slowly gets the newest one, not a backlog.
func TestLevelsLatestWins(t *testing.T) {
	p := newRecProfile(t, testMic)
	c := p.open(t)
	rec, err := c.StartRecording(t.Context(), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mic := p.mics.mic(t)
	mic.tone(t, 440, 0.5, 2*time.Second)
	// Wait until the last window of those 2 s has been measured.
	var last int64
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for last < 2*16000-800 {
		select {
		case l := <-rec.Levels():
			last = l.At
		case <-deadline.C:
			t.Fatalf("levels reached only %d samples", last)
		}
	}
	// Nothing older can be waiting: at most the newest reading.
	select {
	case l := <-rec.Levels():
		if l.At < last {
			t.Errorf("an older level (%d) was waiting after %d", l.At, last)
		}
	default:
	}
	if len(rec.Levels()) != 0 {
		t.Errorf("%d levels still waiting", len(rec.Levels()))
	}
	if _, err := rec.End(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseEndsRecording(t *testing.T) {
	p := newRecProfile(t, testMic)
	c := p.open(t)
	rec, err := c.StartRecording(t.Context(), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.mics.mic(t).tone(t, 440, 0.5, 700*time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	e := onlyEncounter(t, p.open(t))
	if e.ID != rec.ID() || e.State != StateTranscribing || !near(e.Duration, 700*time.Millisecond, 20*time.Millisecond) {
		t.Errorf("after Close: %+v; want transcribing, 700ms", e)
	}
}

// crash leaves an encounter as a killed process would: its row open and
// its journal unclosed, with samples of audio written.
func (p *recProfile) crash(t *testing.T, id string, samples int) {
	t.Helper()
	if err := platform.EnsureDir(filepath.Join(p.dir, "encounters")); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), filepath.Join(p.dir, store.FileName), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateEncounter(t.Context(), store.Encounter{ID: id, State: "paused", CreatedAt: time.Now(), Source: store.SourceMic,
		Device: "Test Microphone", Dir: "encounters/" + id}); err != nil {
		t.Fatal(err)
	}
	if samples < 0 {
		return // died before the journal was made
	}
	w, err := journal.Create(filepath.Join(p.dir, "encounters", id), id, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, samples)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(float64(i)/10))
	}
	if err := w.Write(pcm); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	// No Close: the process "dies" here.
}

func TestRecoverEncounters(t *testing.T) {
	p := newRecProfile(t, testMic)
	const crashed, early = "20260122-093012-0123456789ab", "20260122-093013-0123456789ab"
	p.crash(t, crashed, 40000)
	p.crash(t, early, -1)
	c := p.open(t)

	got, err := c.RecoverEncounters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != crashed || got[0].State != StateRecovered || got[0].Duration != 2500*time.Millisecond || got[0].Ended.IsZero() {
		t.Fatalf("recovered %+v; want %s, recovered, 2.5s", got, crashed)
	}
	if e := onlyEncounter(t, c); e.ID != crashed || e.State != StateRecovered || e.Duration != 2500*time.Millisecond {
		t.Errorf("after recovery: %+v", e)
	}
	m, err := journal.ReadManifest(filepath.Join(p.dir, "encounters", crashed), journal.Options{})
	if err != nil || !m.Recovered || m.Samples != 40000 {
		t.Errorf("journal after recovery: %+v, %v", m, err)
	}
	if again, err := c.RecoverEncounters(t.Context()); err != nil || len(again) != 0 {
		t.Errorf("second recovery: %+v, %v; want nothing", again, err)
	}
	out := filepath.Join(t.TempDir(), "out.wav")
	if err := c.ExportEncounter(t.Context(), crashed, out); err != nil {
		t.Fatal(err)
	}
	if pcm := readWAV(t, out); len(pcm) != 40000 {
		t.Errorf("exported %d samples, want 40000", len(pcm))
	}
}

// A CLI command starting while the window records must leave that
// recording alone.
func TestRecoverLeavesLiveRecording(t *testing.T) {
	p := newRecProfile(t, testMic)
	window := p.open(t)
	rec, err := window.StartRecording(t.Context(), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.mics.mic(t).tone(t, 440, 0.5, 300*time.Millisecond)
	cli := p.open(t)
	if got, err := cli.RecoverEncounters(t.Context()); err != nil || len(got) != 0 {
		t.Errorf("recovery during a live recording: %+v, %v", got, err)
	}
	if got, err := window.RecoverEncounters(t.Context()); err != nil || len(got) != 0 {
		t.Errorf("recovery in the recording process: %+v, %v", got, err)
	}
	err = cli.ExportEncounter(t.Context(), rec.ID(), filepath.Join(t.TempDir(), "x.wav"))
	if err == nil || !strings.Contains(Explain(err), "still being recorded") {
		t.Errorf("export of a live recording from another core: %v", err)
	}
	err = window.ExportEncounter(t.Context(), rec.ID(), filepath.Join(t.TempDir(), "x.wav"))
	if err == nil || !strings.Contains(Explain(err), "still being recorded") {
		t.Errorf("export of a live recording: %v", err)
	}
	if e := onlyEncounter(t, cli); e.State != StateRecording {
		t.Errorf("state seen by the CLI: %s", e.State)
	}
	if _, err := rec.End(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e := onlyEncounter(t, cli); e.State != StateTranscribing {
		t.Errorf("state after End: %s", e.State)
	}
}

func TestExportEncounter(t *testing.T) {
	p := newRecProfile(t, testMic)
	c := p.open(t)
	rec, err := c.StartRecording(t.Context(), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.mics.mic(t).tone(t, 440, 0.5, time.Second)
	e, err := rec.End(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "visit.wav")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.ExportEncounter(t.Context(), e.ID, out); err != nil {
		t.Fatal(err)
	}
	pcm := readWAV(t, out)
	if !near(samplesDuration(int64(len(pcm))), e.Duration, time.Millisecond) {
		t.Errorf("exported %d samples; the encounter has %s", len(pcm), e.Duration)
	}
	// The middle of a 0.5 full-scale tone peaks near 16384.
	var peak int16
	for _, v := range pcm[4000:12000] {
		peak = max(peak, v)
	}
	if peak < 15000 || peak > 17500 {
		t.Errorf("exported peak %d, want about 16384", peak)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("exported file mode %v, %v; want 0600", fi.Mode().Perm(), err)
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("left beside the export: %v", names)
	}

	for _, tc := range []struct{ id, out, says string }{
		{"nonsense", out, "is not an encounter id"},
		{"20260122-093012-0123456789ab", out, "There is no encounter 20260122-093012-0123456789ab"},
		{e.ID, dir, "is a folder"},
		{e.ID, filepath.Join(dir, "missing", "x.wav"), ""},
	} {
		err := c.ExportEncounter(t.Context(), tc.id, tc.out)
		if err == nil || !strings.Contains(Explain(err), tc.says) {
			t.Errorf("export %s to %s: %v; want it to say %q", tc.id, tc.out, err, tc.says)
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("failed exports left files: %v", names)
	}
}

// readWAV reads a 16 kHz mono 16-bit WAV's samples, checking its header.
func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s is not a WAV file", path)
	}
	if got := binary.LittleEndian.Uint32(b[4:8]); int(got) != len(b)-8 {
		t.Errorf("RIFF size %d, file has %d bytes after it", got, len(b)-8)
	}
	r := bytes.NewReader(b[12:])
	var pcm []int16
	for {
		var hdr struct {
			ID   [4]byte
			Size uint32
		}
		if err := binary.Read(r, binary.LittleEndian, &hdr); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body := make([]byte, hdr.Size+hdr.Size%2)
		if _, err := io.ReadFull(r, body); err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && hdr.Size%2 == 1) {
			t.Fatalf("%s: chunk %s: %v", path, hdr.ID, err)
		}
		switch string(hdr.ID[:]) {
		case "fmt ":
			format, ch, rate, bits := binary.LittleEndian.Uint16(body), binary.LittleEndian.Uint16(body[2:]), binary.LittleEndian.Uint32(body[4:]), binary.LittleEndian.Uint16(body[14:])
			if format != 1 || ch != 1 || rate != 16000 || bits != 16 {
				t.Errorf("%s: format %d, %d channels, %d Hz, %d bits; want PCM mono 16 kHz 16-bit", path, format, ch, rate, bits)
			}
		case "data":
			pcm = make([]int16, hdr.Size/2)
			binary.Read(bytes.NewReader(body[:hdr.Size]), binary.LittleEndian, pcm)
		}
	}
	return pcm
}

// writeWAV writes a 16-bit PCM WAV of a 440 Hz tone at -6 dBFS, with a
// LIST chunk before the audio as many recorders write.
func writeWAV(t *testing.T, path string, rate, channels int, d time.Duration) {
	t.Helper()
	frames := int(float64(rate) * d.Seconds())
	var data bytes.Buffer
	for i := range frames {
		v := int16(16384 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for range channels {
			binary.Write(&data, binary.LittleEndian, v)
		}
	}
	list := []byte("INFOISFT\x06\x00\x00\x00Sox\x00\x00\x00")
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+16+8+len(list)+8+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(channels), uint32(rate), uint32(rate * channels * 2), uint16(channels * 2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("LIST")
	binary.Write(&b, binary.LittleEndian, uint32(len(list)))
	b.Write(list)
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestImportRecording(t *testing.T) {
	p := newRecProfile(t)
	c := p.open(t)
	wav := filepath.Join(t.TempDir(), "visit.wav")
	writeWAV(t, wav, 44100, 2, 3*time.Second)
	var fractions []float64
	e, err := c.ImportRecording(t.Context(), wav, ImportOptions{PatientID: 12, Progress: func(f float64) { fractions = append(fractions, f) }})
	if err != nil {
		t.Fatal(err)
	}
	if !validID.MatchString(e.ID) || e.State != StateTranscribing || e.Source != SourceImport || e.PatientID != 12 || e.Device != "" ||
		!near(e.Duration, 3*time.Second, 5*time.Millisecond) || e.Created.IsZero() || e.Ended.IsZero() {
		t.Errorf("imported %+v", e)
	}
	if len(fractions) == 0 || fractions[len(fractions)-1] != 1 {
		t.Errorf("progress %v; want it to end at 1", fractions)
	}
	if got := onlyEncounter(t, p.open(t)); got.ID != e.ID || got.Duration != e.Duration || got.Source != SourceImport {
		t.Errorf("listed %+v; want %+v", got, e)
	}
	if names := p.entries(t); len(names) != 1 || names[0] != e.ID {
		t.Errorf("encounters folder holds %v; want only %s", names, e.ID)
	}
	out := filepath.Join(t.TempDir(), "out.wav")
	if err := c.ExportEncounter(t.Context(), e.ID, out); err != nil {
		t.Fatal(err)
	}
	pcm := readWAV(t, out)
	var peak int16
	for _, v := range pcm[8000:40000] {
		peak = max(peak, v)
	}
	if !near(samplesDuration(int64(len(pcm))), 3*time.Second, 5*time.Millisecond) || peak < 15500 || peak > 17300 {
		t.Errorf("export of the import: %d samples, peak %d; want 3s at about 16384", len(pcm), peak)
	}

	mp3 := filepath.Join("..", "audio", "importer", "testdata", "tone-44k-stereo-vbr.mp3")
	e2, err := c.ImportRecording(t.Context(), mp3, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e2.PatientID != 0 || !near(e2.Duration, 2*time.Second, 100*time.Millisecond) {
		t.Errorf("imported MP3: %+v; want 2s", e2)
	}
}

func TestImportRefusesBadFiles(t *testing.T) {
	p := newRecProfile(t)
	c := p.open(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("Patient notes, not audio.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.wav")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "cut.wav")
	writeWAV(t, truncated, 16000, 1, time.Second)
	if err := os.Truncate(truncated, 20); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, says string }{
		{text, "notes.txt"},
		{empty, "empty.wav"},
		{truncated, "cut.wav"},
		{filepath.Join(dir, "missing.mp3"), "Cannot read " + filepath.Join(dir, "missing.mp3") + ": no such file"},
		{dir, "is a folder"},
	} {
		_, err := c.ImportRecording(t.Context(), tc.file, ImportOptions{})
		msg := Explain(err)
		if err == nil || !strings.Contains(msg, tc.says) || strings.HasPrefix(msg, "Something went wrong") {
			t.Errorf("import %s: %q; want a clear error saying %q", tc.file, msg, tc.says)
		}
	}
	if list, err := c.Encounters(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("encounters after failed imports: %+v, %v", list, err)
	}
	if names := p.entries(t); len(names) != 0 {
		t.Errorf("failed imports left %v", names)
	}
}

// An import killed midway leaves its staging folder; the next start
// removes it, unless that import is still running.
func TestRecoverRemovesInterruptedImport(t *testing.T) {
	p := newRecProfile(t)
	c := p.open(t)
	root := filepath.Join(p.dir, "encounters")
	const dead, live = "20260122-093012-0123456789ab", "20260122-093013-0123456789ab"
	for _, id := range []string{dead, live} {
		if err := os.MkdirAll(filepath.Join(root, stagingPrefix+id), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := lockEncounter(root, live)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.unlock()
	if _, err := c.RecoverEncounters(t.Context()); err != nil {
		t.Fatal(err)
	}
	names := p.entries(t)
	if !slices.Contains(names, stagingPrefix+live) || slices.Contains(names, stagingPrefix+dead) {
		t.Errorf("after recovery: %v; want only the live import's folder (and its lock)", names)
	}
}

// A microphone pulled out mid-recording: the recording goes on, on the
// device plugged in next, and the clinician hears about both.
func TestRecordingSurvivesUnpluggedMicrophone(t *testing.T) {
	headset := capture.Device{Name: "USB Headset", Default: true, Channels: 1, SampleRate: 16000}
	p := newRecProfile(t, headset)
	c := p.open(t)
	rec, err := c.StartRecording(t.Context(), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := p.mics.mic(t)
	first.tone(t, 440, 0.5, time.Second)
	p.mics.setDevices()
	first.unplug()
	ev := waitEvent(t, rec, EventDeviceLost)
	if !ev.Warning || !strings.HasPrefix(ev.Message, "The microphone stopped delivering audio — ") {
		t.Errorf("device-lost event: %+v", ev)
	}
	p.mics.setDevices(testMic)
	second := p.mics.mic(t)
	ev = waitEvent(t, rec, EventDeviceChanged)
	if ev.Warning || ev.Clears != EventDeviceLost || !strings.Contains(ev.Message, `"Test Microphone"`) {
		t.Errorf("device-changed event: %+v", ev)
	}
	second.tone(t, 440, 0.5, time.Second)
	e, err := rec.End(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if e.State != StateTranscribing || e.Device != "Test Microphone" || !near(e.Duration, 2*time.Second, 30*time.Millisecond) {
		t.Errorf("after the swap: %+v; want transcribing, 2s, on Test Microphone", e)
	}
}

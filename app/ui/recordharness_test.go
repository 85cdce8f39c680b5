package ui

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// recordSetup is what a Record screen test needs besides the defaults.
type recordSetup struct {
	// profile is the core's profile folder; "" makes a fresh one.
	profile string
	// audio is the core's microphone backend; nil is PortAudio.
	audio capture.Backend
	// outage puts the sandbox behind a switch (h.link) that takes the
	// network down and brings it back.
	outage bool
}

// newRecordHarness is newHarness for recording: signed in, with the
// profile folder and audio backend chosen by the test, and file dialogs
// that answer with the test's paths.
func newRecordHarness(t *testing.T, rs recordSetup) (*harness, *pickedFiles) {
	t.Helper()
	ctx := t.Context()
	sb, err := sandbox.New(ctx, sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	var url string
	var link *outage
	if rs.outage {
		link = &outage{t: t, h: sb.Handler(), addr: "127.0.0.1:0"}
		link.up()
		t.Cleanup(link.down)
		url = "http://" + link.addr + "/api"
	} else if url, err = sb.Start(ctx, "127.0.0.1:0"); err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	profile := rs.profile
	if profile == "" {
		profile = t.TempDir()
	}
	secrets, err := platform.NewFileVault(profile)
	if err != nil {
		t.Fatalf("file vault: %v", err)
	}
	core, err := app.Open(ctx, app.Config{ProfileDir: profile, Secrets: secrets, AudioBackend: rs.audio})
	if err != nil {
		t.Fatalf("open core: %v", err)
	}
	t.Cleanup(func() {
		if err := core.Close(); err != nil {
			t.Errorf("close core: %v", err)
		}
	})
	if _, err := core.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	fa := test.NewTempApp(t)
	q := newUIQueue()
	h := &harness{t: t, fa: fa, core: core, q: q, sandbox: sb, url: url, link: link}
	h.shell = newShell(fa, core, Options{}, q.post)
	t.Cleanup(h.shell.stop)
	h.shell.show()
	files := &pickedFiles{}
	h.main().record.files = files
	h.main().banner.files = files
	return h, files
}

// pickedFiles stands in for the file dialogs: it answers with the path
// the test chose, as if the clinician had picked it. What happens after
// the choice (export, import) is the app's real code.
type pickedFiles struct {
	save1, open1 string
	saves        []string // names suggested to save
}

func (f *pickedFiles) save(name string, chosen func(string, error)) {
	f.saves = append(f.saves, name)
	chosen(f.save1, nil)
}

func (f *pickedFiles) open(_ []string, chosen func(string, error)) { chosen(f.open1, nil) }

// pressShortcut does what the desktop driver does with a key combination:
// the main menu gets it first, before the focused widget (which is why the
// recording shortcuts work while typing in an entry).
func pressShortcut(t *testing.T, w fyne.Window, sc fyne.Shortcut) {
	t.Helper()
	var walk func(items []*fyne.MenuItem) bool
	walk = func(items []*fyne.MenuItem) bool {
		for _, it := range items {
			if it.Shortcut != nil && it.Shortcut.ShortcutName() == sc.ShortcutName() && it.Action != nil {
				it.Action()
				return true
			}
			if it.ChildMenu != nil && walk(it.ChildMenu.Items) {
				return true
			}
		}
		return false
	}
	for _, m := range w.MainMenu().Items {
		if walk(m.Items) {
			return
		}
	}
	t.Fatalf("no menu item has the shortcut %s", sc.ShortcutName())
}

// vmicSink is a real-time microphone for this process: a PulseAudio null
// sink (scripts/vmic.sh) whose monitor is ALSA's default capture device,
// so PortAudio records whatever is played into the sink, at the pace of a
// real microphone (silence when nothing plays). The ALSA file plugin
// would be simpler but has no clock: it delivers audio hundreds of times
// faster than real time, which makes elapsed time and pauses meaningless.
type vmicSink struct {
	name, dir string
}

// virtualMic sets up the microphone and plays a 440 Hz tone into it for
// the whole test.
func virtualMic(t *testing.T) *vmicSink {
	t.Helper()
	s := silentMic(t)
	s.play(t, []string{"synth", "120", "sine", "440", "vol", "0.5"})
	return s
}

// silentMic sets up the microphone with nothing playing.
func silentMic(t *testing.T) *vmicSink {
	t.Helper()
	for _, bin := range []string{"pulseaudio", "pactl", "paplay", "sox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("no virtual microphone: %s is not installed (scripts/deps.sh installs it)", bin)
		}
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "vmic.sh"))
	if err != nil {
		t.Fatal(err)
	}
	s := &vmicSink{name: fmt.Sprintf("scribe_ui_%d_%d", os.Getpid(), sinkSeq.Add(1)), dir: t.TempDir()}
	for _, line := range strings.Split(vmic(t, script, "pulse-up", s.name), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			t.Setenv(k, v)
		}
	}
	t.Cleanup(func() { vmic(t, script, "pulse-down", s.name) })
	out := vmic(t, script, "alsa-pulse", s.name, s.dir)
	_, conf, ok := strings.Cut(strings.TrimSpace(out), "ALSA_CONFIG_PATH=")
	if !ok {
		t.Fatalf("vmic.sh alsa-pulse printed %q", out)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	// With a PulseAudio server reachable, /etc/alsa/conf.d/99-pulse.conf
	// redefines ALSA's default as plain "pulse" after that file is read,
	// and plain pulse records the server's default source, which another
	// test run on the same daemon may have set to its own sink. Naming
	// the source for libpulse makes either definition record this sink.
	t.Setenv("PULSE_SOURCE", s.name+".monitor")
	return s
}

// play plays the sox synth parts, one after the other, into the sink
// until the test ends. Each part is sox effect arguments ("synth", "1",
// "sine", "440"); the whole must last longer than the test.
func (s *vmicSink) play(t *testing.T, parts ...[]string) {
	t.Helper()
	n := playSeq.Add(1)
	var files []string
	for i, p := range parts {
		f := filepath.Join(s.dir, fmt.Sprintf("play%d-%d.wav", n, i))
		args := append([]string{"-n", "-r", "48000", "-c", "1", "-b", "16", f}, p...)
		if out, err := exec.CommandContext(t.Context(), "sox", args...).CombinedOutput(); err != nil {
			t.Fatalf("sox %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		files = append(files, f)
	}
	file := files[0]
	if len(files) > 1 {
		file = filepath.Join(s.dir, fmt.Sprintf("play%d.wav", n))
		if out, err := exec.CommandContext(t.Context(), "sox", append(files, file)...).CombinedOutput(); err != nil {
			t.Fatalf("sox: %v\n%s", err, out)
		}
	}
	// Not t.Context(): that ends before the cleanups run, and the cleanup
	// below tells a paplay that stopped early from one stopped by it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cmd := exec.CommandContext(ctx, "paplay", "-d", s.name, file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("paplay: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-done: // it should still be playing
			t.Errorf("paplay stopped early: %v\n%s", err, stderr.String())
		default:
			cancel()
			<-done
		}
	})
}

var playSeq atomic.Int64

var sinkSeq atomic.Int64

func vmic(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.WithoutCancel(t.Context()), "bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "VMIC_RUNTIME="+vmicRuntime())
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vmic.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out.String()
}

// vmicRuntime is the script's default daemon folder, shared with other
// test runs (each uses a sink of its own).
func vmicRuntime() string {
	if v := os.Getenv("VMIC_RUNTIME"); v != "" {
		return v
	}
	return fmt.Sprintf("/tmp/scribe-vmic-%d", os.Getuid())
}

// switchBackend is a microphone backend whose devices can come and go:
// it starts with none (a laptop without a microphone, or one whose
// microphone the OS withholds) and, once plugged in, is PortAudio.
type switchBackend struct {
	mu      sync.Mutex
	plugged capture.Backend // nil: no microphone
}

var _ capture.Backend = (*switchBackend)(nil)

func (b *switchBackend) plugIn(real capture.Backend) {
	b.mu.Lock()
	b.plugged = real
	b.mu.Unlock()
}

func (b *switchBackend) current() capture.Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.plugged
}

func (b *switchBackend) Devices(ctx context.Context) ([]capture.Device, error) {
	if real := b.current(); real != nil {
		return real.Devices(ctx)
	}
	return nil, nil
}

func (b *switchBackend) Open(ctx context.Context, name string, f capture.Format) (capture.Stream, error) {
	if real := b.current(); real != nil {
		return real.Open(ctx, name, f)
	}
	return nil, capture.ErrNoDevice
}

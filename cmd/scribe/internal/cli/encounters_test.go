package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/dsp"
)

func TestRecordingCommandUsage(t *testing.T) {
	u := newUser(t)
	for _, tc := range []struct {
		args []string
		want string // on stderr
	}{
		{[]string{"record", "--duration", "-5s"}, "scribe: --duration must be positive, e.g. 90s or 15m, not -5s"},
		{[]string{"record", "--duration", "ten"}, `scribe: invalid value "ten" for flag -duration`},
		{[]string{"record", "--template", "-1"}, "scribe: --template must be a template's id, not -1"},
		{[]string{"record", "--consent=maybe"}, `scribe: invalid boolean value "maybe" for -consent`},
		{[]string{"record", "now"}, `scribe: unexpected argument "now"`},
		{[]string{"devices", "extra"}, `scribe: unexpected argument "extra"`},
		{[]string{"import"}, "scribe: import needs one audio file"},
		{[]string{"import", "a.wav", "b.wav"}, "scribe: import needs one audio file"},
		{[]string{"import", "a.wav", "--template", "-2"}, "scribe: --template must be a template's id, not -2"},
		{[]string{"import", "a.wav", "--patient", "x"}, `scribe: invalid value "x" for flag -patient`},
		{[]string{"export", "20260122-093012-3fa9c1d2e4b5"}, "scribe: export needs an encounter id and an output file"},
		{[]string{"encounters", "all"}, `scribe: unexpected argument "all"`},
	} {
		r := u.run("", tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, "Usage: scribe "+tc.args[0]) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
	for name, usage := range map[string]string{"devices": devicesUsage, "record": recordUsage, "import": importUsage, "export": exportUsage, "encounters": encountersUsage, "note": noteUsage} {
		if r := u.run("", "help", name).ok(t); r.stdout != usage {
			t.Errorf("help %s printed:\n%s", name, r.stdout)
		}
		if !strings.Contains(mainUsage, "scribe "+name+" ") {
			t.Errorf("the main usage does not list scribe %s", name)
		}
	}
}

// The recording commands work signed out and offline.
func TestEncountersSignedOut(t *testing.T) {
	u := newUser(t)
	r := u.run("", "encounters").ok(t)
	if !strings.HasPrefix(r.stdout, "No encounters on this computer yet.") || r.stderr != "" {
		t.Errorf("encounters on a new profile: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if r := u.run("", "encounters", "--json").ok(t); r.stdout != "[]\n" {
		t.Errorf("encounters --json on a new profile: %q", r.stdout)
	}
	r = u.run("", "export", "nonsense", filepath.Join(t.TempDir(), "x.wav"))
	if r.code != 1 || !strings.Contains(r.stderr, `"nonsense" is not an encounter id`) {
		t.Errorf("export of a bad id: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestClock(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		millis bool
		want   string
	}{
		{0, false, "0:00:00.0"},
		{1999 * time.Millisecond, false, "0:00:01.9"},
		{1999 * time.Millisecond, true, "0:00:01.999"},
		{time.Hour + 2*time.Minute + 3*time.Second + 45*time.Millisecond, true, "1:02:03.045"},
		{-time.Second, true, "0:00:00.000"},
	} {
		if got := clock(tc.d, tc.millis); got != tc.want {
			t.Errorf("clock(%s, %v) = %q, want %q", tc.d, tc.millis, got, tc.want)
		}
	}
}

// A long import shows its progress; a short one says nothing.
func TestImportProgressLines(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, false, "Importing visit.mp3")
	p.update(0.5)
	if b.Len() != 0 {
		t.Errorf("progress within the first second: %q", b.String())
	}
	p.start = time.Now().Add(-2 * progressAfter)
	p.update(0.25)
	p.update(0.26) // too soon after the last line
	p.done()
	if b.String() != "Importing visit.mp3: 25%\n" {
		t.Errorf("progress printed %q", b.String())
	}
	var tty strings.Builder
	p = newProgress(&tty, true, "Importing visit.mp3")
	p.start = time.Now().Add(-2 * progressAfter)
	p.update(1)
	p.done()
	if tty.String() != "\r\033[KImporting visit.mp3: 100%\r\033[K" {
		t.Errorf("terminal progress printed %q", tty.String())
	}
}

func TestRecordStatusLine(t *testing.T) {
	var b strings.Builder
	st := &status{w: &b, rms: dsp.FloorDB}
	st.show(0)
	st.level(dsp.Level{RMS: -30, Peak: -12})
	st.level(dsp.Level{RMS: -24.04, Peak: -15})
	st.show(1234 * time.Millisecond)
	want := "Recording 0:00:00.000  level —\nRecording 0:00:01.234  RMS  -24.0 dBFS  peak  -12.0 dBFS\n"
	if b.String() != want {
		t.Errorf("status lines:\n%q\nwant\n%q", b.String(), want)
	}
	var tty strings.Builder
	st = &status{w: &tty, tty: true, rms: dsp.FloorDB}
	st.show(0)
	st.level(dsp.Level{RMS: -30, Peak: -6})
	st.show(2500 * time.Millisecond)
	st.clear()
	want = "\r\033[KRecording 0:00:00.0  [                    ]  level —" +
		"\r\033[KRecording 0:00:02.5  [##########          ]  RMS  -30.0 dBFS  peak   -6.0 dBFS\r\033[K"
	if tty.String() != want {
		t.Errorf("terminal status:\n%q\nwant\n%q", tty.String(), want)
	}
}

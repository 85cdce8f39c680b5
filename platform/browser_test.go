package platform

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeOpener puts an xdg-open on PATH that records its arguments in a file
// and exits with the given shell snippet's status.
func fakeOpener(t *testing.T, tail string) (record string) {
	t.Helper()
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		t.Skip("the fake opener stands in for xdg-open")
	}
	dir := t.TempDir()
	record = filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + record + "'\n" + tail + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return record
}

func TestOpenURLRunsOpener(t *testing.T) {
	record := fakeOpener(t, "exit 0")
	for _, u := range []string{
		"https://auth.sandbox.local/authorize?client_id=scribe&state=a%20b",
		"http://127.0.0.1:8080/callback",
		"file:///tmp/note.pdf",
	} {
		if err := OpenURL(t.Context(), u); err != nil {
			t.Fatalf("OpenURL(%q): %v", u, err)
		}
		got, err := os.ReadFile(record)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != u+"\n" {
			t.Errorf("opener got %q, want the one argument %q", got, u)
		}
	}
}

func TestOpenURLReportsOpenerFailure(t *testing.T) {
	fakeOpener(t, "echo 'no method available for opening' >&2; exit 3")
	err := OpenURL(t.Context(), "https://example.test/")
	if err == nil || !strings.Contains(err.Error(), "no method available") || !strings.Contains(err.Error(), "https://example.test/") {
		t.Errorf("OpenURL = %v, want the opener's message and the URL to open by hand", err)
	}
}

func TestOpenURLRejectsOtherSchemes(t *testing.T) {
	record := fakeOpener(t, "exit 0")
	for _, u := range []string{
		"", "javascript:alert(1)", "ftp://example.test/x", "mailto:a@example.test",
		"http://", "https:///path", "-version", "example.test", "smb://server/share", "%zz",
	} {
		if err := OpenURL(t.Context(), u); err == nil {
			t.Errorf("OpenURL(%q) succeeded, want an error", u)
		}
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("opener was run for a rejected URL (stat: %v)", err)
	}
}

func TestBrowserCommand(t *testing.T) {
	const u = "https://example.test/"
	for goos, want := range map[string][]string{
		"linux":   {"xdg-open", u},
		"freebsd": {"xdg-open", u},
		"darwin":  {"open", u},
		"windows": {"rundll32", "url.dll,FileProtocolHandler", u},
	} {
		name, args := browserCommand(goos, u)
		got := append([]string{name}, args...)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %q, want %q", goos, got, want)
		}
	}
}
